"""Operations: create, read, and the worker that advances them exactly once (R60, R61)."""

from __future__ import annotations

import abc
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import structlog
from sqlalchemy import ColumnElement, Engine
from sqlmodel import Session, SQLModel, col, select

from app.accounts.permissions import require_admin
from app.accounts.rules import Viewer
from app.clock import Clock
from app.database import read_session, saved, write_session
from app.errors import DomainError, ErrorCode
from app.ids import is_id, new_id
from app.observability import OPERATION_SECONDS, OPERATIONS
from app.operations.models import ClockState, Operation
from app.operations.rules import OperationStatus
from app.pagination import Page, PageRequest, given, newest_first
from app.visibility import by_ids, owned_by

Row = TypeVar("Row", bound=SQLModel)

log = logging.getLogger("bcc_images.operations")
events = structlog.get_logger("bcc_images.operations")

#: states of an operation still to be advanced
ACTIVE = (OperationStatus.PENDING.value, OperationStatus.RUNNING.value)


class Handler(abc.ABC):
    """What advancing one kind of operation does to its targets.

    A handler with slow, read-only work to do when the operation is due (reading a file)
    sets ``prepares`` and overrides ``prepare``: the worker runs it outside any transaction
    and hands its result to ``complete``.
    """

    prepares: ClassVar[bool] = False

    def prepare(self, operation: Operation) -> object:
        """The slow read-only part; raise DomainError to fail the operation."""
        raise NotImplementedError

    def progress(self, session: Session, operation: Operation) -> None:  # noqa: B027
        """Mirror the operation's progress onto its targets (nothing by default)."""

    @abc.abstractmethod
    def complete(
        self, session: Session, operation: Operation, now: datetime, prepared: object
    ) -> None:
        """Apply the operation's effect; raise DomainError to fail it instead."""

    @abc.abstractmethod
    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """Undo or mark the targets after a failure."""


class UnknownOperationKind(LookupError):
    """An operation of a kind no handler is registered for: a deployment error, never
    resolved by guessing. The operation is left as it is for a worker that knows it.
    """


def create(
    *,
    session: Session,
    kind: str,
    owner_id: str,
    target_ids: Sequence[str],
    now: datetime,
    duration_seconds: float,
    payload: dict[str, Any] | None = None,
) -> Operation:
    """Persist a new PENDING operation due ``duration_seconds`` from now."""
    operation = Operation(
        id=new_id("op"),
        kind=kind,
        status=OperationStatus.PENDING.value,
        owner_id=owner_id,
        target_ids=json.dumps(list(target_ids)),
        payload=json.dumps(payload or {}),
        duration_seconds=duration_seconds,
        created_at=now,
        due_at=now + timedelta(seconds=duration_seconds),
    )
    return saved(session, operation)


def duration(base: float, per_gb: float, size_gb: int | None) -> float:
    """Simulated duration: a base plus a per-GB part (R61)."""
    return base + per_gb * (size_gb or 0)


def visible_clause(viewer: Viewer | None) -> ColumnElement[bool]:
    """Who sees which operation: its owner, and administrators."""
    return owned_by(viewer, col(Operation.owner_id))


def get(*, session: Session, viewer: Viewer, operation_id: str) -> Operation | None:
    """Return an operation the viewer owns (or any, for admins)."""
    if not is_id(operation_id, "op"):
        return None
    stmt = select(Operation).where(Operation.id == operation_id, visible_clause(viewer))
    return session.exec(stmt).first()


def list_by_ids(*, session: Session, viewer: Viewer, ids: Sequence[str]) -> list[Operation]:
    """Return the viewer's operations among these ids."""
    return by_ids(session, Operation, ids, "op", visible_clause(viewer))


@dataclass(frozen=True)
class OperationFilter:
    """Filters of the operations query."""

    kind: str | None = None
    status: str | None = None
    target: str | None = None


def list_operations(
    *, session: Session, viewer: Viewer, filters: OperationFilter, page: PageRequest
) -> Page[Operation]:
    """Return one keyset page of the viewer's operations, newest first."""
    stmt = select(Operation).where(
        visible_clause(viewer),
        *given((Operation.kind, filters.kind), (Operation.status, filters.status)),
    )
    if filters.target is not None:
        stmt = stmt.where(col(Operation.target_ids).contains(f'"{filters.target}"'))
    return newest_first(session, stmt, Operation, page)


def targets(operation: Operation) -> list[str]:
    """The ids of the resources an operation works on."""
    value: list[str] = json.loads(operation.target_ids)
    return value


def target_rows(
    session: Session, operation: Operation, table: type[Row], status: str | None = None
) -> list[Row]:
    """The rows of ``table`` an operation works on (those still in ``status``, if given)."""
    where = [] if status is None else [table.__table__.c.status == status]  # type: ignore[attr-defined]
    return by_ids(session, table, targets(operation), None, *where)


def payload(operation: Operation) -> dict[str, Any]:
    """The operation's parameters."""
    value: dict[str, Any] = json.loads(operation.payload)
    return value


def cancel(*, session: Session, operation: Operation, now: datetime) -> None:
    """Mark an active operation CANCELLED (its handler's owner undoes the targets)."""
    operation.status = OperationStatus.CANCELLED.value
    operation.finished_at = now
    session.add(operation)
    session.flush()


# --- the clock offset, shared through the database (R63) --------------------------------


def read_clock_offset(*, session: Session) -> float:
    """The simulated clock's offset in seconds (0 if never advanced)."""
    state = session.get(ClockState, 1)
    return state.offset_seconds if state else 0.0


MAX_ADVANCE = 10 * 366 * 24 * 3600


def advance_clock(*, session: Session, viewer: Viewer, clock: Clock, seconds: int) -> float:
    """Move the shared simulated clock forward (administrators only); returns the new offset.

    Raises:
        DomainError: PERMISSION_DENIED, CLOCK_NOT_SIMULATED, INVALID_INPUT.
    """
    require_admin(viewer)
    if not clock.simulated:
        raise DomainError(
            ErrorCode.CLOCK_NOT_SIMULATED,
            "The clock is real; start the service with BCC_IMAGES_SIMULATED_CLOCK=1.",
        )
    if not 1 <= seconds <= MAX_ADVANCE:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"seconds is 1 to {MAX_ADVANCE}.", ("input", "seconds")
        )
    state = session.exec(select(ClockState).where(ClockState.id == 1).with_for_update()).first()
    if state is None:
        state = ClockState(id=1, offset_seconds=0.0)
    state.offset_seconds += seconds
    session.add(state)
    session.flush()
    return state.offset_seconds


# --- the worker -----------------------------------------------------------------------------


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
