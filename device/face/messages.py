"""Plain-words messages (English, zh-CN) for each face decision reason."""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import math
from datetime import datetime

from device.face.types import FaceVerdict, Outcome, Reason

_OTHER_WAYS_EN = "Or use the phone code or a voucher."
_OTHER_WAYS_ZH = "也可以使用手机取纸码或纸券。"

# reason: (headline en, advice en, headline zh, advice zh). The kiosk shows the short
# headline large and the advice below it; both fit the smallest kiosk screen.
_TEXTS: dict[Reason, tuple[str, str, str, str]] = {
    Reason.NEW_FACE: ("Here is your paper", "", "请取纸", ""),
    Reason.SEEN_IN_WINDOW: ("You had paper recently", "", "您刚刚取过纸", ""),
    Reason.NO_FRAMES: (
        "No camera picture",
        "Please use the phone code or a voucher.",
        "摄像头没有画面",
        "请使用手机取纸码或纸券。",
    ),
    Reason.NO_FACE: (
        "No face seen",
        "Look straight at the camera and try again. " + _OTHER_WAYS_EN,
        "没有看到面部",
        "请正对摄像头再试一次。" + _OTHER_WAYS_ZH,
    ),
    Reason.TOO_DARK: (
        "Too dark to see a face",
        "Face the light and try again. " + _OTHER_WAYS_EN,
        "光线太暗",
        "请面向光线再试一次。" + _OTHER_WAYS_ZH,
    ),
    Reason.TOO_FAR: (
        "Please come closer",
        "Stand about an arm's length from the camera and try again. " + _OTHER_WAYS_EN,
        "请靠近一些",
        "请站在离摄像头约一臂远处再试一次。" + _OTHER_WAYS_ZH,
    ),
    Reason.SEVERAL_FACES: (
        "One person at a time",
        "More than one face is in view. Try again alone. " + _OTHER_WAYS_EN,
        "请一次一人",
        "画面中有多张面孔，请单独再试。" + _OTHER_WAYS_ZH,
    ),
    Reason.NOT_LIVE: (
        "A photo cannot be used",
        "Look at the camera, turn your head slightly and try again. " + _OTHER_WAYS_EN,
        "照片不能用于刷脸",
        "请看向摄像头，轻轻转动头部后再试。" + _OTHER_WAYS_ZH,
    ),
    Reason.UNAVAILABLE: (
        "Face check not working",
        "Please use the phone code or a voucher.",
        "刷脸暂不可用",
        "请使用手机取纸码或纸券。",
    ),
}


def headline(reason: Reason) -> tuple[str, str]:
    """The short (English, zh-CN) headline for a reason, shown large on the kiosk."""
    title_en, _, title_zh, _ = _TEXTS[reason]
    return title_en, title_zh


def message(reason: Reason) -> tuple[str, str]:
    """The (English, zh-CN) advice for a reason other than a refusal."""
    _, advice_en, _, advice_zh = _TEXTS[reason]
    return advice_en, advice_zh


def refusal_message(available_again_at: datetime, now: datetime) -> tuple[str, str]:
    """The (English, zh-CN) message for a face already served in this window."""
    minutes = max(1, math.ceil((available_again_at - now).total_seconds() / 60))
    unit_en = "minute" if minutes == 1 else "minutes"
    return (
        f"You have already had paper recently. Paper is available to you again in "
        f"{minutes} {unit_en}.",
        f"您刚刚已经取过纸。请 {minutes} 分钟后再来。",
    )


def unusable(reason: Reason) -> FaceVerdict:
    """The verdict for a scan that decided nothing (no face, too dark, a photo, ...)."""
    english, chinese = message(reason)
    return FaceVerdict(Outcome.NO_FACE, reason, english, chinese)
