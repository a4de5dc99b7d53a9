"""The worker that advances due operations exactly once, each held through a lease (R60)."""

from __future__ import annotations

import logging
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.clock import Clock
from app.database import read_session, write_session
from app.errors import DomainError
from app.observability import OPERATION_SECONDS, OPERATIONS
from app.operations.models import Operation
from app.operations.rules import OperationStatus
from app.operations.service import (
    ACTIVE,
    Handler,
    UnknownOperationKind,
    read_clock_offset,
)

log = logging.getLogger("bcc_images.operations")
events = structlog.get_logger("bcc_images.operations")


def wall_clock() -> datetime:
    """Real time, for leases between processes (not a business rule, so not the Clock)."""
    return datetime.now(UTC)


class Worker:
    """Advances due operations; each is held by one worker at a time through a lease."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        handlers: Mapping[str, Handler],
        *,
        lease_seconds: float = 10.0,
        periodic: Sequence[Callable[[Session, datetime], None]] = (),
        worker_id: str | None = None,
        periodic_seconds: float = 30.0,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.handlers = dict(handlers)
        self.lease = timedelta(seconds=lease_seconds)
        self.periodic = list(periodic)
        self.periodic_seconds = periodic_seconds
        self._periodic_due = 0.0
        self.id = worker_id or f"{socket.gethostname()[:20]}-{secrets.token_hex(4)}"

    def refresh_clock(self) -> None:
        """Adopt the shared clock offset."""
        if self.clock.simulated:
            with read_session(self.engine) as session:
                self.clock.set_offset(read_clock_offset(session=session))

    def tick(self) -> int:
        """One pass: advance every due operation this worker may hold; run periodic jobs."""
        self.refresh_clock()
        done = 0
        with read_session(self.engine) as session:
            ids = list(
                session.exec(
                    select(Operation.id)
                    .where(col(Operation.status).in_(ACTIVE))
                    .order_by(col(Operation.due_at))
                    .limit(200)
                )
            )
        for operation_id in ids:
            try:
                done += self._advance(operation_id)
            except UnknownOperationKind as error:  # loud, and the others still advance
                log.error("%s", error)
        if self.periodic and time.monotonic() >= self._periodic_due:
            self.run_periodic()
        return done

    def run_periodic(self) -> None:
        """Run the periodic jobs (settlement, expiry) now; ticks do it every periodic_seconds."""
        self._periodic_due = time.monotonic() + self.periodic_seconds
        for job in self.periodic:
            with write_session(self.engine) as session:
                job(session, self.clock.now())

    def _prepare(self, operation_id: str) -> tuple[bool, object]:
        """Run a due operation's slow, read-only part (e.g. reading a file) outside any
        transaction, so other writers are not held up. Returns (prepared?, result or error).
        """
        with read_session(self.engine) as session:
            operation = session.get(Operation, operation_id)
            if operation is None or operation.status not in ACTIVE:
                return False, None
            if self.clock.now() < operation.due_at:
                return False, None
            if operation.claimed_by not in (None, self.id) and (
                operation.lease_until is not None and operation.lease_until > wall_clock()
            ):
                return False, None
            handler = self.handler(operation)
            if not handler.prepares:
                return False, None
        try:
            return True, handler.prepare(operation)
        except DomainError as error:
            return True, error

    def handler(self, operation: Operation) -> Handler:
        """The handler of the operation's kind.

        Raises:
            UnknownOperationKind: no handler is registered for it.
        """
        handler = self.handlers.get(operation.kind)
        if handler is None:
            raise UnknownOperationKind(
                f"operation {operation.id} is of kind {operation.kind!r}, which this worker "
                f"has no handler for (it knows {sorted(self.handlers)})"
            )
        return handler

    def _advance(self, operation_id: str) -> int:
        prepared, result = self._prepare(operation_id)
        real_now = wall_clock()
        with write_session(self.engine) as session:
            stmt = (
                select(Operation)
                .where(Operation.id == operation_id, col(Operation.status).in_(ACTIVE))
                .with_for_update(skip_locked=True)
            )
            operation = session.exec(stmt).first()
            if operation is None:
                return 0
            held_by_other = (
                operation.claimed_by not in (None, self.id)
                and operation.lease_until is not None
                and operation.lease_until > real_now
            )
            if held_by_other:
                return 0
            now = self.clock.now()
            if operation.claimed_by != self.id:
                operation.claimed_by = self.id
                operation.attempts += 1
                operation.started_at = operation.started_at or now
                events.info(
                    "operation running",
                    operation_id=operation.id,
                    kind=operation.kind,
                    attempt=operation.attempts,
                    worker=self.id,
                )
            operation.status = OperationStatus.RUNNING.value
            operation.lease_until = real_now + self.lease
            if now < operation.due_at:
                elapsed = (now - operation.created_at).total_seconds()
                share = elapsed / operation.duration_seconds if operation.duration_seconds else 1
                operation.progress = max(operation.progress, min(99, int(share * 100)))
                session.add(operation)
                self.handler(operation).progress(session, operation)
                return 0
            if not prepared and self.handler(operation).prepares:
                session.add(operation)  # became due meanwhile: prepare it on the next tick
                return 0
            self._finish(session, operation, now, prepared, result)
            return 1

    def _finish(
        self,
        session: Session,
        operation: Operation,
        now: datetime,
        prepared: bool = False,
        result: object = None,
    ) -> None:
        handler = self.handler(operation)
        try:
            with session.begin_nested():
                if isinstance(result, DomainError):
                    raise result
                handler.complete(session, operation, now, result if prepared else None)
            operation.status = OperationStatus.SUCCEEDED.value
            operation.progress = 100
        except DomainError as error:
            log.info("operation %s failed: %s", operation.id, error.message)
            operation.status = OperationStatus.FAILED.value
            operation.error_code = error.code.value
            operation.error_message = error.message
            handler.fail(session, operation, error, now)
        operation.finished_at = now
        session.add(operation)
        session.flush()
        seconds = (now - operation.created_at).total_seconds()
        OPERATIONS.labels(operation.kind, operation.status).inc()
        OPERATION_SECONDS.labels(operation.kind).observe(seconds)
        events.info(
            "operation finished",
            operation_id=operation.id,
            kind=operation.kind,
            status=operation.status,
            error_code=operation.error_code,
            seconds=round(seconds, 3),
        )

    def release_leases(self) -> None:
        """Let other workers take over this worker's operations at once (graceful shutdown)."""
        with write_session(self.engine) as session:
            stmt = select(Operation).where(
                Operation.claimed_by == self.id, col(Operation.status).in_(ACTIVE)
            )
            for operation in session.exec(stmt):
                operation.lease_until = None
                operation.claimed_by = None
                session.add(operation)
