"""Snapshot queries."""

from __future__ import annotations

import strawberry

from app.errors import BadRequest, shown
from app.ids import is_id
from app.snapshots import service
from app.snapshots.rules import SnapshotStatus
from schema.context import Info
from schema.pagination import Connection, Window, connection, page_request, paged
from schema.permissions import SignedIn
from schema.snapshots.types import Snapshot
from schema.tags.types import TagFilter, tag_filters


@strawberry.input(description="Filters of the snapshots query.")
class SnapshotFilter:
    region: strawberry.ID | None = strawberry.field(default=None, description="Region code.")
    instance: strawberry.ID | None = strawberry.field(default=None, description="Instance id.")
    status: SnapshotStatus | None = strawberry.field(default=None, description="Status.")
    tags: list[TagFilter] | None = strawberry.field(
        default=None, description="Snapshots carrying every one of these tags of yours."
    )


@strawberry.type
class SnapshotQueries:
    @paged(permission_classes=[SignedIn], description="The viewer's snapshots, newest first.")
    def snapshots(
        self,
        info: Info,
        filter: SnapshotFilter | None = None,
        window: Window = Window(),
    ) -> Connection[Snapshot]:
        viewer = info.context.require_viewer()
        flt = filter or SnapshotFilter()
        page = service.list_snapshots(
            session=info.context.session,
            viewer=viewer,
            filters=service.SnapshotFilter(
                region=str(flt.region) if flt.region is not None else None,
                instance=str(flt.instance) if flt.instance is not None else None,
                status=flt.status.value if flt.status else None,
                tags=tag_filters(flt.tags),
            ),
            page=page_request(info, window, filters=filter),
        )
        return connection(page, Snapshot.from_row)

    @strawberry.field(
        permission_classes=[SignedIn],
        description="One of the viewer's snapshots; null if absent or not theirs.",
    )
    async def snapshot(self, info: Info, id: strawberry.ID) -> Snapshot | None:
        if not is_id(str(id), "s"):
            raise BadRequest(f"{shown(str(id))} is not a snapshot id (s- and 8 letters or digits).")
        row = await info.context.loaders.snapshot.load(str(id))
        return Snapshot.from_row(row) if row else None
