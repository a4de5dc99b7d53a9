"""The worker that advances due operations exactly once, each held through a lease (R60).

An operation's slow, read-only part (inspecting an imported file: reading and hashing every
byte) runs on a few threads of its own while the worker keeps advancing the others, so one
large import does not delay other accounts' operations (R153's probe); the lease of an
operation being prepared is renewed on every tick, so no other worker prepares it too.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    targets,
)
from app.webhooks import outbox
from app.webhooks.rules import WebhookEventType

log = logging.getLogger("bcc_images.operations")
events = structlog.get_logger("bcc_images.operations")


def wall_clock() -> datetime:
    """Real time, for leases between processes (not a business rule, so not the Clock)."""
    return datetime.now(UTC)


#: how many slow preparations (file inspections) one worker runs at once
PREPARE_THREADS = 2


@dataclass
class Preparation:
    """An operation's slow part, running on a thread of its own."""

    operation_id: str
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None  # what the handler prepared, or the DomainError it raised
    crashed: bool = False  # an unexpected error (logged): prepared again on a later tick

    def run(self, handler: Handler, operation: Operation) -> None:
        """Run the handler's prepare (on the preparation's own thread)."""
        try:
            self.result = handler.prepare(operation)
        except DomainError as error:
            self.result = error
        except Exception:
            log.exception("preparing operation %s failed", operation.id)
            self.crashed = True
        finally:
            self.done.set()


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """The whole hours after ``start`` up to and including ``end``."""
    hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = []
    while hour <= end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


class Worker:
    """Advances due operations; each is held by one worker at a time through a lease.

    ``wait_for_prepared``: a tick returns only once the preparations it started are done (a
    worker driven tick by tick, as tests do); the worker a server runs in the background does
    not wait, and finishes them on a later tick.
    """

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
        prepare_threads: int = PREPARE_THREADS,
        wait_for_prepared: bool = True,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.handlers = dict(handlers)
        self.lease = timedelta(seconds=lease_seconds)
        self.periodic = list(periodic)
        self.periodic_seconds = periodic_seconds
        self.prepare_threads = prepare_threads
        self.wait_for_prepared = wait_for_prepared
        self._periodic_due = 0.0
        self._preparing: dict[str, Preparation] = {}
        self._lock = threading.Lock()
        self.id = worker_id or f"{socket.gethostname()[:20]}-{secrets.token_hex(4)}"

    def refresh_clock(self) -> None:
        """Adopt the shared clock offset."""
        if self.clock.simulated:
            with read_session(self.engine) as session:
                self.clock.set_offset(read_clock_offset(session=session))

    def tick(self) -> int:
        """One pass: advance every due operation this worker may hold (a slow preparation
        starts on its own thread), finish the prepared ones, run periodic jobs.
        """
        self.refresh_clock()
        self._renew_leases()
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
        started: list[Preparation] = []
        for operation_id in ids:
            if operation_id in self._preparing:
                continue
            try:
                done += self._advance(operation_id, started)
            except UnknownOperationKind as error:  # loud, and the others still advance
                log.error("%s", error)
        if self.wait_for_prepared:
            for preparation in started:
                preparation.done.wait()
        done += self._collect()
        if self.periodic and time.monotonic() >= self._periodic_due:
            self.run_periodic()
        return done

    def run_periodic(self, since: datetime | None = None) -> None:
        """Run the periodic jobs (settlement, expiry, releases, purges) now; ticks do it every
        periodic_seconds. With ``since`` (the time before the clock was advanced), they first
        run at each whole hour after it, in time order, each job in its own transaction, so
        one advance of N hours does what N one-hour advances do (R166).
        """
        self._periodic_due = time.monotonic() + self.periodic_seconds
        now = self.clock.now()
        for moment in [*hours_between(since, now), now] if since is not None else [now]:
            for job in self.periodic:
                with write_session(self.engine) as session:
                    job(session, moment)

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

    def _held_by_other(self, operation: Operation, real_now: datetime) -> bool:
        return (
            operation.claimed_by not in (None, self.id)
            and operation.lease_until is not None
            and operation.lease_until > real_now
        )

    def _advance(self, operation_id: str, started: list[Preparation]) -> int:
        """Claim an operation: move its progress, finish it when due, or, when its handler
        prepares, start the preparation on a thread of its own (after the claim commits).
        """
        preparation: Preparation | None = None
        try:
            with write_session(self.engine) as session:
                operation = session.exec(
                    select(Operation)
                    .where(Operation.id == operation_id, col(Operation.status).in_(ACTIVE))
                    .with_for_update(skip_locked=True)
                ).first()
                real_now = wall_clock()
                if operation is None or self._held_by_other(operation, real_now):
                    return 0
                handler, now = self.handler(operation), self.clock.now()
                if now >= operation.due_at and handler.prepares:
                    preparation = self._reserve(operation.id)
                    if preparation is None:
                        return 0  # every preparation thread is busy: a later tick
                self._claim(operation, now, real_now)
                session.add(operation)
                if now < operation.due_at:
                    self._progress(session, operation, now)
                    return 0
                if preparation is None:
                    self._finish(session, operation, now)
                    return 1
        except BaseException:
            if preparation is not None:
                self._forget(preparation)
            raise
        name = f"prepare-{operation.id}"
        args = (handler, operation)
        threading.Thread(target=preparation.run, args=args, name=name, daemon=True).start()
        started.append(preparation)
        return 0

    def _reserve(self, operation_id: str) -> Preparation | None:
        """A preparation slot for the operation, or None while every thread is busy."""
        with self._lock:
            if operation_id in self._preparing or len(self._preparing) >= self.prepare_threads:
                return None
            preparation = self._preparing[operation_id] = Preparation(operation_id)
            return preparation

    def _forget(self, preparation: Preparation) -> None:
        with self._lock:
            self._preparing.pop(preparation.operation_id, None)

    def _claim(self, operation: Operation, now: datetime, real_now: datetime) -> None:
        """Hold the operation for this worker until its lease ends."""
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

    def _progress(self, session: Session, operation: Operation, now: datetime) -> None:
        """Move an operation's progress towards its due time (and its targets')."""
        elapsed = (now - operation.created_at).total_seconds()
        share = elapsed / operation.duration_seconds if operation.duration_seconds else 1
        operation.progress = max(operation.progress, min(99, int(share * 100)))
        self.handler(operation).progress(session, operation)

    def _renew_leases(self) -> None:
        """Extend the lease of every operation this worker is still preparing."""
        with self._lock:
            ids = [i for i, p in self._preparing.items() if not p.done.is_set()]
        if not ids:
            return
        with write_session(self.engine) as session:
            stmt = select(Operation).where(
                col(Operation.id).in_(ids),
                Operation.claimed_by == self.id,
                col(Operation.status).in_(ACTIVE),
            )
            for operation in session.exec(stmt.with_for_update()):
                operation.lease_until = wall_clock() + self.lease
                session.add(operation)

    def _collect(self) -> int:
        """Finish the operations whose preparation is done; returns how many finished."""
        with self._lock:
            ready = [p for p in self._preparing.values() if p.done.is_set()]
            for preparation in ready:
                del self._preparing[preparation.operation_id]
        return sum(self._complete(p) for p in ready if not p.crashed)

    def _complete(self, preparation: Preparation) -> int:
        """Finish a prepared operation, unless it ended meanwhile or another worker holds it
        now (this worker's lease ran out).
        """
        with write_session(self.engine) as session:
            operation = session.exec(
                select(Operation)
                .where(Operation.id == preparation.operation_id, col(Operation.status).in_(ACTIVE))
                .with_for_update()
            ).first()
            real_now = wall_clock()
            if operation is None or self._held_by_other(operation, real_now):
                return 0
            now = self.clock.now()
            self._claim(operation, now, real_now)
            self._finish(session, operation, now, True, preparation.result)
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
        data = {
            "operation": {
                "id": operation.id,
                "kind": operation.kind,
                "status": operation.status,
                "targetIds": targets(operation),
                "errorCode": operation.error_code,
            }
        }
        outbox.emit(
            session=session,
            account_ids=[operation.owner_id],
            event=WebhookEventType.OPERATION_FINISHED,
            data=data,
            now=now,
        )
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
        """Let other workers take over this worker's operations at once (graceful shutdown);
        preparations still running are abandoned (their threads are daemons).
        """
        with self._lock:
            self._preparing.clear()
        with write_session(self.engine) as session:
            stmt = select(Operation).where(
                Operation.claimed_by == self.id, col(Operation.status).in_(ACTIVE)
            )
            for operation in session.exec(stmt):
                operation.lease_until = None
                operation.claimed_by = None
                session.add(operation)
