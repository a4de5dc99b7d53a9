"""Operation types."""

from __future__ import annotations

import asyncio
from datetime import datetime

import strawberry

import schema.enums  # noqa: F401  (registers the domain enums)
from app.errors import ErrorCode as DomainErrorCode
from app.operations import service
from app.operations.models import Operation as OperationRow
from app.operations.rules import OperationKind, OperationStatus
from schema.context import Info
from schema.images.types import Failure
from schema.node import Node, resolve_node


@strawberry.type(description="A long-running job; poll it or subscribe to operationUpdated.")
class Operation(Node):
    kind: OperationKind = strawberry.field(description="What it does.")
    status: OperationStatus = strawberry.field(description="Where it is.")
    progress: int = strawberry.field(description="0-100.")
    error: Failure | None = strawberry.field(description="Why it failed.")
    created_at: datetime = strawberry.field(description="When it was started (UTC).")
    finished_at: datetime | None = strawberry.field(description="When it ended.")
    target_ids: list[strawberry.ID] = strawberry.field(
        description=(
            "Ids of the resources it works on, including any that no longer exist (a copy "
            "cancelled by its destination image, a released instance)."
        )
    )

    @strawberry.field(
        description=(
            "The resources it works on (instances, images, snapshots) that still exist and "
            "that you may see; see targetIds for every id."
        )
    )
    async def targets(self, info: Info) -> list[Node]:
        found = await asyncio.gather(*(resolve_node(info, str(t)) for t in self.target_ids))
        return [node for node in found if node is not None]

    @classmethod
    def from_row(cls, row: OperationRow) -> Operation:
        """Build from an operation row."""
        return cls(
            id=strawberry.ID(row.id),
            kind=OperationKind(row.kind),
            status=OperationStatus(row.status),
            progress=row.progress,
            error=Failure(
                code=DomainErrorCode(row.error_code), message=row.error_message or "", checks=[]
            )
            if row.error_code
            else None,
            created_at=row.created_at,
            finished_at=row.finished_at,
            target_ids=[strawberry.ID(t) for t in service.targets(row)],
        )
