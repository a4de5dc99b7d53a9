"""Snapshots of system disks: create, delete, read (R12, R55)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app import idempotency
from app.accounts.rules import Viewer
from app.errors import DomainError, ErrorCode, shown
from app.ids import is_id, new_id
from app.images import rules as image_rules
from app.images.models import Image
from app.instances import rules as instance_rules
from app.instances import service as instances_service
from app.operations import service as operations_service
from app.operations.models import Operation
from app.pagination import Ordering, Page, PageRequest, paginate
from app.snapshots.models import Snapshot

CREATE_SNAPSHOT = "CREATE_SNAPSHOT"


class SnapshotStatus(enum.Enum):
    """Snapshot states."""

    CREATING = "CREATING"
    AVAILABLE = "AVAILABLE"
    CREATE_FAILED = "CREATE_FAILED"


CREATING, AVAILABLE, CREATE_FAILED = "CREATING", "AVAILABLE", "CREATE_FAILED"


def _field(*path: str) -> tuple[str, ...]:
    return ("input", *path)


def _visible(viewer: Viewer) -> Any:
    alive = col(Snapshot.deleted_at).is_(None)
    return alive if viewer.is_admin else alive & (col(Snapshot.owner_id) == viewer.account_id)


def get(*, session: Session, viewer: Viewer, snapshot_id: str) -> Snapshot | None:
    """Return a snapshot the viewer owns (admins: any); others answer like a missing one."""
    if not is_id(snapshot_id, "s"):
        return None
    return session.exec(
        select(Snapshot).where(Snapshot.id == snapshot_id, _visible(viewer))
    ).first()


def list_by_ids(*, session: Session, viewer: Viewer, ids: Sequence[str]) -> list[Snapshot]:
    """Return the viewer's snapshots among these ids."""
    wanted = [i for i in ids if is_id(i, "s")]
    if not wanted:
        return []
    stmt = select(Snapshot).where(col(Snapshot.id).in_(wanted), _visible(viewer))
    return list(session.exec(stmt))


@dataclass(frozen=True)
class SnapshotFilter:
    """Filters of the snapshots query."""

    region: str | None = None
    instance: str | None = None
    status: str | None = None


def list_snapshots(
    *, session: Session, viewer: Viewer, filters: SnapshotFilter, page: PageRequest
) -> Page[Snapshot]:
    """One keyset page of the viewer's snapshots, newest first."""
    stmt = select(Snapshot).where(_visible(viewer))
    if filters.region is not None:
        stmt = stmt.where(Snapshot.region_code == filters.region)
    if filters.instance is not None:
        stmt = stmt.where(Snapshot.instance_id == filters.instance)
    if filters.status is not None:
        stmt = stmt.where(Snapshot.status == filters.status)
    ordering = Ordering("CREATED_AT", Snapshot.created_at, True, Snapshot.id)
    return paginate(session, stmt, ordering, page, lambda s: s.created_at)


def images_using(*, session: Session, snapshot_ids: Sequence[str]) -> dict[str, list[Image]]:
    """The live images made from each snapshot (R12)."""
    found: dict[str, list[Image]] = {s: [] for s in snapshot_ids}
    if not snapshot_ids:
        return found
    stmt = select(Image).where(
        Image.source_kind == image_rules.SourceKind.SNAPSHOT.value,
        col(Image.source_id).in_(snapshot_ids),
        col(Image.deleted_at).is_(None),
    )
    for image in session.exec(stmt.order_by(col(Image.created_at))):
        found[image.source_id or ""].append(image)
    return found


@dataclass(frozen=True)
class Created:
    """A new snapshot and the operation making it."""

    snapshot: Snapshot
    operation: Operation


def create(
    *,
    session: Session,
    viewer: Viewer,
    instance_id: str,
    name: str,
    client_token: str | None,
    now: datetime,
    seconds: float,
    seconds_per_gb: float,
) -> Created:
    """Snapshot an instance's system disk (R55); idempotent with a clientToken (R62).

    Raises:
        DomainError: INVALID_NAME, INSTANCE_NOT_FOUND, INSTANCE_STATUS_FORBIDDEN.
    """
    request = {"instanceId": instance_id, "name": name}
    if client_token is not None:
        replay = idempotency.claim(
            session=session,
            account_id=viewer.account_id,
            mutation="createSnapshot",
            token=client_token,
            request=request,
            now=now,
        )
        if replay is not None:
            return _replay(session, replay)
    problem = image_rules.name_problem(name)
    if problem is not None:
        raise DomainError(ErrorCode.INVALID_NAME, problem, _field("name"))
    instance = instances_service.get_for_update(session, viewer, instance_id)
    if instance.status not in instance_rules.SETTLED:
        raise instances_service.refuse(instance, "snapshotted")
    snapshot = Snapshot(
        id=new_id("s"),
        name=name,
        owner_id=instance.owner_id,
        region_code=instance.region_code,
        instance_id=instance.id,
        status=CREATING,
        size_gb=instance.system_disk_gb,
        system_disk_kind=instance_rules.disk_kind(instance.system_disk_type),
        generation=instance.generation,
        os_type=instance.image_os_type,
        os_name=instance.image_os_name,
        os_version=instance.image_os_version,
        os_arch=instance.image_os_arch,
        os_lang=instance.image_os_lang,
        charge_os_license=instance.charge_os_license,
        charge_listing_id=instance.charge_listing_id,
        created_at=now,
    )
    session.add(snapshot)
    session.flush()
    operation = operations_service.create(
        session=session,
        kind=CREATE_SNAPSHOT,
        owner_id=snapshot.owner_id,
        target_ids=[snapshot.id],
        now=now,
        duration_seconds=operations_service.duration(seconds, seconds_per_gb, snapshot.size_gb),
    )
    if client_token is not None:
        idempotency.remember(
            session=session,
            account_id=viewer.account_id,
            mutation="createSnapshot",
            token=client_token,
            result={"snapshot": snapshot.id, "operation": operation.id},
        )
    return Created(snapshot, operation)


def _replay(session: Session, replay: dict[str, Any]) -> Created:
    snapshot = session.get(Snapshot, replay["snapshot"])
    operation = session.get(Operation, replay["operation"])
    if snapshot is None or operation is None:
        raise AssertionError("an idempotency record points at rows that exist")
    return Created(snapshot, operation)


def delete(*, session: Session, viewer: Viewer, snapshot_id: str, now: datetime) -> str:
    """Delete a snapshot; refused while it is being made or backs an image (R12).

    Raises:
        DomainError: SNAPSHOT_NOT_FOUND, SNAPSHOT_STATUS_FORBIDDEN, SNAPSHOT_IN_USE.
    """
    snapshot = None
    if is_id(snapshot_id, "s"):
        snapshot = session.exec(
            select(Snapshot).where(Snapshot.id == snapshot_id, _visible(viewer)).with_for_update()
        ).first()
    if snapshot is None or (not viewer.is_admin and snapshot.owner_id != viewer.account_id):
        raise DomainError(
            ErrorCode.SNAPSHOT_NOT_FOUND,
            f"There is no snapshot {shown(snapshot_id)}.",
            _field("snapshotId"),
        )
    if snapshot.status == CREATING:
        raise DomainError(
            ErrorCode.SNAPSHOT_STATUS_FORBIDDEN,
            f"Snapshot {snapshot.id} is still being created.",
            _field("snapshotId"),
        )
    users = images_using(session=session, snapshot_ids=[snapshot.id])[snapshot.id]
    if users:
        names = ", ".join(i.id for i in users)
        raise DomainError(
            ErrorCode.SNAPSHOT_IN_USE,
            f"Snapshot {snapshot.id} backs image(s) {names}; delete those first.",
            _field("snapshotId"),
        )
    snapshot.deleted_at = now
    session.add(snapshot)
    session.flush()
    return snapshot.id


def delete_unused_of_instance(*, session: Session, instance_id: str, now: datetime) -> list[str]:
    """After a rebuild: delete the old disk's snapshots that back no image (R54)."""
    stmt = select(Snapshot).where(
        Snapshot.instance_id == instance_id,
        col(Snapshot.deleted_at).is_(None),
        Snapshot.status != CREATING,
    )
    snapshots = list(session.exec(stmt))
    used = images_using(session=session, snapshot_ids=[s.id for s in snapshots])
    deleted = []
    for snapshot in snapshots:
        if not used[snapshot.id]:
            snapshot.deleted_at = now
            session.add(snapshot)
            deleted.append(snapshot.id)
    session.flush()
    return deleted


class CreateSnapshotHandler:
    """CREATE_SNAPSHOT: the snapshot becomes AVAILABLE."""

    def complete(self, session: Session, operation: Operation, now: datetime) -> None:
        """Finish the snapshot."""
        for target in operations_service.targets(operation):
            snapshot = session.get(Snapshot, target)
            if snapshot is not None and snapshot.status == CREATING:
                snapshot.status = AVAILABLE
                session.add(snapshot)

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """Mark the snapshot failed."""
        for target in operations_service.targets(operation):
            snapshot = session.get(Snapshot, target)
            if snapshot is not None:
                snapshot.status = CREATE_FAILED
                session.add(snapshot)


operations_service.register(CREATE_SNAPSHOT, CreateSnapshotHandler())
