"""The decision core: what to do with a scan, a typed code or a face verdict. No I/O.

``decide`` holds every branch of the dispenser's rules. It reads the local ledger only
through a ``Container`` of spent token references and gets the time as ``now``; the
loop in ``device.runtime`` performs whatever it returns.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime, timedelta

from device.face.types import FaceVerdict, Outcome
from device.remote import RemoteConfig
from protocol.token import (
    DEFAULT_CLOCK_SKEW,
    TOKEN_TEXT_LENGTH,
    TokenError,
    parse_token,
    verify_token,
)

MIN_CODE_DIGITS = 6
MAX_CODE_DIGITS = 12
_TOKEN_IN_TEXT = re.compile(rf"(?<![0-9])[0-9]{{{TOKEN_TEXT_LENGTH}}}(?![0-9])")


# --- what happened -------------------------------------------------------------------


@dataclass(frozen=True)
class QrScan:
    """A QR code was read from the camera."""

    payload: str


@dataclass(frozen=True)
class TypedCode:
    """The visitor typed a code on the keypad."""

    code: str


@dataclass(frozen=True)
class CodeAnswer:
    """The backend's answer to a typed code (``status``: token, voucher, invalid,
    throttled or offline)."""

    status: str
    ref: str | None = None
    expires_at: datetime | None = None
    retry_after_seconds: int = 0


@dataclass(frozen=True)
class DispensePress:
    """The visitor asked for paper at an unrestricted (accessible) dispenser."""


# A face scan arrives as the checker's own ``FaceVerdict`` (device/face/types.py).
Attempt = QrScan | TypedCode | CodeAnswer | FaceVerdict | DispensePress


# --- what to do ----------------------------------------------------------------------


@dataclass(frozen=True)
class Dispense:
    """Commit the event (and spend the token), then turn the motor."""

    method: str
    token_ref: str | None = None
    token_expires_at: datetime | None = None


@dataclass(frozen=True)
class Refuse:
    """Show ``reason`` to the visitor and count the refusal."""

    method: str
    reason: str
    token_ref: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True)
class AskBackend:
    """Send the typed code to the backend, then decide again on its ``CodeAnswer``."""

    code: str


@dataclass(frozen=True)
class Ignore:
    """Nothing to do (for example a dispense press at a rationed dispenser)."""


Decision = Dispense | Refuse | AskBackend | Ignore


@dataclass(frozen=True)
class Situation:
    """Everything besides the attempt that the rules look at."""

    remote: RemoteConfig | None
    spent: Container[str]
    now: datetime
    online: bool = True
    paper_empty: bool = False
    jammed: bool = False
    last_dispense_at: datetime | None = None
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW


def extract_token(payload: str) -> str | None:
    """Find the token text in a QR payload: the whole payload or one 99-digit run."""
    text = payload.strip()
    if len(text) == TOKEN_TEXT_LENGTH:
        return text
    matches = _TOKEN_IN_TEXT.findall(text)
    return matches[0] if len(matches) == 1 else None


def _method_of(attempt: Attempt) -> str:
    if isinstance(attempt, QrScan):
        return "qr"
    if isinstance(attempt, FaceVerdict):
        return "face"
    if isinstance(attempt, DispensePress):
        return "unrestricted"
    return "code"


def _blocked(attempt: Attempt, situation: Situation) -> Refuse | None:
    """The refusals that apply whatever the visitor shows."""
    method = _method_of(attempt)
    remote = situation.remote
    if remote is None:
        return Refuse(method, "not_enrolled")
    if not remote.enabled:
        return Refuse(method, "disabled")
    if situation.jammed:
        return Refuse(method, "jam")
    if situation.paper_empty:
        return Refuse(method, "empty")
    interval = timedelta(seconds=remote.policy.min_interval_seconds)
    last = situation.last_dispense_at
    if interval and last is not None and situation.now < last + interval:
        return Refuse(method, "too_soon", retry_at=last + interval)
    return None


def decide(attempt: Attempt, situation: Situation) -> Decision:
    """Decide what the dispenser does about ``attempt``."""
    if isinstance(attempt, DispensePress):
        remote = situation.remote
        if remote is None or not remote.policy.unrestricted:
            return Ignore()
    if isinstance(attempt, FaceVerdict) and attempt.outcome is Outcome.NO_FACE:
        return Ignore()  # nothing was decided (no face, a photo, too dark): nothing counted
    blocked = _blocked(attempt, situation)
    if blocked is not None:
        return blocked
    if isinstance(attempt, QrScan):
        return _decide_qr(attempt, situation)
    if isinstance(attempt, TypedCode):
        return _decide_typed(attempt, situation)
    if isinstance(attempt, CodeAnswer):
        return _decide_answer(attempt, situation)
    if isinstance(attempt, FaceVerdict):
        if attempt.outcome is Outcome.REFUSE:
            return Refuse("face", "window", retry_at=attempt.available_at)
        return Dispense("face")
    return Dispense("unrestricted")


def _decide_qr(scan: QrScan, situation: Situation) -> Decision:
    assert situation.remote is not None  # checked by _blocked
    token = extract_token(scan.payload)
    if token is None:
        return Refuse("qr", "not_a_token")
    try:
        claims = verify_token(
            token,
            situation.remote.token_keys,
            dispenser_id=situation.remote.dispenser_id_bytes,
            now=situation.now,
            clock_skew=situation.clock_skew,
        )
    except TokenError as exc:
        return Refuse("qr", exc.reason, token_ref=_genuine_ref(token, exc))
    ref = claims.token_ref()
    if ref in situation.spent:
        return Refuse("qr", "already_used", token_ref=ref)
    return Dispense("qr", token_ref=ref, token_expires_at=claims.expires_at + situation.clock_skew)


# Refusals of a token whose signature held: its reference is reported, so the phone that
# holds it can say why (for example "this code is for another dispenser").
_GENUINE_REFUSALS = frozenset({"wrong_dispenser", "expired", "not_yet_valid"})


def _genuine_ref(token: str, error: TokenError) -> str | None:
    """The token's reference when the refusal came after its signature was verified."""
    if error.reason not in _GENUINE_REFUSALS:
        return None  # unreadable, unknown key or forged: nothing to name
    return parse_token(token)[0].token_ref()


def _decide_typed(typed: TypedCode, situation: Situation) -> Decision:
    code = typed.code.strip().replace(" ", "").replace("-", "")
    if not code.isdigit() or not MIN_CODE_DIGITS <= len(code) <= MAX_CODE_DIGITS:
        return Refuse("code", "code_format")
    if not situation.online:
        return Refuse("code", "offline")
    return AskBackend(code)


def _decide_answer(answer: CodeAnswer, situation: Situation) -> Decision:
    if answer.status == "token" and answer.ref:
        if answer.ref in situation.spent:
            # Shown as a QR while offline, then typed: the portion was already given.
            return Refuse("code", "already_used", token_ref=answer.ref)
        return Dispense("code", token_ref=answer.ref, token_expires_at=answer.expires_at)
    if answer.status == "voucher" and answer.ref:
        return Dispense("voucher")
    if answer.status == "throttled":
        retry = situation.now + timedelta(seconds=max(1, answer.retry_after_seconds))
        return Refuse("code", "too_many_attempts", retry_at=retry)
    if answer.status == "offline":
        return Refuse("code", "offline")
    return Refuse("code", "code_invalid")
