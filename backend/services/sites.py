"""Creating sites and dispensers."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload

from backend.errors import ConflictError, DispenserNotFound, InvalidInput, NotFound
from backend.models import Dispenser, EnrollmentCode, Site
from backend.services.direct import Direct, rows
from backend.services.secrets import grouped_code, normalise_grouped_code, sha256_hex
from backend.services.sql import Db, instance_from_row, table_of
from protocol.ids import new_dispenser_public_id

# One portion per 20 s at one dispenser: a queue at a shared entrance dispenser moves no
# faster (walk up, scan, take the paper: 15-20 s), and a dispenser inside a stall never
# sees two visitors that close. It bounds a dispenser to 180 portions an hour whatever
# the tokens minted (docs/tokens.md). Stall-only sites may raise it; 0 turns it off.
DEFAULT_MIN_INTERVAL_SECONDS = 20


@dataclass(frozen=True)
class SitePolicy:
    """The quota policy of a site, validated."""

    portion_cm: int = 60
    window_seconds: int = 540
    daily_cap: int = 8
    min_interval_seconds: int = DEFAULT_MIN_INTERVAL_SECONDS
    presence_required: bool = False
    face_mode_allowed: bool = False
    unrestricted: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.portion_cm <= 500:
            raise InvalidInput("portion_cm must be between 1 and 500")
        if not 0 <= self.window_seconds <= 86_400:
            raise InvalidInput("window_seconds must be between 0 and 86400")
        if not 1 <= self.daily_cap <= 1000:
            raise InvalidInput("daily_cap must be between 1 and 1000")
        if not 0 <= self.min_interval_seconds <= 3600:
            raise InvalidInput("min_interval_seconds must be between 0 and 3600")


def validate_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA timezone, else raise InvalidInput."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown timezone {name!r}; use an IANA name like Asia/Shanghai"
        ) from None
    return name


def create_site(
    session: Db,
    name: str,
    *,
    now: datetime,
    timezone: str = "UTC",
    policy: SitePolicy | None = None,
    contact: str = "",
) -> Site:
    """Create a site with a policy (defaults: 60 cm, 1 portion per 9 minutes, 8 a day)."""
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("a site name has 1 to 120 characters")
    if session.scalar(select(Site.id).where(Site.name == name)) is not None:
        raise ConflictError(f"a site named {name!r} already exists")
    policy = policy or SitePolicy()
    site = Site(
        name=name,
        timezone=validate_timezone(timezone),
        contact=contact,
        created_at=now,
        **policy.__dict__,
    )
    session.add(site)
    session.flush()
    return site


def find_site(session: Db, name_or_id: str) -> Site:
    """Look a site up by its name or numeric id."""
    site = None
    if name_or_id.isdigit():
        site = session.get(Site, int(name_or_id))
    if site is None:
        site = session.scalar(select(Site).where(Site.name == name_or_id))
    if site is None:
        raise NotFound(f"no site named {name_or_id!r}")
    return site


def new_dispenser(
    site: Site, *, now: datetime, label: str = "", unrestricted: bool = False
) -> Dispenser:
    """A dispenser with a fresh public id and presence secret, not yet in any session."""
    return Dispenser(
        public_id=new_dispenser_public_id(),
        site=site,
        label=label.strip()[:120],
        unrestricted=unrestricted,
        presence_secret=pyotp.random_base32(),
        created_at=now,
    )


def create_dispenser(
    session: Db, site: Site, *, now: datetime, label: str = "", unrestricted: bool = False
) -> Dispenser:
    """Create a dispenser with a fresh public id and presence secret."""
    dispenser = new_dispenser(site, now=now, label=label, unrestricted=unrestricted)
    session.add(dispenser)
    session.flush()
    return dispenser


_DISPENSERS = table_of(Dispenser)
_SITES = table_of(Site)
# A dispenser's and its site's columns, named dispenser_<column> and site_<column>.
DISPENSER_AND_SITE_COLUMNS = (
    *(column.label(f"dispenser_{column.key}") for column in _DISPENSERS.c),
    *(column.label(f"site_{column.key}") for column in _SITES.c),
)


def with_site_columns() -> Select[Any]:
    """SELECT a dispenser's and its site's columns FROM dispenser JOIN site: the request
    paths' load, with Core (the ORM's loading costs more than the statement itself)."""
    return select(*DISPENSER_AND_SITE_COLUMNS).join_from(
        _DISPENSERS, _SITES, _SITES.c.id == _DISPENSERS.c.site_id
    )


def dispenser_from_row(row: Any) -> Dispenser:
    """The Dispenser, with its Site, in a row of DISPENSER_AND_SITE_COLUMNS: made from the
    row's values, in no session (``backend.services.sql.instance_from_row``), to read."""
    site = instance_from_row(Site, row, "site_")
    return instance_from_row(Dispenser, row, "dispenser_", site=site)


# Built once: every visitor request runs it (backend.services.sql.built_once says why).
_DISPENSER_BY_PUBLIC_ID = (
    select(Dispenser)
    .options(joinedload(Dispenser.site, innerjoin=True))
    .where(Dispenser.public_id == bindparam("public_id"))
)
# Token issue's load: the dispenser and its site (no lock: backend.services.tokens).
_DISPENSER_TO_ISSUE = Direct(
    with_site_columns().where(_DISPENSERS.c.public_id == bindparam("public_id"))
)


def find_dispenser(session: Db, public_id: str) -> Dispenser:
    """Look a dispenser up by its public id (in the session, to read or change)."""
    dispenser = session.scalar(_DISPENSER_BY_PUBLIC_ID, {"public_id": public_id})
    if dispenser is None:
        raise DispenserNotFound("no dispenser has that id")
    return dispenser


def find_dispenser_to_issue(session: Db, public_id: str) -> Dispenser:
    """Look a dispenser up to issue a token at it (with its site; read-only, in no
    session: ``dispenser_from_row``)."""
    found = rows(session, _DISPENSER_TO_ISSUE, {"public_id": public_id})
    if not found:
        raise DispenserNotFound("no dispenser has that id")
    return dispenser_from_row(found[0])


def new_enrollment_code(
    dispenser_id: int, *, now: datetime, ttl: timedelta
) -> tuple[str, EnrollmentCode]:
    """A one-time enrollment code for a stored dispenser, and the row that keeps only its
    hash (not yet in any session)."""
    code = grouped_code()
    row = EnrollmentCode(
        dispenser_id=dispenser_id,
        code_hash=sha256_hex(normalise_grouped_code(code)),
        created_at=now,
        expires_at=now + ttl,
    )
    return code, row


def issue_enrollment_code(
    session: Db, dispenser: Dispenser, *, now: datetime, ttl: timedelta
) -> str:
    """Make a one-time enrollment code for ``dispenser``; only its hash is stored."""
    code, row = new_enrollment_code(dispenser.id, now=now, ttl=ttl)
    session.add(row)
    session.flush()
    return code
