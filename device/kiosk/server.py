"""The kiosk page server: a small standard-library HTTP server on 127.0.0.1.

The dispenser's browser (kiosk mode) shows ``/``; the page long-polls ``/api/state``
and posts the visitor's presses to ``/api/input``. In simulation, ``/api/sim/hold``
puts a QR payload or an image in front of the simulated camera, and ``/api/sim/play``
a short filmed scene (a visitor turning their head for a face scan).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import threading
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np
import segno

from device.hardware.camera import SimulatedCamera
from device.hardware.inputs import BUTTONS, KEYPAD_KEYS, InputEvent, InputQueue
from device.hardware.screen import KioskDisplay

log = logging.getLogger("device.kiosk")

STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
STATIC_FILES = {"/": "page.html", "/kiosk.js": "kiosk.js", "/kiosk.css": "kiosk.css"}
MAX_BODY = 4 * 1024 * 1024  # a phone screenshot, or a short scene, for the simulated camera
MAX_SCENE_FRAMES = 90  # 3 s at 30 fps: a face scan lasts at most 2 s
SIM_FACE_FPS = 30.0
SIM_FACE_SECONDS = 30.0  # long enough to press "use face" and agree
LONG_POLL_SECONDS = 10.0
MAX_PAYLOAD = 1000  # characters of pasted QR text for the simulated camera


def _static(name: str) -> bytes:
    return resources.files("device.kiosk").joinpath("static", name).read_bytes()


def presence_svg(url: str) -> bytes:
    """An SVG QR code of ``url``; always a full QR symbol (never Micro QR)."""
    symbol = segno.make_qr(url, error="m")
    buffer = io.BytesIO()
    symbol.save(buffer, kind="svg", scale=8, border=4, dark="#000", light="#fff")
    return buffer.getvalue()


class KioskServer:
    """Serves the kiosk page for one display and input queue."""

    def __init__(
        self,
        display: KioskDisplay,
        inputs: InputQueue,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        sim_camera: SimulatedCamera | None = None,
        sim_visitor: Callable[[], dict[str, Any]] | None = None,
        sim_face: Callable[[], Sequence[np.ndarray]] | None = None,
    ) -> None:
        self.display = display
        self.inputs = inputs
        self.sim_camera = sim_camera
        self.sim_visitor = sim_visitor
        self.sim_face = sim_face
        handler = type("Handler", (_Handler,), {"kiosk": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where the page is served."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kiosk", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


# The consent screens' buttons (only the kiosk page has them).
CONSENT_BUTTONS = {
    "consent_yes": InputEvent("consent", "yes"),
    "consent_no": InputEvent("consent", "no"),
    "more_privacy": InputEvent("button", "more_privacy"),
}


def loads(raw: bytes) -> Any:
    """Parse a posted JSON body; too-deep nesting is a ValueError like any other bad JSON."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def parse_input(body: Any, *, simulation: bool) -> InputEvent:
    """Validate an input posted by the page; raises ValueError with a clear message."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    kind, value = body.get("kind"), body.get("value")
    if not isinstance(kind, str) or not isinstance(value, str):
        raise ValueError("kind and value must be text")
    if kind == "button" and value in (*BUTTONS, *CONSENT_BUTTONS):
        if value in CONSENT_BUTTONS:
            return CONSENT_BUTTONS[value]
        return InputEvent(kind, value)
    if kind == "key" and value in KEYPAD_KEYS:
        return InputEvent(kind, value)
    if kind == "code" and value.isdigit() and len(value) <= 12:
        return InputEvent(kind, value)
    if kind == "consent" and value in ("yes", "no"):
        return InputEvent(kind, value)
    if kind == "service" and simulation and value in ("refill", "clear_jam"):
        return InputEvent(kind, value)
    raise ValueError(f"unsupported input {kind!r}")


class _Handler(BaseHTTPRequestHandler):
    kiosk: KioskServer
    server_version = "fairroll-kiosk"

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines only, at debug level; bodies (typed codes) are never logged.
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The page reloaded or closed during a long poll: nothing to answer.
            self.close_connection = True

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(
            status,
            {
                "error": {
                    "code": HTTPStatus(status).phrase.lower().replace(" ", "_"),
                    "message": message,
                }
            },
        )

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path in STATIC_FILES:
            name = STATIC_FILES[parts.path]
            suffix = name[name.rfind(".") :]
            self._send(200, _static(name), STATIC_TYPES[suffix] + "; charset=utf-8")
        elif parts.path == "/api/state":
            self._state(parse_qs(parts.query))
        elif parts.path == "/presence.svg":
            url = self.kiosk.display.current().presence_url
            if url is None:
                self._error(404, "this site does not require presence")
            else:
                self._send(200, presence_svg(url), "image/svg+xml")
        else:
            self._error(404, "no such page")

    def _state(self, query: dict[str, list[str]]) -> None:
        try:
            since = int(query.get("since", ["-1"])[0])
            if not -1 <= since <= 2**31:
                raise ValueError
        except ValueError:
            self._error(400, "since must be a number")
            return
        timeout = LONG_POLL_SECONDS if since >= 0 else 0.0
        version, view = self.kiosk.display.wait_change(since, timeout)
        self._json(200, {"version": version, "view": view.to_json()})

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length > MAX_BODY:
            self.close_connection = True  # the unread body must not be taken for a request
            self._error(413, f"a body has at most {MAX_BODY} bytes")
            return None
        if length <= 0:
            self._error(400, f"a body of 1 to {MAX_BODY} bytes is required")
            return None
        return self.rfile.read(length)

    def _same_origin(self) -> bool:
        # The page is the only legitimate client; refuse posts from other sites' pages.
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        return origin is None or origin in (f"http://{host}", "null")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if not self._same_origin():
            self._error(403, "cross-origin requests are refused")
            return
        if path == "/api/sim/visitor":
            self._sim_visitor()  # no body: the simulated visitor asks the backend itself
            return
        if path == "/api/sim/face":
            self._sim_face()  # no body: the scene is the bundled head turn
            return
        body = self._read_body()
        if body is None:
            return
        if path == "/api/input":
            self._input(body)
        elif path == "/api/sim/hold":
            self._sim_hold(body)
        elif path == "/api/sim/play":
            self._sim_play(body)
        else:
            self._error(404, "no such endpoint")

    def _input(self, raw: bytes) -> None:
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._error(415, "send application/json")
            return
        try:
            event = parse_input(loads(raw), simulation=self.kiosk.sim_camera is not None)
        except ValueError as exc:
            self._error(400, str(exc))
            return
        if not self.kiosk.inputs.put(event):
            self._error(503, "busy, try again")
            return
        self._json(202, {"accepted": True})

    def _sim_visitor(self) -> None:
        camera, visitor = self.kiosk.sim_camera, self.kiosk.sim_visitor
        if camera is None or visitor is None:
            self._error(404, "only a simulated dispenser has a simulated visitor")
            return
        try:
            issued = visitor()
        except Exception as exc:  # the backend's refusal is shown to the person testing
            self._error(502, f"the backend gave no token: {exc}")
            return
        camera.hold_payload(str(issued["token"]))
        self._json(201, {"code": issued.get("code"), "expires_at": issued.get("expires_at")})

    def _sim_face(self) -> None:
        """A simulated visitor turns their head before the camera for a while."""
        camera, face = self.kiosk.sim_camera, self.kiosk.sim_face
        if camera is None or face is None:
            self._error(404, "face mode is not available on this simulated dispenser")
            return
        try:
            scene = face()
        except Exception as exc:  # a missing sample photo is shown to the person testing
            self._error(503, f"no head-turn scene: {exc}")
            return
        camera.play(scene, SIM_FACE_FPS, loop_seconds=SIM_FACE_SECONDS)
        self._json(202, {"playing": len(scene), "seconds": SIM_FACE_SECONDS})

    def _sim_hold(self, raw: bytes) -> None:
        camera = self.kiosk.sim_camera
        if camera is None:
            self._error(404, "only a simulated dispenser has a simulated camera")
            return
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            try:
                payload = loads(raw)["payload"]
                if not isinstance(payload, str) or not payload.strip():
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                self._error(400, 'send {"payload": "<QR text>"}')
                return
            if len(payload) > MAX_PAYLOAD:
                self._error(
                    400,
                    f"that text has {len(payload)} characters; a QR code holds at most "
                    f"{MAX_PAYLOAD} here (a paper token has about 150)",
                )
                return
            camera.hold_payload(payload.strip())
        else:
            # Any file: an image decodes, anything else is named as not an image.
            image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                self._error(400, "that file is not an image (use a PNG or JPEG screenshot)")
                return
            camera.hold_image(image, seconds=SIM_FACE_SECONDS)  # time to try face mode with it
        self._json(202, {"held": True})

    def _sim_play(self, raw: bytes) -> None:
        camera = self.kiosk.sim_camera
        if camera is None:
            self._error(404, "only a simulated dispenser has a simulated camera")
            return
        try:
            frames, fps = parse_scene(loads(raw))
        except ValueError as exc:
            self._error(400, str(exc))
            return
        camera.play(frames, fps)
        self._json(202, {"playing": len(frames)})


def parse_scene(body: Any) -> tuple[list[np.ndarray], float]:
    """A filmed scene for the simulated camera: base64 JPEG/PNG frames and a frame rate."""
    if not isinstance(body, dict) or not isinstance(body.get("frames"), list):
        raise ValueError('send {"frames": ["<base64 JPEG or PNG>", ...], "fps": 30}')
    encoded, fps = body["frames"], body.get("fps", 30)
    if not 1 <= len(encoded) <= MAX_SCENE_FRAMES:
        raise ValueError(f"a scene has 1 to {MAX_SCENE_FRAMES} frames")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 1 <= fps <= 60:
        raise ValueError("fps must be a number from 1 to 60")
    frames = []
    for number, text in enumerate(encoded):
        try:
            data = base64.b64decode(str(text), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"frame {number} is not base64") from exc
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"frame {number} is not an image")
        frames.append(image)
    return frames, float(fps)
