"""Uploaded objects as images see them: which are in use, the storage quota, deletion and
expiry (R45, R128 as amended by R153 and R193).

Every object counts against its owner's storage quota until it is deleted, whatever became
of the imports made from it. An object that no live, binned or CREATING image was imported
from is deleted a day (BCC_IMAGES_OBJECT_EXPIRY_DAYS) after its last upload or import
attempt, by the periodic job on the service clock; a failed import's image is shown to its
owner for a day and then purged with the recycle bin's images.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from app.accounts.models import Account
from app.errors import DomainError, ErrorCode
from app.images import lifecycle, recycle_bin
from app.images.models import Image
from app.images.rules import ImageStatus, SourceKind
from app.platform.viewer import Viewer
from app.storage import service as storage_service
from app.storage.models import StoredObject
from app.storage.store import ObjectStore, UploadedFile
from app.tags import service as tags_service

#: an object's key: a value, or the column of the object row a query is correlated with
Key = str | Mapped[str]


def _imported_from(key: Key) -> tuple[ColumnElement[bool], ...]:
    """The image was imported from the object with this key."""
    return (
        col(Image.source_kind) == SourceKind.IMPORT.value,
        col(Image.source_id) == key,
    )


def _needing(key: Key) -> tuple[ColumnElement[bool], ...]:
    """A live, binned or CREATING image was imported from the object: one not purged and not
    CREATE_FAILED (a failed import's image needs nothing).
    """
    return (
        *_imported_from(key),
        col(Image.purged_at).is_(None),
        col(Image.status) != ImageStatus.CREATE_FAILED.value,
    )


def quota_used(*, session: Session, owner_id: str) -> int:
    """Bytes that count against an account's storage quota: every object it holds, whatever
    became of the imports made from it (R153).
    """
    stmt = select(func.coalesce(func.sum(StoredObject.size_bytes), 0)).where(
        StoredObject.owner_id == owner_id
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
        f"Storing {adding} more bytes would pass your storage quota: your objects hold {used} "
        f"of {quota} bytes, whatever became of the images imported from them. Delete objects "
        "you no longer need.",
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


def _needing_image(session: Session, key: str) -> str | None:
    """A live, binned or CREATING image imported from the object, if any."""
    return session.exec(select(Image.id).where(*_needing(key))).first()


def delete_object(*, session: Session, viewer: Viewer, key: str) -> StoredObject:
    """Forget an object the caller uploaded; its bytes are removed after the transaction
    commits (or by the next reconciliation).

    Raises:
        DomainError: OBJECT_NOT_FOUND, OBJECT_IN_USE while an image imported from it is live,
            in the recycle bin or being created (a failed import's image does not need it).
    """
    stored = storage_service.get_owned(session=session, viewer=viewer, key=key)
    in_use = _needing_image(session, stored.key)
    if in_use is not None:
        raise DomainError(
            ErrorCode.OBJECT_IN_USE,
            f"Image {in_use} was imported from object {stored.key}; delete the image first.",
            ("input", "objectKey"),
        )
    session.delete(stored)
    session.flush()
    return stored


def expire_unneeded(*, session: Session, now: datetime, days: float) -> list[StoredObject]:
    """Forget the objects no live, binned or CREATING image was imported from, ``days`` after
    their last upload or import attempt (0: never); their bytes go at the next reconciliation.
    """
    if days <= 0:
        return []
    since = now - timedelta(days=days)
    key = col(StoredObject.key)
    needed = exists().where(*_needing(key))
    attempted = exists().where(*_imported_from(key), col(Image.created_at) >= since)
    stmt = select(StoredObject).where(col(StoredObject.created_at) < since, ~needed, ~attempted)
    expired = list(session.exec(stmt))
    for stored in expired:
        session.delete(stored)
    session.flush()
    return expired


class ObjectHousekeeping:
    """Periodic job: forget the objects no image needs a day (the setting) after their last
    upload or import attempt, and remove stored files no object row describes (at most every
    ``every_seconds``).
    """

    def __init__(self, store: ObjectStore, expiry_days: float, every_seconds: float = 600.0):
        self.store = store
        self.expiry_days = expiry_days
        self.every_seconds = every_seconds
        self._due = 0.0

    def __call__(self, session: Session, now: datetime) -> None:
        """Run the expiry (in the job's transaction) and, when due, the reconciliation."""
        expire_unneeded(session=session, now=now, days=self.expiry_days)
        if time.monotonic() < self._due:
            return
        self._due = time.monotonic() + self.every_seconds
        reconcile(session=session, store=self.store)


def reconcile(*, session: Session, store: ObjectStore) -> int:
    """Remove stored files older than ten minutes that no object row describes."""
    orphans = storage_service.unrecorded_files(session=session, store=store, now=store.now())
    for orphan in orphans:
        store.delete(orphan.region, orphan.key)
    return len(orphans)


class Purge:
    """Scheduler job: purge the recycle bin's images whose time is up (R113) and the failed
    imports' images shown for their day (R193). The object a purged (not failed) image was
    imported from goes with it when no other image still needs it (its bytes at the next
    reconciliation); a failed import's object expires like any other.
    """

    def __call__(self, session: Session, now: datetime) -> None:
        """Purge what is due."""
        purged = recycle_bin.purge_due(session=session, now=now)
        purged += lifecycle.purge_failed_due(session=session, now=now)
        tags_service.forget(session=session, resource_ids=[image.id for image in purged])
        keys = {
            image.source_id
            for image in purged
            if image.source_kind == SourceKind.IMPORT.value
            and image.source_id
            and image.status != ImageStatus.CREATE_FAILED.value
        }
        for key in sorted(keys):
            stored = session.get(StoredObject, key)
            if stored is not None and _needing_image(session, key) is None:
                session.delete(stored)
        session.flush()
