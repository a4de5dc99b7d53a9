"""Snapshots of system disks: read, delete (R12, R55); app.workflows.capture makes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_
from sqlmodel import Session, col, select

from app.database import grouped
from app.errors import DomainError, ErrorCode, input_field, not_found
from app.ids import is_id
from app.images.models import Image
from app.images.rules import SourceKind
from app.pagination import Page, PageRequest, given, newest_first
from app.platform.viewer import Viewer
from app.platform.visibility import by_ids, locked, owned_by
from app.snapshots.models import Snapshot
from app.snapshots.rules import SnapshotStatus
from app.tags.models import with_tags
from app.tags.rules import TagFilter


def visible_clause(viewer: Viewer | None) -> ColumnElement[bool]:
    """Who sees which snapshot: its owner, and administrators; deleted ones, no one."""
    return and_(col(Snapshot.deleted_at).is_(None), owned_by(viewer, col(Snapshot.owner_id)))


def get(*, session: Session, viewer: Viewer, snapshot_id: str) -> Snapshot | None:
    """Return a snapshot the viewer owns (admins: any); others answer like a missing one."""
    if not is_id(snapshot_id, "s"):
        return None
    return session.exec(
        select(Snapshot).where(Snapshot.id == snapshot_id, visible_clause(viewer))
    ).first()


def list_by_ids(*, session: Session, viewer: Viewer, ids: Sequence[str]) -> list[Snapshot]:
    """Return the viewer's snapshots among these ids."""
    return by_ids(session, Snapshot, ids, "s", visible_clause(viewer))


@dataclass(frozen=True)
class SnapshotFilter:
    """Filters of the snapshots query."""

    region: str | None = None
    instance: str | None = None
    status: str | None = None
    tags: tuple[TagFilter, ...] = ()  # the caller's own tags only


def list_snapshots(
    *, session: Session, viewer: Viewer, filters: SnapshotFilter, page: PageRequest
) -> Page[Snapshot]:
    """One keyset page of the viewer's snapshots, newest first."""
    stmt = select(Snapshot).where(
        visible_clause(viewer),
        *given(
            (Snapshot.region_code, filters.region),
            (Snapshot.instance_id, filters.instance),
            (Snapshot.status, filters.status),
        ),
    )
    stmt = with_tags(stmt, col(Snapshot.id), viewer.account_id, filters.tags)
    return newest_first(session, stmt, Snapshot, page)


def images_using(
    *, session: Session, snapshot_ids: Sequence[str], binned: bool = False
) -> dict[str, list[Image]]:
    """The live images made from each snapshot (R12); with ``binned``, also those in the
    recycle bin, which still need the snapshot until they are purged (R121).
    """
    gone = col(Image.purged_at) if binned else col(Image.deleted_at)
    stmt = select(Image).where(
        Image.source_kind == SourceKind.SNAPSHOT.value,
        col(Image.source_id).in_(snapshot_ids),
        gone.is_(None),
    )
    stmt = stmt.order_by(col(Image.created_at))
    return grouped(session, snapshot_ids, stmt, lambda image: image.source_id)


def available_for_update(*, session: Session, viewer: Viewer, snapshot_id: str) -> Snapshot:
    """Lock one of the caller's AVAILABLE snapshots, to make an image of it (R11).

    Raises:
        DomainError: SNAPSHOT_NOT_FOUND, SNAPSHOT_STATUS_FORBIDDEN.
    """
    snapshot = locked(
        session,
        Snapshot,
        snapshot_id,
        "s",
        Snapshot.owner_id == viewer.account_id,
        col(Snapshot.deleted_at).is_(None),
    )
    if snapshot is None:
        raise not_found(ErrorCode.SNAPSHOT_NOT_FOUND, "snapshot", snapshot_id, "snapshotId")
    if snapshot.status != SnapshotStatus.AVAILABLE.value:
        raise DomainError(
            ErrorCode.SNAPSHOT_STATUS_FORBIDDEN,
            f"Snapshot {snapshot.id} is {snapshot.status}, not AVAILABLE.",
            input_field("snapshotId"),
        )
    return snapshot


def delete(*, session: Session, viewer: Viewer, snapshot_id: str, now: datetime) -> str:
    """Delete a snapshot; refused while it is being made or backs an image (R12).

    Raises:
        DomainError: SNAPSHOT_NOT_FOUND, SNAPSHOT_STATUS_FORBIDDEN, SNAPSHOT_IN_USE.
    """
    snapshot = locked(session, Snapshot, snapshot_id, "s", visible_clause(viewer))
    if snapshot is None or (not viewer.is_admin and snapshot.owner_id != viewer.account_id):
        raise not_found(ErrorCode.SNAPSHOT_NOT_FOUND, "snapshot", snapshot_id, "snapshotId")
    if snapshot.status == SnapshotStatus.CREATING.value:
        raise DomainError(
            ErrorCode.SNAPSHOT_STATUS_FORBIDDEN,
            f"Snapshot {snapshot.id} is still being created.",
            input_field("snapshotId"),
        )
    users = images_using(session=session, snapshot_ids=[snapshot.id], binned=True)[snapshot.id]
    if users:
        names = ", ".join(i.id for i in users)
        raise DomainError(
            ErrorCode.SNAPSHOT_IN_USE,
            f"Snapshot {snapshot.id} backs image(s) {names}; delete those first.",
            input_field("snapshotId"),
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
        Snapshot.status != SnapshotStatus.CREATING.value,
    )
    snapshots = list(session.exec(stmt))
    used = images_using(session=session, snapshot_ids=[s.id for s in snapshots], binned=True)
    deleted = []
    for snapshot in snapshots:
        if not used[snapshot.id]:
            snapshot.deleted_at = now
            session.add(snapshot)
            deleted.append(snapshot.id)
    session.flush()
    return deleted
