"""The dispenser's display: the kiosk web page, or log lines on a test bench."""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("device.screen")


@dataclass(frozen=True)
class ScreenView:
    """Everything the screen shows at one moment (never a token, a code or a face)."""

    mode: str = "idle"  # idle | typing | checking | consent | privacy | face | help | result
    title_zh: str = ""
    title_en: str = ""
    detail_zh: str = ""
    detail_en: str = ""
    outcome: str = ""  # dispense | refuse, in mode "result"
    buttons: tuple[str, ...] = ()
    presence_url: str | None = None
    online: bool = False
    enrolled: bool = False
    paper_level: int = 100
    status: str = "ok"
    typed_digits: int = 0
    site_name: str = ""
    simulation: bool = False
    attempt: int = 0  # increases with every result, so the page can tell results apart

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the kiosk page."""
        data = dataclasses.asdict(self)
        data["buttons"] = list(self.buttons)
        return data


class Display(Protocol):
    """Shows a ScreenView; ``show`` must return at once (the page polls for it)."""

    def show(self, view: ScreenView) -> None: ...

    def current(self) -> ScreenView: ...


@dataclass
class KioskDisplay:
    """Holds the current view for the kiosk web server; waiters wake on every change."""

    _view: ScreenView = field(default_factory=ScreenView)
    _version: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def show(self, view: ScreenView) -> None:
        """Replace the view and wake long-polling pages."""
        with self._changed:
            if view != self._view:
                self._view = view
                self._version += 1
                self._changed.notify_all()

    def current(self) -> ScreenView:
        """The view now."""
        with self._changed:
            return self._view

    def wait_change(self, since: int, timeout: float) -> tuple[int, ScreenView]:
        """Wait until the version differs from ``since`` (or timeout); return it and the view."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != since, timeout=timeout)
            return self._version, self._view


class ConsoleDisplay:
    """Writes each new screen as a log line (for benches without a screen)."""

    def __init__(self) -> None:
        self._view = ScreenView()

    def show(self, view: ScreenView) -> None:
        """Log the view if it changed."""
        if view != self._view:
            self._view = view
            log.info("screen: %s | %s | %s", view.mode, view.title_en, view.detail_en)

    def current(self) -> ScreenView:
        """The view now."""
        return self._view
