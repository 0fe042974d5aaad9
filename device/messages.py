"""What the screen says, in Chinese and English."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Text:
    """One message in both languages."""

    zh: str
    en: str


DISPENSED = Text("请取纸", "Please take your paper")

REFUSALS: dict[str, Text] = {
    "already_used": Text("此码已使用过", "This code has already been used"),
    "expired": Text(
        "此码已过期，请在手机上点“换新码”", "This code has expired: tap “new code” on your phone"
    ),
    "not_yet_valid": Text(
        "此码暂不可用，请稍后再试", "This code is not valid yet: try again shortly"
    ),
    "wrong_dispenser": Text("此码属于另一台取纸机", "This code is for another dispenser"),
    "bad_signature": Text("无法识别此码", "This code is not valid"),
    "unknown_key": Text("此码无法验证，请换新码", "This code cannot be checked: get a new one"),
    "malformed": Text("无法识别此码", "This is not a paper code"),
    "not_a_token": Text(
        "这不是取纸码，请打开取纸页面", "This is not a paper code: open the paper page"
    ),
    "code_format": Text("请输入6位以上数字", "Please type the 6 or more digits"),
    "code_invalid": Text("代码无效或已过期", "This code is wrong, used or expired"),
    "too_many_attempts": Text("尝试次数过多，请稍候", "Too many tries: please wait"),
    "offline": Text(
        "网络暂不可用，无法核对输入的代码。请出示手机上的二维码",
        "The network is down, so typed codes cannot be checked. Show the QR code instead",
    ),
    "window": Text("您刚刚取过纸", "You had paper a moment ago"),
    "too_soon": Text("请稍候再取", "Please wait a moment"),
    "disabled": Text("本机暂停服务", "This dispenser is out of service"),
    "empty": Text("纸已用完，已通知工作人员", "Out of paper: staff have been told"),
    "jam": Text("出纸故障，已通知工作人员", "Paper jam: staff have been told"),
    "not_enrolled": Text("本机尚未启用", "This dispenser is not set up yet"),
    "face_unavailable": Text(
        "人脸识别不可用，请用手机", "Face check unavailable: please use your phone"
    ),
}

# What to do next, under each refusal's title (the title stays short for the large text).
NEXT_STEPS: dict[str, Text] = {
    "already_used": Text(
        "您的手机会显示下一份的时间", "Your phone shows when your next portion is due"
    ),
    "expired": Text(
        "在手机上点“换新码”，再出示", "Tap “new code” on your phone, then show it again"
    ),
    "not_yet_valid": Text("请稍后再出示", "Show it again in a moment"),
    "wrong_dispenser": Text(
        "请到那台取纸机出示，或扫描本机贴纸取码",
        "Show it there, or scan this one's sticker for a code",
    ),
    "bad_signature": Text(
        "请扫描本机贴纸，重新取码", "Scan this dispenser's sticker for a new code"
    ),
    "unknown_key": Text("请扫描本机贴纸，重新取码", "Scan this dispenser's sticker for a new code"),
    "malformed": Text(
        "请扫描本机贴纸，打开取纸页面", "Scan this dispenser's sticker to open the paper page"
    ),
    "not_a_token": Text(
        "请扫描本机贴纸，打开取纸页面", "Scan this dispenser's sticker to open the paper page"
    ),
    "code_format": Text("按“清除”后重新输入", "Press Clear and type it again"),
    "code_invalid": Text(
        "请核对数字，或在手机上换新码", "Check the digits, or get a new code on your phone"
    ),
    "too_many_attempts": Text(
        "请稍候，或出示手机上的二维码", "Wait a little, or show the QR code on your phone"
    ),
    "offline": Text("或向工作人员求助", "Or ask the staff"),
    "window": Text("急需用纸请找工作人员", "Need more? Ask the staff for a voucher"),
    "too_soon": Text("请稍候几秒再试", "Wait a few seconds, then try again"),
    "disabled": Text(
        "请使用其他取纸机，或找工作人员", "Please use another dispenser or ask the staff"
    ),
    "empty": Text("请使用其他取纸机", "Please use another dispenser"),
    "jam": Text("请使用其他取纸机", "Please use another dispenser"),
    "not_enrolled": Text(
        "请使用其他取纸机，或找工作人员", "Please use another dispenser or ask the staff"
    ),
    "face_unavailable": Text("请用手机或取纸券", "Please use your phone or a voucher"),
}

IDLE = Text(
    "扫描贴纸上的二维码，打开取纸页面，再把手机上的二维码对准摄像头",
    "Scan the sticker with your phone, open the paper page, then hold its QR code to the camera",
)
IDLE_PRESENCE = Text(
    "用手机扫描屏幕上的二维码，再把手机上的二维码对准摄像头",
    "Scan the code on this screen with your phone, then hold your phone's QR code to the camera",
)
UNRESTRICTED = Text("请按按钮取纸", "Press the button for paper")
TYPING = Text(
    "请输入手机或取纸券上的代码，再按“确定”",
    "Type the code from your phone or your voucher, then press OK",
)
ALREADY_GIVEN = Text("已出纸，请取纸", "Already given: take your paper")
ALREADY_GIVEN_NEXT = Text(
    "此码已用过。手机上会显示下一份的时间",
    "This code is used: your phone shows when the next portion is due",
)
CHECKING = Text("正在核对…", "Checking…")
HELP_TITLE = Text("帮助", "Help")
HELP = Text(
    "没有手机？请向工作人员索取纸质取纸码，在键盘上输入。急需更多纸？请联系工作人员。"
    "本机不拍照、不存储人脸；二维码只在本机核对。",
    "No phone? Ask staff for a printed voucher code and type it here. Need more paper? "
    "Ask staff. This dispenser keeps no photos; QR codes are checked inside it.",
)
OFFLINE_NOTE = Text(
    "离线：二维码仍可用，输入代码暂不可用", "Offline: QR codes work, typed codes do not"
)
FACE_CONSENT_TITLE = Text("刷脸前请阅读", "Before the face check, please read")
FACE_LOOK = Text("请看摄像头", "Please look at the camera")


def refusal_text(reason: str) -> Text:
    """The visitor-facing text for a refusal reason."""
    return REFUSALS.get(reason, Text("无法取纸", "No paper this time"))


def next_step(reason: str) -> Text:
    """What the visitor can do after a refusal (every refusal names one)."""
    return NEXT_STEPS.get(reason, Text("请找工作人员", "Please ask the staff"))


def retry_note(retry_at: datetime | None, now: datetime) -> Text | None:
    """'Available again in N min' for refusals with a known retry time."""
    if retry_at is None or retry_at <= now:
        return None
    seconds = int((retry_at - now).total_seconds())
    if seconds < 90:
        return Text(f"{seconds} 秒后可再取", f"Available again in {seconds} s")
    minutes = (seconds + 59) // 60
    return Text(f"{minutes} 分钟后可再取", f"Available again in {minutes} min")
