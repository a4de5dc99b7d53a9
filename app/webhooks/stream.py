"""Reading an account's events as they come (R179, the ``accountEvents`` subscription).

Events are numbered (``seq``) when they are written, not when their transaction commits, so
on PostgreSQL an event may become visible after a later-numbered one was read. A reader
therefore keeps, besides the highest number it has read, the numbers it read in the last
``LOOKBACK`` of real time, and looks again below that highest number for events written in
that window that it has not read yet. An event whose transaction took longer than
``LOOKBACK`` to commit would be missed; no write transaction of this service comes close.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from app.webhooks.models import AccountEvent

#: how long after it was written an event may still be committed
LOOKBACK = timedelta(seconds=60)
#: events read at a time
BATCH = 100
#: events are kept this long after they happened (service clock), then purged
KEPT_FOR = timedelta(days=7)


@dataclass
class Cursor:
    """Where one reader of one account's events stands."""

    account_id: str
    types: frozenset[str] | None  # the event types it wants; None: every type
    start: int  # events numbered at or below it came before the reader began
    floor: int  # the highest number read
    recent: dict[int, datetime] = field(default_factory=dict)  # read within LOOKBACK


def open_cursor(
    session: Session, account_id: str, types: Collection[str] | None, after: str | None
) -> Cursor | None:
    """A reader of the account's events from now on, or from just after the account's event
    ``after``; None when the account has no such event (any more).
    """
    if after is None:
        newest = session.exec(
            select(func.max(AccountEvent.seq)).where(AccountEvent.account_id == account_id)
        ).one()
        start = newest or 0
    else:
        found = session.exec(
            select(AccountEvent.seq).where(
                AccountEvent.id == after, AccountEvent.account_id == account_id
            )
        ).first()
        if found is None:
            return None
        start = found
    wanted = frozenset(types) if types else None
    return Cursor(account_id=account_id, types=wanted, start=start, floor=start)


def read(session: Session, cursor: Cursor, real_now: datetime) -> list[AccountEvent]:
    """The events the reader has not read yet, oldest first (at most ``BATCH``), and moves
    the cursor past them.
    """
    since = real_now - LOOKBACK
    base = select(AccountEvent).where(
        AccountEvent.account_id == cursor.account_id, col(AccountEvent.seq) > cursor.start
    )
    if cursor.types is not None:
        base = base.where(col(AccountEvent.event_type).in_(sorted(cursor.types)))
    below = base.where(col(AccountEvent.seq) <= cursor.floor, col(AccountEvent.written_at) >= since)
    if cursor.recent:
        below = below.where(col(AccountEvent.seq).not_in(sorted(cursor.recent)))
    late = session.exec(below.order_by(col(AccountEvent.seq))).all()
    new = session.exec(
        base.where(col(AccountEvent.seq) > cursor.floor)
        .order_by(col(AccountEvent.seq))
        .limit(BATCH)
    ).all()
    events = [*late, *new][:BATCH]
    _advance(cursor, events, since)
    return events


def _advance(cursor: Cursor, events: Sequence[AccountEvent], since: datetime) -> None:
    for event in events:
        assert event.seq is not None
        cursor.recent[event.seq] = event.written_at
        cursor.floor = max(cursor.floor, event.seq)
    for seq, written in list(cursor.recent.items()):
        if written < since:
            del cursor.recent[seq]


class Retention:
    """Scheduler job: purge account events older than ``KEPT_FOR`` (service clock)."""

    def __call__(self, session: Session, now: datetime) -> None:
        """Purge what is older than the retention period at ``now``."""
        session.execute(delete(AccountEvent).where(col(AccountEvent.created_at) < now - KEPT_FOR))
