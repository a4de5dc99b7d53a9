"""An account's events as the accountEvents subscription reads them (R179): from the moment
it subscribes or from an event it names, each event once, in order, including an event that
commits after a later-numbered one was read (PostgreSQL numbers rows when written)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.database import read_session, write_session
from app.webhooks import outbox, stream
from app.webhooks.models import AccountEvent
from app.webhooks.rules import WebhookEventType
from tests.factories import Factory

T0 = datetime(2027, 3, 1, 12, tzinfo=UTC)


def _emit(engine: Engine, account_ids: list[str], n: int, at: datetime = T0) -> None:
    with write_session(engine) as session:
        outbox.emit(
            session=session,
            account_ids=account_ids,
            event=WebhookEventType.OPERATION_FINISHED,
            data={"n": n},
            now=at,
        )


def _read(engine: Engine, cursor: stream.Cursor, real_now: datetime) -> list[int]:
    with read_session(engine) as session:
        return [orjson.loads(e.data)["n"] for e in stream.read(session, cursor, real_now)]


def _events_of(session: Session, account_id: str) -> list[AccountEvent]:
    query = select(AccountEvent).where(AccountEvent.account_id == account_id)
    return list(session.exec(query.order_by(col(AccountEvent.seq))))


def test_a_reader_gets_its_accounts_events_from_when_it_began_each_once(
    engine: Engine, factory: Factory
) -> None:
    mine, theirs = factory.account().id, factory.account().id
    _emit(engine, [mine], 1)
    with read_session(engine) as session:
        cursor = stream.open_cursor(session, mine, None, None)
    assert cursor is not None
    _emit(engine, [mine, theirs], 2)
    _emit(engine, [theirs], 3)
    _emit(engine, [mine], 4)
    now = datetime.now(UTC)
    assert _read(engine, cursor, now) == [2, 4]
    assert _read(engine, cursor, now) == []
    _emit(engine, [mine], 5)
    assert _read(engine, cursor, now) == [5]


def test_a_reader_resumes_after_an_event_and_filters_by_type(
    engine: Engine, factory: Factory
) -> None:
    mine, theirs = factory.account().id, factory.account().id
    for n in range(1, 4):
        _emit(engine, [mine, theirs], n)
    with read_session(engine) as session:
        first, *_ = _events_of(session, mine)
        cursor = stream.open_cursor(session, mine, None, first.id)
        assert stream.open_cursor(session, theirs, None, first.id) is None  # not theirs
        only_sales = stream.open_cursor(session, mine, ["SALE_CREATED"], first.id)
    assert cursor is not None and only_sales is not None
    now = datetime.now(UTC)
    assert _read(engine, cursor, now) == [2, 3]
    assert _read(engine, only_sales, now) == []


def test_an_event_committed_late_below_the_last_one_read_is_still_read_once(
    engine: Engine, factory: Factory
) -> None:
    """On PostgreSQL an event numbered 7 may commit after 8 was read: the reader looks below
    what it read for events written within the last minute."""
    mine = factory.account().id
    with read_session(engine) as session:
        cursor = stream.open_cursor(session, mine, None, None)
    assert cursor is not None
    _emit(engine, [mine], 1)
    _emit(engine, [mine], 2)
    now = datetime.now(UTC)
    assert _read(engine, cursor, now) == [1, 2]
    # as if event 1 had not been committed yet when 2 was read: forget having read it
    late = min(cursor.recent)
    del cursor.recent[late]
    assert _read(engine, cursor, now) == [1]
    assert _read(engine, cursor, now) == []
    # after the look-back window the reader no longer looks below the last event it read
    del cursor.recent[late]
    assert _read(engine, cursor, now + stream.LOOKBACK + timedelta(seconds=1)) == []
    assert cursor.recent == {}  # and keeps no numbers older than the window


def test_a_reader_reads_in_batches(engine: Engine, factory: Factory) -> None:
    mine = factory.account().id
    with read_session(engine) as session:
        cursor = stream.open_cursor(session, mine, None, None)
    assert cursor is not None
    for n in range(stream.BATCH + 5):
        _emit(engine, [mine], n)
    now = datetime.now(UTC)
    assert _read(engine, cursor, now) == list(range(stream.BATCH))
    assert _read(engine, cursor, now) == list(range(stream.BATCH, stream.BATCH + 5))


def test_events_are_kept_for_a_week(engine: Engine, factory: Factory) -> None:
    mine = factory.account().id
    _emit(engine, [mine], 1, at=T0)
    _emit(engine, [mine], 2, at=T0 + timedelta(days=1))
    with write_session(engine) as session:
        stream.Retention()(session, T0 + stream.KEPT_FOR + timedelta(hours=1))
    with read_session(engine) as session:
        kept = _events_of(session, mine)
    assert [row.data for row in kept] == ['{"n":2}']
