"""Keyset pagination: opaque cursors over (sort value, id), never OFFSET."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Integer, String, bindparam, func, literal, select, tuple_
from sqlmodel import Session

from app.errors import BadRequest

if TYPE_CHECKING:
    from app.database import PageReads

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20


def given(*pairs: tuple[Any, object | None]) -> list[ColumnElement[bool]]:
    """A list's filters as clauses: ``column == value`` for each value the caller gave."""
    return [column == value for column, value in pairs if value is not None]


@dataclass(frozen=True)
class PageRequest:
    """What page the client asked for (Relay arguments), and what its cursors are bound to:
    ``scope`` names the list (field, parent, filters) and ``secret`` signs the cursors.
    """

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None
    scope: str = ""
    secret: bytes = b""


@dataclass(frozen=True)
class Ordering:
    """A sort column (besides the id tie-breaker), its name in cursors, and its direction."""

    key: str
    column: Any
    descending: bool
    id_column: Any


@dataclass
class Page(Generic[T]):
    """One page of rows and Relay page info; cursors are encoded only when asked for."""

    items: list[T]
    has_next_page: bool
    has_previous_page: bool
    count: Callable[[], int]
    cursor_of: Callable[[T], str]

    def cursor(self, index: int) -> str:
        """The cursor of the item at ``index`` (negative counts from the end)."""
        return self.cursor_of(self.items[index])

    @property
    def cursors(self) -> list[str]:
        """Every item's cursor."""
        return [self.cursor_of(item) for item in self.items]


SIGNATURE_BYTES = 12


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(request: PageRequest, payload: bytes) -> bytes:
    message = request.scope.encode() + b"\x00" + payload
    return hmac.new(request.secret, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def encode_cursor(ordering: Ordering, value: object, row_id: str, request: PageRequest) -> str:
    """Encode a row's position as an opaque cursor, signed for this list only."""
    if isinstance(value, datetime):
        value = ["t", value.isoformat()]
    payload = json.dumps([ordering.key, ordering.descending, value, row_id], separators=(",", ":"))
    raw = payload.encode()
    return f"{_b64(raw)}.{_b64(_signature(request, raw))}"


def decode_cursor(
    ordering: Ordering, cursor: str, argument: str, request: PageRequest
) -> tuple[object, str]:
    """Decode a cursor this list signed, or raise BadRequest (a cursor of another list, of
    another ordering or filter, or altered, is refused).
    """
    try:
        encoded, dot, signature = cursor.partition(".")
        raw, mac = _unb64(encoded), _unb64(signature)
        if not dot or len(mac) != SIGNATURE_BYTES:
            raise ValueError(cursor)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"'{argument}' is not a valid cursor.") from exc
    if not hmac.compare_digest(mac, _signature(request, raw)):
        raise BadRequest(f"'{argument}' is not a cursor of this list.")
    try:
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


@dataclass(frozen=True)
class Window:
    """What a page request asks of an ordered list: direction, size and the cursor bound."""

    ordering: Ordering
    request: PageRequest
    limit: int
    backward: bool
    cursor: str | None
    bound: tuple[object, str] | None

    @property
    def descending(self) -> bool:
        """The SQL direction (walking backward reverses the list's order)."""
        return self.ordering.descending != self.backward

    def keyset(self, column: Any, id_column: Any) -> ColumnElement[bool] | None:
        """The predicate for rows after the cursor (in SQL direction), if there is a cursor."""
        if self.bound is None:
            return None
        key = tuple_(column, id_column)
        edge = tuple_(*self.bound)
        return key < edge if self.descending else key > edge

    def order(self, column: Any, id_column: Any) -> tuple[Any, Any]:
        """ORDER BY terms for (sort column, id)."""
        if self.descending:
            return column.desc(), id_column.desc()
        return column.asc(), id_column.asc()

    def page(
        self,
        rows: list[Any],
        sort_value: Callable[[Any], object],
        row_id: Callable[[Any], str],
        count: Callable[[], int],
    ) -> Page[Any]:
        """Turn the (limit + 1) rows fetched in SQL direction into the Relay page."""
        more = len(rows) > self.limit
        rows = rows[: self.limit]
        if self.backward:
            rows.reverse()
        ordering, request = self.ordering, self.request
        return Page(
            items=rows,
            has_next_page=more if not self.backward else self.cursor is not None,
            has_previous_page=more if self.backward else self.cursor is not None,
            count=count,
            cursor_of=lambda r: encode_cursor(ordering, sort_value(r), row_id(r), request),
        )


def window(ordering: Ordering, request: PageRequest) -> Window:
    """Validate Relay arguments (sizes 0-100, not both first and last, a cursor of this
    ordering) and describe the window to fetch.
    """
    _check_size("first", request.first)
    _check_size("last", request.last)
    if request.first is not None and request.last is not None:
        raise BadRequest("Pass either 'first' or 'last', not both.")
    backward = request.last is not None or (request.before is not None and request.first is None)
    size = request.last if backward else request.first
    cursor = request.before if backward else request.after
    bound = None
    if cursor is not None:
        bound = decode_cursor(ordering, cursor, "before" if backward else "after", request)
    limit = DEFAULT_PAGE if size is None else size
    return Window(ordering, request, limit, backward, cursor, bound)


@dataclass(frozen=True)
class PageQuery(Generic[T]):
    """One page's statement (None when there is nothing to read) with its parameters, and
    how its rows (fetched in SQL order, limit + 1 of them) become the Relay page.
    """

    statement: Any
    parameters: dict[str, Any]
    window: Window
    sort_value: Callable[[Any], object]
    row_id: Callable[[Any], str]
    count: Callable[[], int]  # the total, counted only when asked for
    items: Callable[[Iterable[Any]], list[T]] = list
    planned_once: bool = False  # its plan depends on no value (``app.database.PageReads``)

    def page(self, rows: Iterable[Any]) -> Page[T]:
        """The Relay page of the statement's rows."""
        return self.window.page(self.items(rows), self.sort_value, self.row_id, self.count)

    def run(self, session: Session) -> Page[T]:
        """Read the page on the session."""
        if self.statement is None:
            return self.page([])
        return self.page(session.exec(self.statement, params=self.parameters).all())

    async def read(self, reads: PageReads, session: Session) -> Page[T]:
        """Read the page where list pages are read (``app.database.PageReads``): the
        statement must select columns, not ORM entities.
        """
        if self.statement is None:
            return self.page([])
        rows = await reads.rows(session, self.statement, self.parameters, self.planned_once)
        return self.page(rows)


#: paged statements built for a caller's shape of list (``page_query``), most recent last
_PAGED: dict[Hashable, Any] = {}
_PAGED_MOST = 512


def page_query(
    session: Session,
    stmt: Any,  # a Select of the rows to page (one entity, or several joined)
    ordering: Ordering,
    request: PageRequest,
    sort_value: Callable[[Any], object],
    row_id: Callable[[Any], str] = lambda row: str(row.id),
    planned_once: bool = False,
    shape: Hashable | None = None,
    parameters: dict[str, Any] | None = None,
) -> PageQuery[Any]:
    """One keyset-paginated query for the requested page.

    ``stmt`` selects the filtered rows; this adds the ordering, the cursor predicate and
    LIMIT n+1. The total is a separate COUNT, run only if the caller asks for it.
    ``planned_once``: ``stmt``'s plan depends on no value (no filter of the caller's).
    ``shape``: what ``stmt`` is besides the ``parameters`` it is run with (the same shape,
    the same statement): the paged statement is then built once per shape and window, with
    the cursor's values as parameters too.
    """
    win = window(ordering, request)
    values = dict(parameters or {})
    key = None
    if shape is not None:
        key = (shape, ordering.key, win.descending, win.bound is not None, win.limit)
        if win.bound is not None:
            values["after_value"], values["after_id"] = win.bound
    paged = _PAGED.get(key) if key is not None else None
    if paged is None:
        paged = _paged(stmt, ordering, win, symbolic=key is not None)
        if key is not None:
            if len(_PAGED) >= _PAGED_MOST:
                _PAGED.clear()
            _PAGED[key] = paged

    def count() -> int:
        total = select(func.count()).select_from(stmt.order_by(None).subquery())
        return int(session.scalar(total, params=values) or 0)

    statement = paged if win.limit > 0 else None
    return PageQuery(statement, values, win, sort_value, row_id, count, planned_once=planned_once)


def _paged(stmt: Any, ordering: Ordering, win: Window, symbolic: bool) -> Any:
    """``stmt`` ordered, after the cursor and limited (the cursor's values as parameters
    when ``symbolic``).
    """
    column, id_column = ordering.column, ordering.id_column
    bound = win.keyset(column, id_column)
    if bound is not None and symbolic:
        edge = tuple_(
            bindparam("after_value", type_=column.type), bindparam("after_id", type_=String)
        )
        key = tuple_(column, id_column)
        bound = key < edge if win.descending else key > edge
    paged = stmt if bound is None else stmt.where(bound)
    # the LIMIT is written into the statement (see app.images.page): a plan made for any
    # LIMIT would expect a tenth of the table
    limit = literal(win.limit + 1, Integer, literal_execute=True)
    return paged.order_by(*win.order(column, id_column)).limit(limit)


def paginate(
    session: Session,
    stmt: Any,
    ordering: Ordering,
    request: PageRequest,
    sort_value: Callable[[Any], object],
    row_id: Callable[[Any], str] = lambda row: str(row.id),
) -> Page[Any]:
    """Run one keyset-paginated query for the requested page (see ``page_query``)."""
    return page_query(session, stmt, ordering, request, sort_value, row_id).run(session)


def newest_first(session: Session, stmt: Any, table: Any, request: PageRequest) -> Page[Any]:
    """One keyset page of ``stmt``'s rows of ``table``, newest first (the same time: by id)."""
    return newest_first_query(session, stmt, table, request).run(session)


def newest_first_query(
    session: Session, stmt: Any, table: Any, request: PageRequest, **how: Any
) -> PageQuery[Any]:
    """The query of ``newest_first``'s page, for a caller that runs it elsewhere (``how``:
    ``page_query``'s ``planned_once``, ``shape`` and ``parameters``).
    """
    ordering = Ordering("CREATED_AT", table.created_at, True, table.id)
    return page_query(session, stmt, ordering, request, _created_at, **how)


def _created_at(row: Any) -> object:
    return row.created_at
