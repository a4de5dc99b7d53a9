"""Reading an account's events as they come (R179, the ``accountEvents`` subscription).

A reader keeps its place as the ``(xid, seq)`` of the last event it read and reads what
follows in that order (see ``AccountEvent``). On PostgreSQL it reads only events written by
transactions older than every one still running (below the current snapshot's ``xmin``):
those are final, so an event committed late is read after the events before it, never lost
behind them. A long transaction elsewhere delays events, never drops them. On SQLite,
writers take turns: the numbers are the order of commits.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Text, cast, delete, func, tuple_
from sqlmodel import Session, col, select

from app.webhooks.models import AccountEvent

#: events read at a time
BATCH = 100
#: events are kept this long after they happened (service clock), then purged
KEPT_FOR = timedelta(days=7)


@dataclass
class Cursor:
    """Where one reader of one account's events stands."""

    account_id: str
    types: frozenset[str] | None  # the event types it wants; None: every type
    position: tuple[int, int]  # (xid, seq) of the last event read, or where it began


def open_cursor(
    session: Session, account_id: str, types: Collection[str] | None, after: str | None
) -> Cursor | None:
    """A reader of the account's events from now on, or from just after the account's event
    ``after``; None when the account has no such event (any more). "From now on" may include
    an event committed a moment before, never miss one committed after.
    """
    if after is None:
        position = (_oldest_running(session), 0) if _transactional(session) else _newest(session)
    else:
        found = session.exec(
            select(AccountEvent.xid, AccountEvent.seq).where(
                AccountEvent.id == after, AccountEvent.account_id == account_id
            )
        ).first()
        if found is None or found[1] is None:
            return None
        position = (found[0], found[1])
    wanted = frozenset(types) if types else None
    return Cursor(account_id=account_id, types=wanted, position=position)


def read(session: Session, cursor: Cursor) -> list[AccountEvent]:
    """The events after the reader's place, in order (at most ``BATCH``); moves it past them."""
    order = tuple_(col(AccountEvent.xid), col(AccountEvent.seq))
    query = select(AccountEvent).where(
        AccountEvent.account_id == cursor.account_id, order > tuple_(*cursor.position)
    )
    if cursor.types is not None:
        query = query.where(col(AccountEvent.event_type).in_(sorted(cursor.types)))
    if _transactional(session):
        query = query.where(col(AccountEvent.xid) < _xmin())
    events = list(
        session.exec(query.order_by(col(AccountEvent.xid), col(AccountEvent.seq)).limit(BATCH))
    )
    if events:
        last = events[-1]
        assert last.seq is not None
        cursor.position = (last.xid, last.seq)
    return events


def transaction_id(session: Session) -> Any:
    """What an event's ``xid`` is written as: this transaction's id on PostgreSQL (computed
    by the insert), 0 on SQLite.
    """
    return _bigint(func.pg_current_xact_id()) if _transactional(session) else 0


def _transactional(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _xmin() -> Any:
    """The oldest transaction still running, as of this statement (PostgreSQL)."""
    return _bigint(func.pg_snapshot_xmin(func.pg_current_snapshot()))


def _bigint(xid8: Any) -> Any:
    return cast(cast(xid8, Text), BigInteger)


def _oldest_running(session: Session) -> int:
    found: int = session.exec(select(_xmin())).one()
    return found


def _newest(session: Session) -> tuple[int, int]:
    newest = session.exec(select(func.max(AccountEvent.seq))).one()
    return (0, newest or 0)


class Retention:
    """Scheduler job: purge account events older than ``KEPT_FOR`` (service clock)."""

    def __call__(self, session: Session, now: datetime) -> None:
        """Purge what is older than the retention period at ``now``."""
        session.execute(delete(AccountEvent).where(col(AccountEvent.created_at) < now - KEPT_FOR))
