"""Per-visitor quotas across a whole site, without identity.

A visitor is a random id in a signed cookie. The database sees only an HMAC of it under
a random secret of the site's local day; the secret is purged after the day, so the
backend cannot link one visitor's days. Each rule is a single conditional write.
"""

from __future__ import annotations

import secrets
import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, exists, literal, select, update

from backend.errors import QuotaExhausted
from backend.models import AccessToken, DailySecret, QuotaUsage, Site
from backend.services.direct import Direct, rows
from backend.services.secrets import keyed_hash
from backend.services.sql import Db, built_once, insert_for, insert_for_dialect

_DAILY_SECRET = Direct(
    select(DailySecret.__table__.c.secret).where(DailySecret.__table__.c.day == bindparam("day"))
)


def take_portion(dialect: str, *, after: Any = None) -> Any:
    """The day's first portion, or one more if the window passed and the cap allows:
    ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <the rule> RETURNING id``.

    Alone (``after`` None) the token id is the ``token_id`` parameter. Inside token
    issue's single statement (backend.services.tokens) ``after`` is the CTE of the token
    just inserted: the row is then taken from it (``SELECT ... FROM token``), so there is
    no portion without a token; the rule (``ON CONFLICT ... WHERE``) is this one, not a copy.
    """
    table = QuotaUsage.__table__
    columns = table.c
    # "site", not "site_id": token issue's single statement also UPDATEs the dispenser, and
    # SQLAlchemy adds a parameter named after a column of an UPDATE's table to its SET.
    row = {
        "site_id": bindparam("site", type_=columns.site_id.type),
        "visitor_hash": bindparam("visitor_hash", type_=columns.visitor_hash.type),
        "day": bindparam("day", type_=columns.day.type),
        "portions": literal(1, type_=columns.portions.type),
        "last_portion_at": bindparam("now", type_=columns.last_portion_at.type),
        "last_token_id": (
            bindparam("token_id", type_=columns.last_token_id.type) if after is None else after.c.id
        ),
    }
    upsert = insert_for_dialect(dialect, table)
    if after is None:
        upsert = upsert.values(row)
    else:
        upsert = upsert.from_select(
            list(row), select(*(value.label(name) for name, value in row.items()))
        )
    return upsert.on_conflict_do_update(
        index_elements=["site_id", "visitor_hash", "day"],
        set_={
            "portions": table.c.portions + 1,
            "last_portion_at": upsert.excluded.last_portion_at,
            "last_token_id": upsert.excluded.last_token_id,
        },
        where=_ONE_MORE_ALLOWED,
    ).returning(table.c.id)


_QUOTAS = QuotaUsage.__table__
# The rule: one more portion today if the window has passed and the daily cap allows it
# (parameters: window_start, daily_cap).
_ONE_MORE_ALLOWED = (_QUOTAS.c.last_portion_at <= bindparam("window_start")) & (
    _QUOTAS.c.portions < bindparam("daily_cap")
)
# Whether take_portion would give the visitor a portion now, by the same rule (token
# issue's single statement checks it before any of its writes; parameters: site,
# visitor_hash, day, window_start, daily_cap).
PORTION_AVAILABLE = ~exists().where(
    _QUOTAS.c.site_id == bindparam("site"),
    _QUOTAS.c.visitor_hash == bindparam("visitor_hash"),
    _QUOTAS.c.day == bindparam("day"),
    ~_ONE_MORE_ALLOWED,
)


def take_portion_parameters(site: Site, vhash: str, day: date, *, now: datetime) -> dict[str, Any]:
    """The parameters of ``take_portion`` but the token id."""
    return {
        "site": site.id,
        "visitor_hash": vhash,
        "day": day,
        "now": now,
        "window_start": now - timedelta(seconds=site.window_seconds),
        "daily_cap": site.daily_cap,
    }


_TAKE_PORTION = built_once(take_portion)


def local_day(site: Site, now: datetime) -> date:
    """The site's local calendar day at ``now``."""
    return now.astimezone(zoneinfo.ZoneInfo(site.timezone)).date()


def next_local_midnight(site: Site, now: datetime) -> datetime:
    """When the site's next local day starts."""
    tz = zoneinfo.ZoneInfo(site.timezone)
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=tz)


# The day's secrets this process has read, per database (the session's bind). A secret
# row never changes once committed and is deleted only by the purge, for days before
# yesterday (backend/services/purge.py); the cache forgets those days by the same rule,
# so it holds no secret the database no longer has. Only rows that the first read found
# go in: a row this transaction inserted itself may still be rolled back. A database
# restored from a backup gets a new instance id, which restarts every task (and so
# empties every cache; docs/operations.md, "Backups and restoring the database").
_KNOWN_SECRETS: WeakKeyDictionary[Any, dict[date, bytes]] = WeakKeyDictionary()


def _oldest_kept(now: datetime) -> date:
    """The oldest day whose secret the purge keeps at ``now`` (it deletes those before)."""
    return (now - timedelta(days=1)).date()


def _known_secrets(session: Db, *, now: datetime) -> dict[date, bytes]:
    """This process's secrets for the session's database, without the days the purge may
    have deleted by ``now``."""
    known = _KNOWN_SECRETS.setdefault(session.get_bind(), {})
    oldest_kept = _oldest_kept(now)
    # list(known) copies the keys in one step: another thread may add or drop one meanwhile.
    for stale in [day for day in list(known) if day < oldest_kept]:
        known.pop(stale, None)
    return known


def forget_daily_secrets() -> None:
    """Drop this process's cached secrets (after a test empties or rolls back tables)."""
    _KNOWN_SECRETS.clear()


def _existing_secret(session: Db, day: date, *, now: datetime) -> bytes | None:
    """The day's secret if it exists: from this process's cache, else read (and cached)."""
    known = _known_secrets(session, now=now)
    cached = known.get(day)
    if cached is not None:
        return cached
    found = rows(session, _DAILY_SECRET, {"day": day})
    if not found:
        return None
    secret = bytes(found[0]["secret"])
    if day >= _oldest_kept(now):
        known[day] = secret
    return secret


def daily_secret(session: Db, day: date, *, now: datetime) -> bytes:
    """The secret for ``day``, created on first use (race-free: insert-or-ignore).

    Cached in the process once read as committed, so a request needs no statement for
    it; only the day's first issuance pays for the insert.
    """
    found = _existing_secret(session, day, now=now)
    if found is not None:
        return found
    session.execute(
        insert_for(session, DailySecret)
        .values(day=day, secret=secrets.token_bytes(32), created_at=now)
        .on_conflict_do_nothing(index_elements=["day"])
    )
    (row,) = rows(session, _DAILY_SECRET, {"day": day})  # in the insert's transaction
    return bytes(row["secret"])


def visitor_hash(session: Db, site: Site, visitor_id: str, *, now: datetime) -> tuple[date, str]:
    """The day and the visitor's unlinkable hash for that day at ``site``."""
    day = local_day(site, now)
    return day, keyed_hash(daily_secret(session, day, now=now), str(site.id), visitor_id)


def consume_portion(
    session: Db,
    site: Site,
    visitor_id: str,
    *,
    token_id: int,
    now: datetime,
    clock_skew: timedelta,
) -> None:
    """Take one portion from the visitor's quota for ``token_id``, or raise QuotaExhausted.

    One upsert: it inserts the day's first portion, or adds one only if the window has
    passed and the daily cap is not reached. If it does not, a visitor whose last token
    expired unused may renew it (a compare-and-swap on the last token).
    """
    day, vhash = visitor_hash(session, site, visitor_id, now=now)
    taken = session.execute(
        _TAKE_PORTION(session),
        {**take_portion_parameters(site, vhash, day, now=now), "token_id": token_id},
    ).first()
    if taken is not None:
        return
    if _renew_unused_portion(
        session, site, vhash, day, token_id=token_id, now=now, skew=clock_skew
    ):
        return
    due = _next_portion_at(session, site, vhash, day, now=now)
    raise QuotaExhausted(
        "you have had your portion; please wait",
        retry_after=_seconds_until(due, now),
        # The moment itself, for a page that shows it: a Retry-After counted from this
        # request's (whole-second) time and added to the page's own clock would be late.
        available_at=due,
    )


def _renew_unused_portion(
    session: Db,
    site: Site,
    vhash: str,
    day: date,
    *,
    token_id: int,
    now: datetime,
    skew: timedelta,
) -> bool:
    """Move the last portion to a new token if the old one expired without being redeemed."""
    # The device accepts a token until expires_at + skew, so only then is it truly dead.
    result = session.execute(
        update(QuotaUsage)
        .where(
            QuotaUsage.site_id == site.id,
            QuotaUsage.visitor_hash == vhash,
            QuotaUsage.day == day,
            QuotaUsage.last_token_id.in_(
                select(AccessToken.id).where(
                    AccessToken.redeemed_at.is_(None), AccessToken.expires_at <= now - skew
                )
            ),
        )
        .values(last_token_id=token_id, last_portion_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _next_portion_at(
    session: Db, site: Site, vhash: str, day: date, *, now: datetime
) -> datetime | None:
    """When the visitor's next portion is due (None: no record of a portion today)."""
    usage = session.scalar(
        select(QuotaUsage).where(
            QuotaUsage.site_id == site.id, QuotaUsage.visitor_hash == vhash, QuotaUsage.day == day
        )
    )
    if usage is None:
        return None
    if usage.portions >= site.daily_cap:
        return next_local_midnight(site, now)
    return usage.last_portion_at + timedelta(seconds=site.window_seconds)


def _seconds_until(moment: datetime | None, now: datetime) -> int:
    """Whole seconds from ``now`` until ``moment`` (at least 1), for Retry-After."""
    if moment is None:
        return 1
    return max(1, int((moment - now).total_seconds()) + 1)


def _seconds_until_next_portion(
    session: Db, site: Site, vhash: str, day: date, *, now: datetime
) -> int:
    """How long the visitor must wait (for the message and Retry-After only)."""
    return _seconds_until(_next_portion_at(session, site, vhash, day, now=now), now)


def seconds_until_next_portion(
    session: Db, site: Site, visitor_id: str, *, now: datetime
) -> int | None:
    """Seconds until the visitor's next portion at ``site``; None if they had none today.

    Read-only (unlike ``visitor_hash``, it never creates the day's secret), so a page that
    only shows the figure stores nothing.
    """
    day = local_day(site, now)
    secret = _existing_secret(session, day, now=now)
    if secret is None:
        return None
    vhash = keyed_hash(secret, str(site.id), visitor_id)
    exists = session.scalar(
        select(QuotaUsage.id).where(
            QuotaUsage.site_id == site.id, QuotaUsage.visitor_hash == vhash, QuotaUsage.day == day
        )
    )
    if exists is None:
        return None
    return _seconds_until_next_portion(session, site, vhash, day, now=now)
