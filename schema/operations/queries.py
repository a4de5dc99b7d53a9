"""Operation queries and subscriptions."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.errors import BadRequest, shown
from app.ids import is_id
from app.operations import service
from app.operations.rules import OperationKind, OperationStatus
from app.platform.events import FEED
from schema.context import Info
from schema.operations.types import Operation
from schema.pagination import Connection, Window, connection, page_request, paged
from schema.permissions import SignedIn

FINISHED = {"SUCCEEDED", "FAILED", "CANCELLED"}


def operation_id_argument(value: strawberry.ID) -> str:
    """An operation id argument, refused (BAD_USER_INPUT) unless it has the form of one."""
    if not is_id(str(value), "op"):
        raise BadRequest(f"{shown(str(value))} is not an operation id (op- and 10 characters).")
    return str(value)


@strawberry.input(description="Filters of the operations query.")
class OperationFilter:
    kind: OperationKind | None = strawberry.field(default=None, description="Kind.")
    status: OperationStatus | None = strawberry.field(default=None, description="Status.")
    target: strawberry.ID | None = strawberry.field(
        default=None, description="Only operations on this resource id."
    )


@strawberry.type
class OperationQueries:
    @strawberry.field(
        permission_classes=[SignedIn],
        description="One of the viewer's operations; null if absent or not theirs.",
    )
    async def operation(self, info: Info, id: strawberry.ID) -> Operation | None:
        info.context.require_viewer()
        row = await info.context.loaders.operation.load(operation_id_argument(id))
        return Operation.from_row(row) if row else None

    @paged(permission_classes=[SignedIn], description="The viewer's operations, newest first.")
    def operations(
        self,
        info: Info,
        filter: OperationFilter | None = None,
        window: Window = Window(),
    ) -> Connection[Operation]:
        viewer = info.context.require_viewer()
        flt = filter or OperationFilter()
        page = service.list_operations(
            session=info.context.session,
            viewer=viewer,
            filters=service.OperationFilter(
                kind=flt.kind.value if flt.kind else None,
                status=flt.status.value if flt.status else None,
                target=str(flt.target) if flt.target is not None else None,
            ),
            page=page_request(info, window, filters=filter),
        )
        return connection(page, Operation.from_row)


@strawberry.type
class OperationSubscriptions:
    @strawberry.subscription(
        permission_classes=[SignedIn],
        description="The operation now and after every change, until it has finished.",
    )
    async def operation_updated(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[Operation, None]:
        operation_id = operation_id_argument(id)
        context = info.context
        viewer = context.require_viewer()
        last: tuple[str, int] | None = None
        while True:
            # one slot and session per event, given back before the event is sent
            async with context.one_event():
                row = service.get(session=context.session, viewer=viewer, operation_id=operation_id)
                if row is None:
                    raise BadRequest(f"There is no operation {shown(operation_id)}.")
                state = (row.status, row.progress)
                finished = row.status in FINISHED
                if state != last:
                    last = state
                    yield Operation.from_row(row)
            if finished:
                return
            await FEED.wait(
                f"operation:{operation_id}", context.services.settings.event_fallback_seconds
            )
