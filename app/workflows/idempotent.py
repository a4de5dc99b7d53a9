"""One clientToken skeleton for every create-style mutation (R62).

``once`` runs the work the first time a token is used, stores the ids of the rows the
result holds, and answers a repeat of the same request with those rows reloaded; the
same token with a different request is refused (see ``app.platform.idempotency``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel

from app.billing.models import Order
from app.images.models import Image
from app.instances.models import Instance
from app.operations.models import Operation
from app.platform import idempotency
from app.snapshots.models import Snapshot

R = TypeVar("R")

#: the row class behind each id prefix a result may hold
ROWS: dict[str, type[SQLModel]] = {
    "m": Image,
    "op": Operation,
    "i": Instance,
    "ord": Order,
    "s": Snapshot,
}


def once(
    *,
    session: Session,
    account_id: str,
    mutation: str,
    token: str | None,
    request: dict[str, Any],
    now: datetime,
    result: type[R],
    work: Callable[[], R],
) -> R:
    """Run ``work`` unless this token already ran it; then answer with the same rows.

    ``work`` returns a ``result``: a dataclass whose fields are rows, lists of rows, None or
    tuples of plain JSON values.

    Raises:
        DomainError: IDEMPOTENCY_CONFLICT when the token was used for a different request,
            INVALID_INPUT for a malformed token, and whatever ``work`` raises.
    """
    if token is None:
        return work()
    stored = idempotency.claim(
        session=session,
        account_id=account_id,
        mutation=mutation,
        token=token,
        request=request,
        now=now,
    )
    if stored is not None:
        return _reload(session, result, stored)
    done = work()
    idempotency.remember(
        session=session,
        account_id=account_id,
        mutation=mutation,
        token=token,
        result=ids_of(done),
    )
    return done


def ids_of(result: object) -> dict[str, Any]:
    """The ids of the rows a result holds, field by field."""
    stored: dict[str, Any] = {}
    for field in dataclasses.fields(result):  # type: ignore[arg-type]
        value = getattr(result, field.name)
        if isinstance(value, tuple):  # plain values (such as warnings), kept as they are
            stored[field.name] = {"values": list(value)}
        elif isinstance(value, list):
            stored[field.name] = [row.id for row in value]
        else:
            stored[field.name] = None if value is None else value.id
    return stored


def _reload(session: Session, result: type[R], stored: dict[str, Any]) -> R:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(result):  # type: ignore[arg-type]
        value = stored.get(field.name)
        if field.name not in stored and field.default is not dataclasses.MISSING:
            continue  # recorded before the field existed: its default
        if isinstance(value, dict):
            values[field.name] = tuple(value["values"])
        elif isinstance(value, list):
            values[field.name] = [_row(session, i) for i in value]
        else:
            values[field.name] = None if value is None else _row(session, value)
    return result(**values)


def _row(session: Session, row_id: str) -> Any:
    row = session.get(ROWS[row_id.split("-", 1)[0]], row_id)
    if row is None:
        raise AssertionError(f"an idempotency record points at {row_id}, which is gone")
    return row
