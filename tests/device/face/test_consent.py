"""The consent screen says what the rules require, in both languages."""

from __future__ import annotations

import pytest

from device.face import consent


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_consent_offers_phone_path_with_equal_prominence(language: str) -> None:
    screen = consent.consent_screen(540, language)
    by_action = {choice.action: choice for choice in screen.choices}
    assert by_action["face"].prominence == by_action["phone_or_code"].prominence == "primary"
    assert screen.choices[0].action == "face" and screen.choices[1].action == "phone_or_code"


def test_english_consent_states_purpose_retention_and_children() -> None:
    text = " ".join(consent.consent_screen(540, "en", contact="010-1234").paragraphs)
    assert "Purpose" in text
    assert "9 minutes" in text
    assert "never written to disk" in text and "never sent over the network" in text
    assert "under 14" in text
    assert "do not have to use your face" in text
    assert "010-1234" in text


def test_chinese_consent_states_purpose_retention_and_children() -> None:
    text = "".join(consent.consent_screen(540, "zh-CN").paragraphs)
    assert "目的" in text
    assert "9 分钟" in text
    assert "不会写入存储" in text and "不会通过网络发送" in text
    assert "未满 14 周岁" in text
    assert "刷脸不是必须的" in text


def test_short_window_is_stated_in_seconds() -> None:
    assert "45 seconds" in " ".join(consent.consent_screen(45, "en").paragraphs)


@pytest.mark.parametrize(("window", "language"), [(540, "fr"), (0, "en")])
def test_bad_consent_arguments_are_refused(window: int, language: str) -> None:
    with pytest.raises(ValueError):
        consent.consent_screen(window, language)
