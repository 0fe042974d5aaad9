"""Typed codes: ask the backend, and turn its answer into a ``CodeAnswer`` for ``decide``."""

from __future__ import annotations

from device.api import ApiError, DeviceApi, Offline, parse_time
from device.decide import CodeAnswer


def check_code(api: DeviceApi | None, code: str) -> CodeAnswer:
    """Check a typed code online; never raises (no backend link means offline)."""
    if api is None:
        return CodeAnswer("offline")
    try:
        body = api.verify_code(code)
    except Offline:
        return CodeAnswer("offline")
    except ApiError as exc:
        if exc.status == 429:
            return CodeAnswer("throttled", retry_after_seconds=exc.retry_after)
        return CodeAnswer("invalid")
    kind = body.get("kind")
    if kind == "token":
        return CodeAnswer(
            "token",
            ref=str(body.get("token_ref")),
            expires_at=parse_time(body.get("expires_at")),
        )
    if kind == "voucher":
        ref = body.get("voucher_ref") or body.get("token_ref")
        return CodeAnswer("voucher", ref=str(ref) if ref else None)
    return CodeAnswer("invalid")
