"""The consent screens say what the rules require, in both languages, briefly first."""

from __future__ import annotations

import re

import pytest

from device.face import consent


def words(text: str) -> int:
    """Words in English; for Chinese, characters (a generous reading-time measure)."""
    return len(text.split()) if text.isascii() else len(re.sub(r"\W", "", text))


def test_first_screen_is_short_and_says_purpose_place_erasure_alternative_children() -> None:
    title, body, children = consent.first_screen(540)
    assert words(" ".join((title.en, body.en, children.en))) <= 42
    assert words(title.zh + body.zh + children.zh) <= 75
    assert "last 9 minutes" in body.en and "stays in this dispenser" in body.en
    assert "erased after 9 minutes" in body.en and "phone code or a voucher" in body.en
    assert "Under 14" in children.en and "未满 14 周岁" in children.zh
    assert "9 分钟后删除" in body.zh and "只留在本机" in body.zh and "纸券" in body.zh


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_two_choices_are_equally_prominent_and_more_about_privacy_is_smaller(
    language: str,
) -> None:
    by_action = {choice.action: choice for choice in consent.CHOICES[language]}
    assert by_action["face"].prominence == by_action["no_thanks"].prominence == "primary"
    assert by_action["more_privacy"].prominence == "secondary"
    full = consent.consent_screen(540, language)
    assert [choice.action for choice in full.choices] == ["face", "no_thanks"]


def test_button_words_match_the_kiosk_page_and_the_privacy_page() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    page = (root / "device" / "kiosk" / "static" / "page.html").read_text()
    notice = (root / "backend" / "templates" / "visitor" / "privacy.html").read_text()
    for language in ("en", "zh-CN"):
        for choice in consent.CHOICES[language]:
            assert choice.label in page, choice
    for choice in consent.CHOICES["en"][:2]:
        assert f"“{choice.label}”" in notice, choice


def test_english_full_notice_states_purpose_retention_and_children() -> None:
    text = " ".join(consent.consent_screen(540, "en", contact="010-1234").paragraphs)
    assert "Purpose" in text
    assert "9 minutes" in text
    assert "Never written to disk" in text and "never sent over the network" in text
    assert "under 14" in text
    assert "do not have to use your face" in text and "No thanks" in text
    assert "Cancel" not in text
    assert "010-1234" in text


def test_chinese_full_notice_states_purpose_retention_and_children() -> None:
    text = "".join(consent.consent_screen(540, "zh-CN").paragraphs)
    assert "目的" in text
    assert "9 分钟" in text
    assert "不会写入存储" in text and "不会通过网络发送" in text
    assert "未满 14 周岁" in text
    assert "刷脸不是必须的" in text and "“不用了”" in text


def test_short_window_is_stated_in_seconds() -> None:
    assert "45 seconds" in " ".join(consent.consent_screen(45, "en").paragraphs)
    assert "45 seconds" in consent.first_screen(45)[1].en


@pytest.mark.parametrize(("window", "language"), [(540, "fr"), (0, "en")])
def test_bad_consent_arguments_are_refused(window: int, language: str) -> None:
    with pytest.raises(ValueError):
        consent.consent_screen(window, language)
