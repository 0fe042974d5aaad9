"""The face-mode consent screens, in zh-CN and English, as data for the kiosk.

The kiosk shows the first screen after the visitor presses "use face" and before any
frame is processed for a face: a short text read in about ten seconds (what it is for,
that it stays inside this dispenser and is erased after the window, that the phone code
or a voucher works the same, and the notice for children), with "Agree, scan my face"
and "No thanks" of equal prominence and a smaller "More about privacy". That last one
opens the full notice (`consent_screen`), which offers the same two choices.
`Choice.prominence` says which buttons must look alike, so the kiosk cannot get it wrong.
"""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import math
from dataclasses import dataclass

from device.messages import Text

# Bump when the wording changes, so an operator can tell which text visitors saw.
CONSENT_VERSION = "2026-12-1"

LANGUAGES = ("zh-CN", "en")


@dataclass(frozen=True)
class Choice:
    """One button on the consent screens."""

    action: str  # "face" | "no_thanks" | "more_privacy"
    label: str
    prominence: str  # "primary" for both real choices; "secondary" for more about privacy


@dataclass(frozen=True)
class ConsentScreen:
    """The full privacy notice in one language (the "More about privacy" screen)."""

    language: str
    version: str
    title: str
    paragraphs: tuple[str, ...]
    choices: tuple[Choice, ...]


CHOICES = {
    "en": (
        Choice("face", "Agree, scan my face", "primary"),
        Choice("no_thanks", "No thanks", "primary"),
        Choice("more_privacy", "More about privacy", "secondary"),
    ),
    "zh-CN": (
        Choice("face", "同意，刷脸", "primary"),
        Choice("no_thanks", "不用了", "primary"),
        Choice("more_privacy", "更多隐私说明", "secondary"),
    ),
}


def window_words(window_seconds: int, language: str) -> str:
    """The window as plain words ("9 minutes" / "9 分钟")."""
    if window_seconds < 60:
        return f"{window_seconds} 秒" if language == "zh-CN" else f"{window_seconds} seconds"
    minutes = math.ceil(window_seconds / 60)
    if language == "zh-CN":
        return f"{minutes} 分钟"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def first_screen(window_seconds: int) -> tuple[Text, Text, Text]:
    """The first consent screen: title, body and the children's notice, both languages."""
    _check(window_seconds, "en")
    en, zh = window_words(window_seconds, "en"), window_words(window_seconds, "zh-CN")
    title = Text("刷脸取纸？", "Use your face?")
    body = Text(
        f"用于确认您在 {zh} 内没有取过纸。面部数据只留在本机内，{zh}后删除。"
        "手机取纸码或纸券效果完全相同。",
        f"It checks you had no paper in the last {en}. Your face data stays in this "
        f"dispenser, erased after {en}. The phone code or a voucher works the same.",
    )
    children = Text("未满 14 周岁请用手机或纸券。", "Under 14? Use a phone or voucher.")
    return title, body, children


def full_notice(window_seconds: int, contact: str = "") -> tuple[Text, Text]:
    """The "More about privacy" screen: title and the full notice, both languages."""
    screens = {
        language: consent_screen(window_seconds, language, contact) for language in LANGUAGES
    }
    zh, en = screens["zh-CN"], screens["en"]
    return Text(zh.title, en.title), Text("\n".join(zh.paragraphs), "\n".join(en.paragraphs))


def consent_screen(window_seconds: int, language: str, contact: str = "") -> ConsentScreen:
    """The full notice for a site whose face window is `window_seconds`.

    `contact` is the site operator's contact (phone or address) shown at the end.
    """
    _check(window_seconds, language)
    window = window_words(window_seconds, language)
    build = _zh if language == "zh-CN" else _en
    return build(window, contact)


def instruction(language: str) -> str:
    """The line shown while the camera takes its short burst of pictures."""
    if language == "zh-CN":
        return "请看向摄像头，并轻轻转动一下头部（约 2 秒）。"
    return "Look at the camera and turn your head slightly (about 2 seconds)."


def _check(window_seconds: int, language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    if window_seconds <= 0:
        raise ValueError("window_seconds must be positive")


def _en(window: str, contact: str) -> ConsentScreen:
    paragraphs: tuple[str, ...] = (
        f"Purpose: one portion of paper per person per {window}. Your face is compared "
        f"only with faces seen by this dispenser in the last {window}.",
        "How: the camera takes a few pictures for about 2 seconds, inside this "
        "dispenser. They are deleted at once, as soon as a numeric face template (not a "
        "picture) is made.",
        f"Kept: only that template, only in this dispenser's memory, for {window} at "
        "most, and erased on restart. Never written to disk, never sent over the "
        "network, never shared. The operator receives only counts.",
        "Children under 14: please use a phone or a staff voucher instead.",
        "You do not have to use your face: the phone code and the voucher give paper in "
        "exactly the same way. If you choose No thanks, nothing is processed.",
    )
    if contact:
        paragraphs += (f"Questions or complaints: {contact}.",)
    return ConsentScreen("en", CONSENT_VERSION, "About privacy", paragraphs, CHOICES["en"][:2])


def _zh(window: str, contact: str) -> ConsentScreen:
    paragraphs: tuple[str, ...] = (
        f"目的：每人每 {window} 一份纸。您的面部只与本机在最近 {window} 内见过的面部比对。",
        "方式：摄像头在本机内拍摄约 2 秒的几张画面，"
        "生成数字化面部特征值（不是照片）后立即删除画面。",
        f"保存：只保存这个特征值，只在本机内存中，最长 {window}，本机重启时也全部删除。"
        "不会写入存储、不会通过网络发送、不会提供给任何人。运营方只收到数量统计。",
        "未满 14 周岁的儿童请使用手机或向工作人员领取纸券。",
        "刷脸不是必须的：手机取纸码和纸券取纸效果完全相同。选择“不用了”则不做任何处理。",
    )
    if contact:
        paragraphs += (f"咨询或投诉：{contact}。",)
    return ConsentScreen("zh-CN", CONSENT_VERSION, "隐私说明", paragraphs, CHOICES["zh-CN"][:2])
