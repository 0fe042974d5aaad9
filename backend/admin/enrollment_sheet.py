"""The printable enrollment sheet: each new dispenser's visitor sticker and enrollment code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app

from backend.admin.qr import qr_data_uri
from backend.services.bulk_enrollment import EnrolledDispenser

_SHEET_CSS = Path(__file__).parent / "static" / "sheet.css"


@dataclass(frozen=True)
class SheetCard:
    """What one card of the sheet shows."""

    public_id: str
    site: str
    label: str
    unrestricted: bool
    code: str
    url: str
    qr: str


def render_enrollment_sheet(
    enrolled: list[EnrolledDispenser], *, base_url: str, server_url: str, standalone: bool
) -> str:
    """The sheet as one HTML page; ``standalone`` inlines its CSS (a file read outside the app).

    ``base_url`` is where the stickers' QR codes point (visitors); ``server_url`` is the
    address the technician enrolls each dispenser with (it may be another hostname).
    """
    cards = []
    for item in enrolled:
        url = f"{base_url}/d/{item.public_id}"
        cards.append(
            SheetCard(
                public_id=item.public_id,
                site=item.site,
                label=item.label,
                unrestricted=item.unrestricted,
                code=item.code,
                url=url,
                qr=qr_data_uri(url),
            )
        )
    expires_at: datetime = min(item.expires_at for item in enrolled)
    # Straight from the Jinja environment: the CLI renders it outside any request, where
    # the admin pages' context processors (session, CSRF) have nothing to work on.
    template = current_app.jinja_env.get_template("admin/enrollment_sheet.html")
    return template.render(
        enrolled=cards,
        server_url=server_url,
        expires_at=expires_at,
        inline_css=_SHEET_CSS.read_text(encoding="utf-8") if standalone else None,
    )
