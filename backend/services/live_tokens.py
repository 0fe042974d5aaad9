"""The cap on live tokens per dispenser, as one conditional write.

Each dispenser has ``cap`` slot rows. Minting claims a free slot (``busy_until`` in the
past) for the token's whole life with a single ``UPDATE ... WHERE busy_until <= :now``;
on PostgreSQL the candidate slot is picked with ``FOR UPDATE SKIP LOCKED`` so concurrent
mints take different slots. No interleaving can make more than ``cap`` tokens live at
one dispenser: a token keeps its slot until it expires, redeemed or not (that keeps the
rule one write; at the default 120 s life and cap 10 it still allows 300 tokens an hour).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from backend.errors import DispenserBusy
from backend.models import Dispenser, LiveTokenSlot
from backend.services.sql import Db, built_once, insert_for, table_of

DEFAULT_LIVE_TOKEN_CAP = 10

_SLOTS = table_of(LiveTokenSlot)
_FREE = or_(_SLOTS.c.busy_until.is_(None), _SLOTS.c.busy_until <= bindparam("now"))
# The dispenser's usable slots that are free (parameters: dispenser, cap, now).
_FREE_SLOTS = (
    (_SLOTS.c.dispenser_id == bindparam("dispenser")) & (_SLOTS.c.slot < bindparam("cap")) & _FREE
)
# Whether the dispenser has a free slot now, as its claim would find one (token issue's
# single statement checks it before any of its writes).
FREE_SLOT_EXISTS = exists().where(_FREE_SLOTS)
# Whether a slot of the dispenser holds this typed code (parameter: code_hash): its
# claim would break the slots' unique (dispenser, code hash), so draw another code.
CODE_HELD = exists().where(
    _SLOTS.c.dispenser_id == bindparam("dispenser"),
    _SLOTS.c.code_hash == bindparam("code_hash"),
)


def claim_slot(dialect: str) -> Any:
    """``UPDATE`` one free slot of the dispenser to busy until ``until``, holding the typed
    code ``code_hash``, ``RETURNING`` it (parameters: dispenser, cap, now, until,
    code_hash). Token issue's single statement on PostgreSQL (backend.services.tokens)
    runs it as its first write."""
    pick = select(_SLOTS.c.slot).where(_FREE_SLOTS).order_by(_SLOTS.c.slot).limit(1)
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return (
        update(_SLOTS)
        .where(
            _SLOTS.c.dispenser_id == bindparam("dispenser"),
            _SLOTS.c.slot == pick.scalar_subquery(),
            _FREE,
        )
        .values(busy_until=bindparam("until"), code_hash=bindparam("code_hash"))
        .returning(_SLOTS.c.slot)
    )


_CLAIM = built_once(claim_slot)


def _claim(
    session: Db, dispenser: Dispenser, cap: int, *, now: datetime, until: datetime, code_hash: str
) -> bool:
    parameters = {
        "dispenser": dispenser.id,
        "cap": cap,
        "now": now,
        "until": until,
        "code_hash": code_hash,
    }
    try:
        claimed = session.execute(_CLAIM(session), parameters).first()
    except IntegrityError as error:
        if not is_code_clash(error):
            raise
        # A concurrent mint here drew the same code (the slots' unique dispenser and code
        # hash): rare, and the transaction is spoiled on PostgreSQL. Ask for a retry.
        raise busy_try_again() from error
    return claimed is not None


def busy_try_again() -> DispenserBusy:
    """429 for a mint that met another at the same moment: a retry in a second succeeds."""
    return DispenserBusy("this dispenser is busy; try again in a moment", retry_after=1)


# The slots' unique (dispenser, code hash), as the migration names it.
CODE_UNIQUE = "uq_live_token_slot_dispenser_id"


def is_code_clash(error: IntegrityError) -> bool:
    """Whether ``error`` is the slots' unique (dispenser, code hash) refusing a claim."""
    diagnosis = getattr(error.orig, "diag", None)  # PostgreSQL names the constraint
    if diagnosis is not None:
        return getattr(diagnosis, "constraint_name", None) == CODE_UNIQUE
    return "live_token_slot.code_hash" in str(error.orig)  # SQLite names the columns


def code_held(session: Db, dispenser: Dispenser, code_hash: str) -> bool:
    """Whether a slot of ``dispenser`` holds this typed code (CODE_HELD)."""
    found = session.scalar(select(CODE_HELD), {"dispenser": dispenser.id, "code_hash": code_hash})
    return bool(found)


def _ensure_slots(session: Db, dispenser: Dispenser, cap: int) -> bool:
    """Make the dispenser's slot rows if it has fewer than ``cap``; True if any were made."""
    have = session.scalar(
        select(func.count()).where(
            LiveTokenSlot.dispenser_id == dispenser.id, LiveTokenSlot.slot < cap
        )
    )
    if have is not None and have >= cap:
        return False
    session.execute(
        insert_for(session, LiveTokenSlot)
        .values([{"dispenser_id": dispenser.id, "slot": n, "busy_until": None} for n in range(cap)])
        .on_conflict_do_nothing(index_elements=["dispenser_id", "slot"])
    )
    return True


def claim_live_token_slot(
    session: Db,
    dispenser: Dispenser,
    *,
    cap: int,
    now: datetime,
    until: datetime,
    code_hash: str,
) -> None:
    """Hold one of the dispenser's ``cap`` live-token slots until ``until`` for the token
    with typed code ``code_hash`` (no other slot of the dispenser may hold it: see
    ``code_held``), or raise DispenserBusy (429) with the seconds until the first slot
    frees."""
    if _claim(session, dispenser, cap, now=now, until=until, code_hash=code_hash):
        return
    if _ensure_slots(session, dispenser, cap) and _claim(
        session, dispenser, cap, now=now, until=until, code_hash=code_hash
    ):
        return
    first_free = session.scalar(
        select(func.min(LiveTokenSlot.busy_until)).where(
            LiveTokenSlot.dispenser_id == dispenser.id, LiveTokenSlot.slot < cap
        )
    )
    wait = math.ceil((first_free - now).total_seconds()) if first_free else 1
    raise DispenserBusy(
        "many codes are waiting to be used at this dispenser; try again in a moment",
        retry_after=max(1, wait),
    )
