"""Plain-words messages (English, zh-CN) for each face decision reason."""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import math
from datetime import datetime

from device.face.types import FaceVerdict, Outcome, Reason

_OTHER_WAYS_EN = "You can also use the phone code or a voucher."
_OTHER_WAYS_ZH = "您也可以使用手机取纸码或纸券。"

_TEXTS: dict[Reason, tuple[str, str]] = {
    Reason.NEW_FACE: ("Here is your paper.", "请取纸。"),
    Reason.NO_FRAMES: (
        "The camera gave no picture. Please use the phone code or a voucher.",
        "摄像头没有画面，请使用手机取纸码或纸券。",
    ),
    Reason.NO_FACE: (
        "No face could be seen. Look straight at the camera and try again. " + _OTHER_WAYS_EN,
        "没有看到面部，请正对摄像头再试一次。" + _OTHER_WAYS_ZH,
    ),
    Reason.TOO_DARK: (
        "It is too dark to see your face. " + _OTHER_WAYS_EN,
        "光线太暗，看不清面部。" + _OTHER_WAYS_ZH,
    ),
    Reason.TOO_FAR: (
        "Your face is too far from the camera. Come closer (about an arm's length) and "
        "try again. " + _OTHER_WAYS_EN,
        "您离摄像头太远了，请靠近到约一臂距离再试一次。" + _OTHER_WAYS_ZH,
    ),
    Reason.SEVERAL_FACES: (
        "More than one face is in view. One person at a time, please. " + _OTHER_WAYS_EN,
        "画面中有多张面孔，请一次一人。" + _OTHER_WAYS_ZH,
    ),
    Reason.NOT_LIVE: (
        "We could not see a live face (a photo is not accepted). Look at the camera, "
        "turn your head slightly and try again. " + _OTHER_WAYS_EN,
        "未能确认是真人面部（照片无效）。请看向摄像头并轻轻转动头部后再试。" + _OTHER_WAYS_ZH,
    ),
    Reason.UNAVAILABLE: (
        "The face check is not working right now. Please use the phone code or a voucher.",
        "刷脸暂不可用，请使用手机取纸码或纸券。",
    ),
}


def message(reason: Reason) -> tuple[str, str]:
    """The (English, zh-CN) message for a reason other than a refusal."""
    return _TEXTS[reason]


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
