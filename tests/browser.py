"""Shared Playwright fixtures driving Debian's chromium (never a downloaded browser).

Use from a conftest.py: ``from tests.browser import browser, browser_page  # noqa: F401``.
Tests needing the browser skip, saying why, when /usr/bin/chromium is absent (and fail
instead where FAIRROLL_REQUIRE_CHROMIUM=1, as in CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.require import unavailable

CHROMIUM = Path(os.environ.get("FAIRROLL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium for the whole test session."""
    if not CHROMIUM.exists():
        unavailable("CHROMIUM", f"{CHROMIUM} is not installed (apt-get install chromium)")
    # Never let Playwright fetch a browser of its own.
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def browser_page(browser: Any) -> Iterator[Any]:
    """A fresh page (own context: no shared cookies) for one test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()
