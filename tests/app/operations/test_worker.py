"""The operation worker: every kind has its handler, registered in one place, and an
operation of a kind nobody handles is refused loudly and left alone."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.clock import Clock
from app.database import read_session, write_session
from app.errors import DomainError
from app.operations import service as operations_service
from app.operations.models import Operation
from app.operations.rules import OperationKind
from app.operations.worker import Worker
from app.storage.store import LocalObjectStore
from app.workflows.registry import operation_handlers
from tests.factories import Factory


def test_every_operation_kind_has_a_handler(tmp_path: Path) -> None:
    handlers = operation_handlers(LocalObjectStore(tmp_path))
    assert set(handlers) == {kind.value for kind in OperationKind}
    assert all(isinstance(h, operations_service.Handler) for h in handlers.values())


def test_only_the_import_handler_prepares_outside_a_transaction(tmp_path: Path) -> None:
    handlers = operation_handlers(LocalObjectStore(tmp_path))
    assert {k for k, h in handlers.items() if h.prepares} == {OperationKind.IMPORT_IMAGE.value}


def test_an_unknown_kind_is_logged_and_left_for_a_worker_that_knows_it(
    engine: Engine, factory: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    account = factory.account()
    clock = Clock(simulated=False)
    now = clock.now()
    with write_session(engine) as session:
        stray = operations_service.create(
            session=session,
            kind="DEFRAGMENT_IMAGE",
            owner_id=account.id,
            target_ids=[],
            now=now - timedelta(hours=1),
            duration_seconds=0,
        )
        known = operations_service.create(
            session=session,
            kind=OperationKind.CREATE_SNAPSHOT.value,
            owner_id=account.id,
            target_ids=[],
            now=now - timedelta(hours=1),
            duration_seconds=0,
        )
    worker = Worker(engine, clock, operation_handlers(LocalObjectStore(tmp_path)))
    with caplog.at_level(logging.ERROR, logger="bcc_images.operations"):
        worker.tick()
    assert any("DEFRAGMENT_IMAGE" in r.getMessage() for r in caplog.records)
    with read_session(engine) as session:
        left = session.get(Operation, stray.id)
        done = session.get(Operation, known.id)
    with write_session(engine) as session:  # the database is shared with other tests
        session.delete(session.get(Operation, stray.id))
    assert left is not None and left.status == "PENDING" and left.attempts == 0
    assert done is not None and done.status == "SUCCEEDED"


class SlowInspection(operations_service.Handler):
    """An IMPORT_IMAGE stand-in whose slow part waits until the test lets it go."""

    prepares = True

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.prepared = 0

    def prepare(self, operation: Operation) -> object:
        self.prepared += 1
        self.started.set()
        assert self.release.wait(timeout=30)
        return "inspected"

    def complete(
        self, session: Session, operation: Operation, now: datetime, prepared: object
    ) -> None:
        assert prepared == "inspected"

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        raise AssertionError(error)


def _due(engine: Engine, factory: Factory, *kinds: OperationKind) -> list[str]:
    account = factory.account()
    with write_session(engine) as session:
        return [
            operations_service.create(
                session=session,
                kind=kind.value,
                owner_id=account.id,
                target_ids=[],
                now=Clock(simulated=False).now() - timedelta(seconds=1),
                duration_seconds=0,
            ).id
            for kind in kinds
        ]


def _status(engine: Engine, operation_id: str) -> Operation:
    with read_session(engine) as session:
        operation = session.get(Operation, operation_id)
    assert operation is not None
    return operation


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_slow_preparation_does_not_hold_up_the_other_operations(
    engine: Engine, factory: Factory, tmp_path: Path
) -> None:
    """R153's probe: a large import was inspected on the worker's only thread, so another
    account's quick operation waited for it. Now it finishes while the inspection runs."""
    slow = SlowInspection()
    handlers = {**operation_handlers(LocalObjectStore(tmp_path)), "IMPORT_IMAGE": slow}
    inspected, quick = _due(
        engine, factory, OperationKind.IMPORT_IMAGE, OperationKind.CREATE_SNAPSHOT
    )
    worker = Worker(engine, Clock(simulated=False), handlers)
    ticking = threading.Thread(target=worker.tick)
    ticking.start()
    try:
        assert slow.started.wait(timeout=10)
        quick_done = _until(lambda: _status(engine, quick).status == "SUCCEEDED")
        still_inspecting = _status(engine, inspected).status == "RUNNING"
    finally:
        slow.release.set()
        ticking.join(timeout=30)
    assert quick_done and still_inspecting
    _until(lambda: _status(engine, inspected).status == "SUCCEEDED")  # a later tick collects it
    worker.tick()
    assert _status(engine, inspected).status == "SUCCEEDED" and slow.prepared == 1


def test_an_operation_being_prepared_is_held_and_its_lease_renewed(
    engine: Engine, factory: Factory, tmp_path: Path
) -> None:
    """While one worker inspects, its lease is renewed on every tick and no other worker
    (another process) inspects the same file; the worker that inspected finishes it."""
    slow = SlowInspection()
    handlers = {**operation_handlers(LocalObjectStore(tmp_path)), "IMPORT_IMAGE": slow}
    (inspected,) = _due(engine, factory, OperationKind.IMPORT_IMAGE)
    first = Worker(engine, Clock(simulated=False), handlers, lease_seconds=2, worker_id="first")
    other = Worker(engine, Clock(simulated=False), handlers, lease_seconds=2, worker_id="other")
    ticking = threading.Thread(target=first.tick)
    ticking.start()
    try:
        assert slow.started.wait(timeout=10)
        assert _until(lambda: _status(engine, inspected).claimed_by == "first")
        leases: list[datetime] = []
        for _ in range(3):  # past the first lease: the first worker's ticks renew it
            time.sleep(1)
            first.tick()
            other.tick()
            lease = _status(engine, inspected).lease_until
            assert lease is not None
            leases.append(lease)
    finally:
        slow.release.set()
        ticking.join(timeout=30)
    assert leases == sorted(leases) and len(set(leases)) == 3
    first.tick()
    done = _status(engine, inspected)
    assert (done.status, done.claimed_by, done.attempts) == ("SUCCEEDED", "first", 1)
    assert slow.prepared == 1
