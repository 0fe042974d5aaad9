"""Languages: Accept-Language, the visible switch, and complete, compiled catalogs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import make_dispenser, make_site
from tests.visitor.helpers import landing

TRANSLATIONS = Path(__file__).resolve().parents[2] / "backend" / "translations"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize(
    ("header", "lang", "text"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", "取纸"),
        ("zh-TW", "zh-CN", "取纸"),
        ("en-GB,en;q=0.9", "en", "Get paper"),
        ("fr-FR", "en", "Get paper"),
        ("de, zh;q=0.5", "zh-CN", "取纸"),
    ],
)
def test_language_follows_accept_language(
    app: Flask, client: FlaskClient, header: str, lang: str, text: str
) -> None:
    dispenser = make_dispenser(make_site())
    html = landing(client, dispenser, **{"Accept-Language": header}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert text in html


def test_the_switch_overrides_the_browser_and_is_remembered(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    chinese = {"Accept-Language": "zh-CN"}
    html = landing(client, dispenser, **chinese).get_data(as_text=True)
    assert f'href="/d/{dispenser.public_id}?lang=en"' in html  # the visible switch
    switched = client.get(f"/d/{dispenser.public_id}?lang=en", headers=chinese)
    assert '<html lang="en">' in switched.get_data(as_text=True)
    assert any(c.startswith("fr_lang=en") for c in switched.headers.getlist("Set-Cookie"))
    again = landing(client, dispenser, **chinese).get_data(as_text=True)
    assert '<html lang="en">' in again


def test_unknown_language_in_the_switch_is_ignored(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    response = client.get(f"/d/{dispenser.public_id}?lang=xx", headers={"Accept-Language": "zh"})
    assert '<html lang="zh-CN">' in response.get_data(as_text=True)
    assert not any(c.startswith("fr_lang") for c in response.headers.getlist("Set-Cookie"))


def _catalogs() -> list[Path]:
    return sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


def test_every_text_is_translated_with_the_same_placeholders() -> None:
    assert _catalogs(), "no catalogs found"
    for path in _catalogs():
        with path.open("rb") as handle:
            catalog = read_po(handle)
        assert not catalog.fuzzy, f"{path} is marked fuzzy"
        for message in catalog:
            if not message.id:
                continue
            assert message.string, f"{path}: untranslated {message.id!r}"
            assert "fuzzy" not in message.flags, f"{path}: fuzzy {message.id!r}"
            if isinstance(message.id, tuple):  # ngettext: every form keeps the plural's
                source = sorted(_PLACEHOLDER.findall(message.id[1]))
                forms = [str(form) for form in message.string]
            else:
                source = sorted(_PLACEHOLDER.findall(str(message.id)))
                forms = [str(message.string)]
            for form in forms:
                assert form, f"{path}: untranslated plural form of {message.id!r}"
                assert sorted(_PLACEHOLDER.findall(form)) == source, message.id


def _plain(value: Any) -> Any:
    """A message id or string as a hashable, comparable value (plurals are sequences)."""
    return tuple(value) if isinstance(value, list | tuple) else value


def test_compiled_catalogs_match_their_sources() -> None:
    for path in _catalogs():
        with path.open("rb") as handle:
            source = {_plain(m.id): _plain(m.string) for m in read_po(handle) if m.id}
        with path.with_suffix(".mo").open("rb") as handle:
            compiled = {_plain(m.id): _plain(m.string) for m in read_mo(handle) if m.id}
        assert compiled == source, f"{path.with_suffix('.mo')} is stale: run make translations"


def test_the_switch_keeps_the_screen_code_and_nothing_else(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    query = "p=123456&_scheme=javascript&_external=1&_anchor=x&other=1"
    html = client.get(f"/d/{dispenser.public_id}?{query}").get_data(as_text=True)
    links = re.findall(r'<a href="([^"]+)" lang=', html)
    assert links == [
        f"/d/{dispenser.public_id}?p=123456&amp;lang=zh",
        f"/d/{dispenser.public_id}?p=123456&amp;lang=en",
    ]
