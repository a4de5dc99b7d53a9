"""Keyset pagination: opaque cursors over (sort value, id), never OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlmodel import Session

from app.errors import BadRequest

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20


@dataclass(frozen=True)
class PageRequest:
    """What page the client asked for (Relay arguments)."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass(frozen=True)
class Ordering:
    """A sort column (besides the id tie-breaker), its name in cursors, and its direction."""

    key: str
    column: Any
    descending: bool
    id_column: Any


@dataclass
class Page(Generic[T]):
    """One page of rows, with their cursors and Relay page info."""

    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    count: Callable[[], int]


def encode_cursor(ordering: Ordering, value: object, row_id: str) -> str:
    """Encode a row's position as an opaque cursor."""
    if isinstance(value, datetime):
        value = ["t", value.isoformat()]
    raw = json.dumps([ordering.key, ordering.descending, value, row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(ordering: Ordering, cursor: str, argument: str) -> tuple[object, str]:
    """Decode a cursor made for the same ordering, or raise BadRequest."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, descending, value, row_id = json.loads(raw)
        if isinstance(value, list):
            value = datetime.fromisoformat(value[1])
    except (binascii.Error, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise BadRequest(f"'{argument}' is not a valid cursor.") from exc
    if key != ordering.key or descending != ordering.descending or not isinstance(row_id, str):
        raise BadRequest(f"'{argument}' is a cursor of a list with a different order.")
    return value, row_id


def _check_size(name: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX_PAGE:
        raise BadRequest(f"'{name}' must be between 0 and {MAX_PAGE}; got {value}.")


def paginate(
    session: Session,
    stmt: Any,  # a Select of the rows to page (one entity, or several joined)
    ordering: Ordering,
    request: PageRequest,
    sort_value: Callable[[Any], object],
    row_id: Callable[[Any], str] = lambda row: str(row.id),
) -> Page[Any]:
    """Run one keyset-paginated query for the requested page.

    ``stmt`` selects the filtered rows; this adds the ordering, the cursor predicate and
    LIMIT n+1. The total is a separate COUNT, run only if the caller asks for it.
    """
    _check_size("first", request.first)
    _check_size("last", request.last)
    if request.first is not None and request.last is not None:
        raise BadRequest("Pass either 'first' or 'last', not both.")
    backward = request.last is not None or (request.before is not None and request.first is None)
    size = request.last if backward else request.first
    limit = DEFAULT_PAGE if size is None else size
    col, id_col = ordering.column, ordering.id_column
    # Walking backward reverses the sort; the page is flipped back afterwards.
    descending = ordering.descending != backward
    cursor_arg = "before" if backward else "after"
    cursor = request.before if backward else request.after
    paged = stmt
    if cursor is not None:
        value, last_id = decode_cursor(ordering, cursor, cursor_arg)
        key = tuple_(col, id_col)
        bound: ColumnElement[bool] = (
            key < tuple_(value, last_id) if descending else key > tuple_(value, last_id)
        )
        paged = paged.where(bound)
    paged = paged.order_by(
        col.desc() if descending else col.asc(), id_col.desc() if descending else id_col.asc()
    ).limit(limit + 1)
    rows = list(session.exec(paged).all()) if limit > 0 else []
    more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
    cursors = [encode_cursor(ordering, sort_value(r), row_id(r)) for r in rows]

    def count() -> int:
        total = select(func.count()).select_from(stmt.order_by(None).subquery())
        return int(session.scalar(total) or 0)

    return Page(
        items=rows,
        cursors=cursors,
        has_next_page=more if not backward else request.before is not None,
        has_previous_page=more if backward else cursor is not None,
        count=count,
    )
