"""The operation worker: every kind has its handler, registered in one place, and an
operation of a kind nobody handles is refused loudly and left alone."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.clock import Clock
from app.database import read_session, write_session
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
