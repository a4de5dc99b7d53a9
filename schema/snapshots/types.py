"""Snapshot types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

import schema.enums  # noqa: F401  (registers the domain enums)
from app.images.rules import DiskKind
from app.snapshots.models import Snapshot as SnapshotRow
from app.snapshots.rules import SnapshotStatus
from schema.context import Info
from schema.images.types import Image
from schema.resources import RegionalResource

if TYPE_CHECKING:
    from schema.instances.types import Instance


@strawberry.type(description="A snapshot of an instance's system disk.")
class Snapshot(RegionalResource):
    name: str = strawberry.field(description="Name: 1-65 characters, starting with a letter.")
    status: SnapshotStatus = strawberry.field(description="CREATING, AVAILABLE or CREATE_FAILED.")
    size_gb: int = strawberry.field(description="Size of the disk it captured, in GB.")
    system_disk_kind: DiskKind = strawberry.field(description="LOCAL or CDS.")
    created_at: datetime = strawberry.field(description="When it was taken (UTC).")
    instance_id: strawberry.Private[str]

    @strawberry.field(description="The instance it was taken from (null once released and gone).")
    async def instance(
        self, info: Info
    ) -> Annotated[Instance, strawberry.lazy("schema.instances.types")] | None:
        from schema.instances.types import Instance

        row = await info.context.loaders.instance.load(self.instance_id)
        return Instance.from_row(row) if row else None

    @strawberry.field(description="Live images made from it; while any exist it cannot be deleted.")
    async def used_by_images(self, info: Info) -> list[Image]:
        rows = await info.context.loaders.snapshot_images.load(str(self.id))
        return [Image.from_row(r, info.context.viewer) for r in rows]

    @classmethod
    def from_row(cls, row: SnapshotRow) -> Snapshot:
        """Build from a snapshot row."""
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            status=SnapshotStatus(row.status),
            size_gb=row.size_gb,
            system_disk_kind=DiskKind(row.system_disk_kind),
            created_at=row.created_at,
            region_code=row.region_code,
            instance_id=row.instance_id,
        )
