"""Snapshot mutations."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.snapshots import service
from app.workflows import capture
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.mutation import ClientToken, Name, argument, mutation
from schema.operations.types import Operation
from schema.snapshots.types import Snapshot


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
