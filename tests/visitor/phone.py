"""Helpers for the browser tests: a phone, its requests, axe-core, places in the live app."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from backend.extensions import db
from backend.models import DeviceEvent, Dispenser, Site
from backend.services.sites import SitePolicy, create_dispenser, create_site

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots" / "visitor"
PHONE = {"width": 390, "height": 844}
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)
LOCALES = {"en": "en-GB", "zh": "zh-CN"}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@dataclass
class Phone:
    """A browser tab set up like a phone, remembering every request and console error."""

    page: Any
    base: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        """Open a path of the live app."""
        return self.page.goto(self.base + path)

    def foreign_requests(self) -> list[str]:
        """Requests that left the app's origin (there must be none)."""
        return [url for url in self.requests if not url.startswith(self.base + "/")]


@contextmanager
def phone(
    browser: Any, base: str, lang: str, *, javascript: bool = True, **options: Any
) -> Iterator[Phone]:
    """A fresh phone (no cookies) with mobile emulation at 390x844."""
    settings: dict[str, Any] = {
        "viewport": PHONE,
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": ANDROID_CHROME,
        "locale": LOCALES[lang],
        "java_script_enabled": javascript,
    }
    settings.update(options)
    context = browser.new_context(**settings)
    page = context.new_page()
    tab = Phone(page, base)
    page.on("request", lambda request: tab.requests.append(request.url))
    page.on("console", lambda message: _console(tab, message))
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("response", lambda response: _response(tab, response))
    try:
        yield tab
    finally:
        context.close()


def _console(tab: Phone, message: Any) -> None:
    # A refusal page has a 4xx/5xx status on purpose; Chromium logs it as "failed to load".
    # Failed sub-resources are caught in _response instead.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        tab.errors.append(message.text)


def _response(tab: Phone, response: Any) -> None:
    if response.status >= 400 and response.request.resource_type != "document":
        tab.errors.append(f"{response.status} for {response.url}")


def axe_violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """Run axe-core on the page (WCAG 2.2 A/AA and best practices); return its violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    violations: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ')),
            }));
        }""",
        WCAG_TAGS,
    )
    return violations


@dataclass(frozen=True)
class Place:
    """A site of the live app and the public ids of its dispensers."""

    site_id: int
    dispensers: list[str]


def make_place(
    app: Flask,
    name: str,
    *,
    dispensers: int = 1,
    timezone: str = "Asia/Shanghai",
    **policy: Any,
) -> Place:
    """A committed site with dispensers in the live app's database."""
    labels = ["Lobby, left of the sinks", "Entrance, by the door", "Accessible stall"]
    with app.app_context():
        site: Site = create_site(
            db.session,
            name,
            now=datetime.now(UTC),
            timezone=timezone,
            policy=SitePolicy(**policy),
            contact="privacy@city.example",
        )
        made = [
            create_dispenser(db.session, site, now=datetime.now(UTC), label=labels[i % 3])
            for i in range(dispensers)
        ]
        db.session.commit()
        place = Place(site.id, [d.public_id for d in made])
        db.session.remove()
        return place


def add_dispenses(app: Flask, public_id: str, counts: dict[str, int]) -> None:
    """Record dispenses at a dispenser of the live app, as its device would report them."""
    moment = datetime.now(UTC) - timedelta(hours=2)
    with app.app_context():
        dispenser = db.session.scalar(select(Dispenser).where(Dispenser.public_id == public_id))
        assert dispenser is not None
        for method, count in counts.items():
            for _ in range(count):
                db.session.add(
                    DeviceEvent(
                        dispenser_id=dispenser.id,
                        event_id=secrets.token_hex(16),
                        kind="dispense",
                        method=method,
                        occurred_at=moment,
                        received_at=moment,
                    )
                )
        db.session.commit()
        db.session.remove()


def update_dispenser(app: Flask, public_id: str, **fields: Any) -> None:
    """Change a dispenser of the live app (its state as a device would report it)."""
    with app.app_context():
        dispenser = db.session.scalar(select(Dispenser).where(Dispenser.public_id == public_id))
        assert dispenser is not None
        for key, value in fields.items():
            setattr(dispenser, key, value)
        db.session.commit()
        db.session.remove()
