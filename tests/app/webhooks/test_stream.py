"""An account's events as the accountEvents subscription reads them (R179): from the moment
it subscribes or from an event it names, each event once, in order; on PostgreSQL an event
committed after a later-numbered one is read before it, never lost behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.database import read_session, write_session
from app.webhooks import outbox, stream
from app.webhooks.models import AccountEvent
from app.webhooks.rules import WebhookEventType
from tests.factories import Factory

T0 = datetime(2027, 3, 1, 12, tzinfo=UTC)


def _write(session: Session, account_ids: list[str], n: int, at: datetime = T0) -> None:
    outbox.emit(
        session=session,
        account_ids=account_ids,
        event=WebhookEventType.OPERATION_FINISHED,
        data={"n": n},
        now=at,
    )


def _emit(engine: Engine, account_ids: list[str], n: int, at: datetime = T0) -> None:
    with write_session(engine) as session:
        _write(session, account_ids, n, at)


def _read(engine: Engine, cursor: stream.Cursor) -> list[int]:
    with read_session(engine) as session:
        return [orjson.loads(e.data)["n"] for e in stream.read(session, cursor)]


def _cursor(engine: Engine, account_id: str, after: str | None = None) -> stream.Cursor:
    with read_session(engine) as session:
        cursor = stream.open_cursor(session, account_id, None, after)
    assert cursor is not None
    return cursor


def _events_of(session: Session, account_id: str) -> list[AccountEvent]:
    query = select(AccountEvent).where(AccountEvent.account_id == account_id)
    return list(session.exec(query.order_by(col(AccountEvent.seq))))


def test_a_reader_gets_its_accounts_events_from_when_it_began_each_once(
    engine: Engine, factory: Factory
) -> None:
    mine, theirs = factory.account().id, factory.account().id
    _emit(engine, [mine], 1)
    cursor = _cursor(engine, mine)
    _emit(engine, [mine, theirs], 2)
    _emit(engine, [theirs], 3)
    _emit(engine, [mine], 4)
    assert _read(engine, cursor) == [2, 4]
    assert _read(engine, cursor) == []
    _emit(engine, [mine], 5)
    assert _read(engine, cursor) == [5]


def test_a_reader_resumes_after_an_event_and_filters_by_type(
    engine: Engine, factory: Factory
) -> None:
    mine, theirs = factory.account().id, factory.account().id
    for n in range(1, 4):
        _emit(engine, [mine, theirs], n)
    with read_session(engine) as session:
        first, *_ = _events_of(session, mine)
        assert stream.open_cursor(session, theirs, None, first.id) is None  # not theirs
        only_sales = stream.open_cursor(session, mine, ["SALE_CREATED"], first.id)
    assert only_sales is not None
    assert _read(engine, _cursor(engine, mine, first.id)) == [2, 3]
    assert _read(engine, only_sales) == []


def test_a_reader_reads_in_batches(engine: Engine, factory: Factory) -> None:
    mine = factory.account().id
    cursor = _cursor(engine, mine)
    for n in range(stream.BATCH + 5):
        _emit(engine, [mine], n)
    assert _read(engine, cursor) == list(range(stream.BATCH))
    assert _read(engine, cursor) == list(range(stream.BATCH, stream.BATCH + 5))


def test_an_event_committed_late_is_read_before_the_later_ones_never_lost(
    engine: Engine, factory: Factory
) -> None:
    """PostgreSQL numbers rows when they are written: event 1 is written first and committed
    last. A reader reads nothing past it while its transaction runs, then both, in order."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns: an event is committed in its number's order")
    mine = factory.account().id
    cursor = _cursor(engine, mine)
    with write_session(engine) as slow:
        _write(slow, [mine], 1)
        slow.flush()
        _emit(engine, [mine], 2)  # written after 1, committed before it
        assert _read(engine, cursor) == []  # 2 waits for the transaction that wrote 1
    assert _read(engine, cursor) == [1, 2]
    assert _read(engine, cursor) == []


def test_numbers_are_not_reused_once_every_event_is_purged(
    engine: Engine, factory: Factory
) -> None:
    """A reader that read event N keeps reading after the retention emptied the table."""
    mine = factory.account().id
    _emit(engine, [mine], 1, at=T0 - timedelta(days=30))
    with read_session(engine) as session:
        [old] = _events_of(session, mine)
    cursor = _cursor(engine, mine, old.id)
    with write_session(engine) as session:
        session.execute(AccountEvent.__table__.delete())  # type: ignore[attr-defined]
    _emit(engine, [mine], 2)
    assert _read(engine, cursor) == [2]


def test_events_are_kept_for_a_week(engine: Engine, factory: Factory) -> None:
    mine = factory.account().id
    _emit(engine, [mine], 1, at=T0)
    _emit(engine, [mine], 2, at=T0 + timedelta(days=1))
    with write_session(engine) as session:
        stream.Retention()(session, T0 + stream.KEPT_FOR + timedelta(hours=1))
    with read_session(engine) as session:
        kept = _events_of(session, mine)
    assert [row.data for row in kept] == ['{"n":2}']
