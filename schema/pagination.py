"""Relay connections with opaque keyset cursors (the SQL side lives in app.pagination)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
import strawberry
from strawberry.annotation import StrawberryAnnotation
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.field import StrawberryField

from app.pagination import Page, PageRequest

if TYPE_CHECKING:
    from schema.context import Info

T = TypeVar("T")
Row = TypeVar("Row")


@strawberry.type(description="Where a page sits in its list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="Items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item.")


@strawberry.type(description="An item of a page and its opaque cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Pass as 'after' or 'before' to page from here.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(
    description="A page of a list: edges with cursors, the bare nodes, page info and the total."
)
class Connection(Generic[T]):
    nodes: list[T] = strawberry.field(description="The items, without cursors.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")
    count: strawberry.Private[Callable[[], int]]
    cursor: strawberry.Private[Callable[[int], str]]

    @strawberry.field(description="The items with their cursors.")
    def edges(self) -> list[Edge[T]]:
        return [Edge(cursor=self.cursor(i), node=n) for i, n in enumerate(self.nodes)]

    @strawberry.field(description="How many items the whole filtered list holds.")
    def total_count(self) -> int:
        return self.count()


@dataclasses.dataclass(frozen=True)
class Window:
    """The Relay arguments a caller gave a list field: which part of the list to return."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


#: the GraphQL type of each Relay argument
_RELAY_ARGUMENTS: dict[str, Any] = {
    "first": int | None,
    "after": str | None,
    "last": int | None,
    "before": str | None,
}


class Paged(FieldExtension):
    """A list field's Relay arguments: ``first``, ``after``, ``last`` and ``before`` stand in
    the schema where the resolver declares ``window: Window``, which receives them as one value.
    """

    def apply(self, field: StrawberryField) -> None:
        """Put the four Relay arguments where ``window`` stands (once: schemas built again
        reuse the field).
        """
        names = [argument.python_name for argument in field.arguments]
        if "window" not in names:
            return
        at = names.index("window")
        relay = [
            StrawberryArgument(
                python_name=name,
                graphql_name=None,
                type_annotation=StrawberryAnnotation(kind),
                default=None,
            )
            for name, kind in _RELAY_ARGUMENTS.items()
        ]
        field.arguments = [*field.arguments[:at], *relay, *field.arguments[at + 1 :]]

    @staticmethod
    def _windowed(kwargs: dict[str, Any]) -> dict[str, Any]:
        window = Window(**{name: kwargs.pop(name, None) for name in _RELAY_ARGUMENTS})
        return {**kwargs, "window": window}

    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        """Hand the resolver the Relay arguments as its ``window``."""
        return next_(source, info, **self._windowed(kwargs))

    async def resolve_async(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        """Hand the resolver the Relay arguments as its ``window``."""
        return await next_(source, info, **self._windowed(kwargs))


def paged(description: str, *, permission_classes: list[type[BasePermission]] | None = None) -> Any:
    """A list field answering a ``Connection``: its resolver takes ``window: Window`` (the
    caller's Relay arguments) and builds its page with ``page_request``.
    """
    return strawberry.field(
        description=description,
        permission_classes=permission_classes or [],
        extensions=[Paged()],
    )


def page_request(
    info: Info, window: Window, *, filters: object = None, parent: str | None = None
) -> PageRequest:
    """Bundle a list field's window for the service layer, with what the cursors are bound
    to: this field, its parent object and the filters (a cursor of another list is refused).
    """
    filter_hash = hashlib.sha256(
        orjson.dumps(
            dataclasses.asdict(filters) if dataclasses.is_dataclass(filters) else filters,  # type: ignore[arg-type]
            option=orjson.OPT_SORT_KEYS,
            default=str,
        )
    ).hexdigest()[:16]
    scope = f"{info.path.typename}.{info.field_name}|{parent or ''}|{filter_hash}"
    return PageRequest(
        **dataclasses.asdict(window), scope=scope, secret=info.context.services.cursor_secret
    )


def connection(page: Page[Row], convert: Callable[[Row], T]) -> Connection[T]:
    """Build a Connection from a service page, converting each row to its GraphQL type."""
    nodes = [convert(row) for row in page.items]
    return Connection(
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursor(0) if page.items else None,
            end_cursor=page.cursor(-1) if page.items else None,
        ),
        count=page.count,
        cursor=page.cursor,
    )


def child_connection(
    node: type[T],
    fetch: Callable[[Any, Info, PageRequest], Page[Row]],
    convert: Callable[[Row], T],
    *,
    parent: Callable[[Any], str],
    description: str,
    permission_classes: list[type[BasePermission]] | None = None,
) -> Any:
    """A paged list field of an object (its Relay arguments, cursors bound to the object):
    ``fetch(object, info, page)`` reads one page, ``convert`` turns each row into ``node``.
    """

    def resolve(root: Any, info: Info, window: Window) -> Connection[T]:
        page = page_request(info, window, parent=parent(root))
        return connection(fetch(root, info, page), convert)

    # the annotations Strawberry reads, with this field's node type filled in
    resolve.__annotations__ = {
        "root": Any,
        "info": strawberry.Info,
        "window": Window,
        "return": Connection[node],  # type: ignore[valid-type]
    }
    return paged(description, permission_classes=permission_classes)(resolve)
