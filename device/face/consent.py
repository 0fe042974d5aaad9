"""The consent screen for face mode, in zh-CN and English, as data for the kiosk.

The kiosk shows this screen after the visitor presses "use face" and before any
frame is processed for a face. The two choices (scan my face / use the phone or a
code) must be drawn with equal prominence: same size, colour weight and position
rank; `Choice.prominence` says so explicitly so the kiosk cannot get it wrong.
"""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import math
from dataclasses import dataclass

from device.messages import Text

# Bump when the wording changes, so an operator can tell which text visitors saw.
CONSENT_VERSION = "2026-11-1"

LANGUAGES = ("zh-CN", "en")


@dataclass(frozen=True)
class Choice:
    """One button on the consent screen."""

    action: str  # "face" | "phone_or_code" | "cancel"
    label: str
    prominence: str  # "primary" for both real choices; "secondary" for cancel


@dataclass(frozen=True)
class ConsentScreen:
    """Everything the kiosk shows on the consent screen in one language."""

    language: str
    version: str
    title: str
    paragraphs: tuple[str, ...]
    choices: tuple[Choice, ...]


def window_words(window_seconds: int, language: str) -> str:
    """The window as plain words ("9 minutes" / "9 分钟")."""
    if window_seconds < 60:
        return f"{window_seconds} 秒" if language == "zh-CN" else f"{window_seconds} seconds"
    minutes = math.ceil(window_seconds / 60)
    if language == "zh-CN":
        return f"{minutes} 分钟"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def consent_screen(window_seconds: int, language: str, contact: str = "") -> ConsentScreen:
    """The consent screen for a site whose face window is `window_seconds`.

    `contact` is the site operator's contact (phone or address) shown at the end.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    if window_seconds <= 0:
        raise ValueError("window_seconds must be positive")
    window = window_words(window_seconds, language)
    build = _zh if language == "zh-CN" else _en
    return build(window, contact)


def instruction(language: str) -> str:
    """The line shown while the camera takes its short burst of pictures."""
    if language == "zh-CN":
        return "请看向摄像头，并轻轻转动一下头部（约 2 秒）。"
    return "Look at the camera and turn your head slightly (about 2 seconds)."


def _en(window: str, contact: str) -> ConsentScreen:
    paragraphs: tuple[str, ...] = (
        "Purpose: to give each person one portion of paper per "
        f"{window}. Your face is compared only with faces seen by this dispenser "
        f"in the last {window}.",
        "How: the camera takes a few pictures for about 2 seconds. Everything happens "
        "inside this dispenser. The pictures are deleted at once, as soon as a numeric "
        "face template (not a picture) has been made from them.",
        f"What is kept and for how long: only that template, only in this dispenser's "
        f"memory, for {window} at most. It is then erased, and also whenever the "
        "dispenser restarts. It is never written to disk, never sent over the network "
        "and never shared. The operator receives only counts (how many portions were "
        "given by face).",
        "Children under 14: please do not use your face. Use a phone or ask staff for "
        "a paper voucher instead.",
        "You do not have to use your face. The phone code and the voucher give paper in "
        "exactly the same way. If you choose Cancel, nothing is processed.",
    )
    if contact:
        paragraphs += (f"Questions or complaints: {contact}.",)
    choices = (
        Choice("face", "I agree: scan my face", "primary"),
        Choice("phone_or_code", "Use my phone or a code instead", "primary"),
        Choice("cancel", "Cancel", "secondary"),
    )
    return ConsentScreen("en", CONSENT_VERSION, "Use your face to get paper?", paragraphs, choices)


def _zh(window: str, contact: str) -> ConsentScreen:
    paragraphs: tuple[str, ...] = (
        f"目的：保证每人每 {window} 只取一份纸。您的面部只与本机在最近 {window} 内见过的面部比对。",
        "方式：摄像头拍摄约 2 秒的几张画面，全部处理都在本机内部完成。"
        "画面在生成一个数字化面部特征值（不是照片）后立即删除。",
        f"保存什么、保存多久：只保存这个特征值，只存在本机内存中，最长 {window}，"
        "到期即删除，本机重启时也全部删除。它不会写入存储、不会通过网络发送、"
        "不会提供给任何人。运营方只收到数量统计（刷脸取纸的次数）。",
        "未满 14 周岁的儿童请不要刷脸，请使用手机取纸码或向工作人员领取纸券。",
        "刷脸不是必须的。使用手机取纸码或纸券，取纸效果完全相同。选择“取消”则不做任何处理。",
    )
    if contact:
        paragraphs += (f"咨询或投诉：{contact}。",)
    choices = (
        Choice("face", "我同意，刷脸取纸", "primary"),
        Choice("phone_or_code", "改用手机或取纸码", "primary"),
        Choice("cancel", "取消", "secondary"),
    )
    return ConsentScreen("zh-CN", CONSENT_VERSION, "使用刷脸取纸？", paragraphs, choices)


def consent_texts(window_seconds: int) -> tuple[Text, Text]:
    """The consent screen's title and body in both languages, for the kiosk."""
    screens = {language: consent_screen(window_seconds, language) for language in LANGUAGES}
    zh, en = screens["zh-CN"], screens["en"]
    body_zh = "".join((*zh.paragraphs, instruction("zh-CN")))
    body_en = " ".join((*en.paragraphs, instruction("en")))
    return Text(zh.title, en.title), Text(body_zh, body_en)
