"""Snapshot queries and mutations."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.errors import BadRequest, shown
from app.ids import is_id
from app.snapshots import service
from app.snapshots.rules import SnapshotStatus
from app.workflows import capture
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.mutation import ClientToken, Name, argument, mutation
from schema.operations.types import Operation
from schema.pagination import Connection, Window, connection, page_request, paged
from schema.permissions import SignedIn
from schema.snapshots.types import Snapshot
from schema.tags import TagFilter, tag_filters


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


@strawberry.type(description="Result of createSnapshot.")
class CreateSnapshotPayload(Payload):
    snapshot: Snapshot | None = strawberry.field(description="The new snapshot (CREATING).")
    operation: Operation | None = strawberry.field(description="The CREATE_SNAPSHOT operation.")


@strawberry.type(description="Result of deleteSnapshot.")
class DeleteSnapshotPayload(Payload):
    deleted_snapshot_id: strawberry.ID | None = strawberry.field(description="What was deleted.")


@strawberry.type
class SnapshotMutations:
    @mutation(
        "Snapshot an instance's system disk (owner only; RUNNING or STOPPED).",
        input="Snapshot an instance's system disk.",
    )
    def create_snapshot(
        self,
        info: Info,
        instance_id: Annotated[strawberry.ID, argument("Instance id (RUNNING or STOPPED).")],
        name: Name,
        client_token: ClientToken = None,
    ) -> CreateSnapshotPayload:
        def work(c: Call) -> CreateSnapshotPayload:
            created = capture.create_snapshot(
                **c.acting,
                instance_id=str(instance_id),
                name=name,
                client_token=client_token,
                now=c.now,
                policy=info.context.services.policy,
            )
            return CreateSnapshotPayload(
                snapshot=Snapshot.from_row(created.snapshot),
                operation=Operation.from_row(created.operation),
            )

        return mutate(info, CreateSnapshotPayload, work)

    @mutation(
        "Delete a snapshot; refused while an image made from it exists.",
        input="Which snapshot to delete.",
    )
    def delete_snapshot(
        self, info: Info, snapshot_id: Annotated[strawberry.ID, argument("Snapshot id (s-...).")]
    ) -> DeleteSnapshotPayload:
        def work(c: Call) -> DeleteSnapshotPayload:
            deleted = service.delete(**c.acting, snapshot_id=str(snapshot_id), now=c.now)
            return DeleteSnapshotPayload(deleted_snapshot_id=strawberry.ID(deleted))

        return mutate(info, DeleteSnapshotPayload, work)
