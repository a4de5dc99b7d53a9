"""Operations: create and read them, the handler protocol, and the shared simulated clock
(R60, R61, R63); ``app.operations.worker`` advances them.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from sqlalchemy import ColumnElement
from sqlmodel import Session, SQLModel, col, select

from app.accounts.permissions import require_admin
from app.clock import Clock
from app.database import saved
from app.errors import DomainError, ErrorCode
from app.ids import is_id, new_id
from app.operations.models import Operation
from app.operations.rules import OperationStatus
from app.pagination import Page, PageRequest, given, newest_first
from app.platform.schedule import ClockState
from app.platform.viewer import Viewer
from app.platform.visibility import by_ids, owned_by

Row = TypeVar("Row", bound=SQLModel)


#: states of an operation still to be advanced
ACTIVE = (OperationStatus.PENDING.value, OperationStatus.RUNNING.value)


class Handler(abc.ABC):
    """What advancing one kind of operation does to its targets.

    A handler with slow, read-only work to do when the operation is due (reading a file)
    sets ``prepares`` and overrides ``prepare``: the worker runs it outside any transaction,
    on a thread of its own while it advances the other operations (holding this one's lease
    meanwhile), and hands its result to ``complete``.
    """

    prepares: ClassVar[bool] = False

    def prepare(self, operation: Operation) -> object:
        """The slow read-only part (run on its own thread); raise DomainError to fail the
        operation.
        """
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


def transaction_time(*, session: Session, clock: Clock) -> datetime:
    """The service's time for a writing transaction, read before it locks anything else.

    A simulated clock's shared offset is read under a shared lock on its row, held until the
    transaction ends: advanceClock (which locks the row to move it) waits for the transaction,
    and a transaction that waited for an advance reads the advanced time (R166). A real clock
    cannot jump; its time is read as it is.
    """
    if clock.simulated:
        state = session.exec(
            select(ClockState).where(ClockState.id == 1).with_for_update(read=True)
        ).first()
        clock.set_offset(state.offset_seconds if state else 0.0)
    return clock.now()


def time_after_locks(*, session: Session, clock: Clock) -> datetime:
    """The service's time as a transaction that already holds its locks must read it: with
    the shared offset as last committed, since another process may have advanced the clock
    (and settled up to the new time) while this one waited (R166).
    """
    if clock.simulated:
        clock.set_offset(read_clock_offset(session=session))
    return clock.now()


#: the most one advanceClock may move the clock (each due hour is run in turn)
MAX_ADVANCE = 40 * 24 * 3600


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
            ErrorCode.INVALID_INPUT,
            f"seconds is 1 to {MAX_ADVANCE} (40 days).",
            ("input", "seconds"),
        )
    state = session.exec(select(ClockState).where(ClockState.id == 1).with_for_update()).first()
    if state is None:
        state = ClockState(id=1, offset_seconds=0.0)
    state.offset_seconds += seconds
    session.add(state)
    session.flush()
    return state.offset_seconds
