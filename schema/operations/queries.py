"""Operation queries and subscriptions."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.database import read_session
from app.errors import BadRequest, shown
from app.events import FEED
from app.ids import is_id
from app.operations import service
from app.operations.rules import OperationKind, OperationStatus
from schema.context import Info
from schema.operations.types import Operation
from schema.pagination import Connection, Window, connection, page_request, paged
from schema.permissions import SignedIn

FINISHED = {"SUCCEEDED", "FAILED", "CANCELLED"}


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
        if not is_id(str(id), "op"):
            raise BadRequest(f"{shown(str(id))} is not an operation id (op- and 10 characters).")
        row = await info.context.loaders.operation.load(str(id))
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
        viewer = info.context.require_viewer()
        last: tuple[str, int] | None = None
        while True:
            with read_session(info.context.services.engine) as session:
                row = service.get(session=session, viewer=viewer, operation_id=str(id))
            if row is None:
                raise BadRequest(f"There is no operation {shown(str(id))}.")
            state = (row.status, row.progress)
            if state != last:
                last = state
                info.context.fresh()  # nested fields (targets) must not come from a stale cache
                yield Operation.from_row(row)
            if row.status in FINISHED:
                return
            await FEED.wait(
                f"operation:{id}", info.context.services.settings.event_fallback_seconds
            )
