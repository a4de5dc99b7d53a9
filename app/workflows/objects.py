"""Uploaded objects as images see them: which are in use, the storage quota, deletion and
expiry of objects no image was imported from (R45, R128).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func
from sqlmodel import Session, col, select

from app.accounts.models import Account
from app.accounts.rules import Viewer
from app.errors import DomainError, ErrorCode
from app.images import governance
from app.images.models import Image
from app.images.rules import SourceKind
from app.storage import service as storage_service
from app.storage.models import StoredObject
from app.storage.store import ObjectStore, UploadedFile
from app.tags import service as tags_service


def _imported_from(*, live_only: bool) -> ColumnElement[bool]:
    """An image was imported from the object (live: one not deleted)."""
    clause = exists().where(
        col(Image.source_kind) == SourceKind.IMPORT.value,
        col(Image.source_id) == col(StoredObject.key),
    )
    if live_only:
        clause = clause.where(col(Image.deleted_at).is_(None))
    return clause


def quota_used(*, session: Session, owner_id: str) -> int:
    """Bytes that count against an account's storage quota: its objects no live image was
    imported from.
    """
    stmt = select(func.coalesce(func.sum(StoredObject.size_bytes), 0)).where(
        StoredObject.owner_id == owner_id, ~_imported_from(live_only=True)
    )
    return int(session.exec(stmt).one())


def quota_problem(
    *, session: Session, owner_id: str, adding: int, quota: int
) -> DomainError | None:
    """STORAGE_QUOTA_EXCEEDED when ``adding`` more bytes would pass the quota."""
    used = quota_used(session=session, owner_id=owner_id)
    if used + adding <= quota:
        return None
    return DomainError(
        ErrorCode.STORAGE_QUOTA_EXCEEDED,
        f"Storing {adding} more bytes would pass your storage quota: {used} of {quota} bytes "
        "are held by objects no image was imported from. Delete objects you no longer need.",
        ("input", "file"),
    )


def record_upload(
    *, session: Session, owner_id: str, upload: UploadedFile, now: datetime, quota: int
) -> StoredObject:
    """Record an uploaded object within the owner's storage quota (checked with the account
    row locked, so concurrent uploads cannot pass it together).

    Raises:
        DomainError: STORAGE_QUOTA_EXCEEDED.
    """
    session.exec(select(Account.id).where(Account.id == owner_id).with_for_update()).first()
    adding = upload.size_bytes
    problem = quota_problem(session=session, owner_id=owner_id, adding=adding, quota=quota)
    if problem is not None:
        raise problem
    return storage_service.create(session=session, owner_id=owner_id, upload=upload, now=now)


def delete_object(*, session: Session, viewer: Viewer, key: str) -> StoredObject:
    """Forget an object the caller uploaded; its bytes are removed after the transaction
    commits (or by the next reconciliation).

    Raises:
        DomainError: OBJECT_NOT_FOUND, OBJECT_IN_USE while an image imported from it is live
            or in the recycle bin.
    """
    stored = storage_service.get_owned(session=session, viewer=viewer, key=key)
    in_use = session.exec(
        select(Image.id).where(
            Image.source_kind == SourceKind.IMPORT.value,
            Image.source_id == stored.key,
            col(Image.purged_at).is_(None),
        )
    ).first()
    if in_use is not None:
        raise DomainError(
            ErrorCode.OBJECT_IN_USE,
            f"Image {in_use} was imported from object {stored.key}; delete the image first.",
            ("input", "objectKey"),
        )
    session.delete(stored)
    session.flush()
    return stored


def expire_unimported(*, session: Session, now: datetime, days: float) -> list[StoredObject]:
    """Forget objects older than ``days`` that no image was ever imported from; their bytes
    go at the next reconciliation.
    """
    if days <= 0:
        return []
    stmt = select(StoredObject).where(
        col(StoredObject.created_at) < now - timedelta(days=days),
        ~_imported_from(live_only=False),
    )
    expired = list(session.exec(stmt))
    for stored in expired:
        session.delete(stored)
    session.flush()
    return expired


class ObjectHousekeeping:
    """Periodic job: forget objects never imported after the expiry period, and remove
    stored files no object row describes (at most every ``every_seconds``).
    """

    def __init__(self, store: ObjectStore, expiry_days: float, every_seconds: float = 600.0):
        self.store = store
        self.expiry_days = expiry_days
        self.every_seconds = every_seconds
        self._due = 0.0

    def __call__(self, session: Session, now: datetime) -> None:
        """Run the expiry (in the job's transaction) and, when due, the reconciliation."""
        expire_unimported(session=session, now=now, days=self.expiry_days)
        if time.monotonic() < self._due:
            return
        self._due = time.monotonic() + self.every_seconds
        reconcile(session=session, store=self.store)


def reconcile(*, session: Session, store: ObjectStore) -> int:
    """Remove stored files older than ten minutes that no object row describes."""
    orphans = storage_service.unrecorded_files(session=session, store=store, now=time.time())
    for orphan in orphans:
        store.delete(orphan.region, orphan.key)
    return len(orphans)


class Purge:
    """Scheduler job: purge the recycle bin's images whose time is up (R113); the object an
    image was imported from goes with it when no other image still needs it (its bytes are
    then removed by the next reconciliation).
    """

    def __call__(self, session: Session, now: datetime) -> None:
        """Purge what is due."""
        purged = governance.purge_due(session=session, now=now)
        tags_service.forget(session=session, resource_ids=[image.id for image in purged])
        keys = {
            image.source_id
            for image in purged
            if image.source_kind == SourceKind.IMPORT.value and image.source_id
        }
        for key in sorted(keys):
            needed = session.exec(
                select(Image.id).where(
                    Image.source_kind == SourceKind.IMPORT.value,
                    Image.source_id == key,
                    col(Image.purged_at).is_(None),
                )
            ).first()
            stored = session.get(StoredObject, key)
            if needed is None and stored is not None:
                session.delete(stored)
        session.flush()
