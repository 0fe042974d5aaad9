"""The printable enrollment sheet: each new dispenser's visitor sticker and enrollment code."""

from __future__ import annotations

from collections.abc import Iterator
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

    @property
    def qr(self) -> str:
        """The sticker's QR code, drawn when the sheet reaches this card (~3 ms each)."""
        return qr_data_uri(self.url)


# The sheet goes out in pieces of this many template outputs (a card is about 20): the
# first bytes leave at once, and a 2,000-card sheet never lets a load balancer's idle
# timeout pass while its QR codes are drawn.
PIECES_PER_WRITE = 200


def render_enrollment_sheet(
    enrolled: list[EnrolledDispenser], *, base_url: str, server_url: str, standalone: bool
) -> str:
    """The sheet as one HTML page; ``standalone`` inlines its CSS (a file read outside the app).

    ``base_url`` is where the stickers' QR codes point (visitors); ``server_url`` is the
    address the technician enrolls each dispenser with (it may be another hostname).
    """
    return "".join(
        enrollment_sheet_parts(
            enrolled, base_url=base_url, server_url=server_url, standalone=standalone
        )
    )


def enrollment_sheet_parts(
    enrolled: list[EnrolledDispenser], *, base_url: str, server_url: str, standalone: bool
) -> Iterator[str]:
    """The sheet of :func:`render_enrollment_sheet` as consecutive pieces of HTML, each
    card's QR code drawn as its piece is made: a response streams them."""
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
            )
        )
    expires_at: datetime = min(item.expires_at for item in enrolled)
    # Straight from the Jinja environment: the CLI renders it outside any request, where
    # the admin pages' context processors (session, CSRF) have nothing to work on.
    template = current_app.jinja_env.get_template("admin/enrollment_sheet.html")
    stream = template.stream(
        enrolled=cards,
        server_url=server_url,
        expires_at=expires_at,
        inline_css=_SHEET_CSS.read_text(encoding="utf-8") if standalone else None,
    )
    stream.enable_buffering(PIECES_PER_WRITE)
    return iter(stream)
