"""Records of uploaded objects (the bytes are in the ObjectStore)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from app.database import saved
from app.errors import ErrorCode, not_found
from app.ids import is_id
from app.platform.viewer import Viewer
from app.storage.models import StoredObject
from app.storage.store import ObjectStore, StoredFile, UploadedFile

MAX_FILENAME = 255


def create(*, session: Session, owner_id: str, upload: UploadedFile, now: datetime) -> StoredObject:
    """Record an uploaded object."""
    stored = StoredObject(
        key=upload.key,
        owner_id=owner_id,
        region_code=upload.region,
        size_bytes=upload.size_bytes,
        sha256=upload.sha256,
        filename=(upload.filename or "upload")[:MAX_FILENAME],
        created_at=now,
    )
    return saved(session, stored)


def get_owned(*, session: Session, viewer: Viewer, key: str) -> StoredObject:
    """Return an object the caller uploaded; anyone else's answers like a missing one.

    Raises:
        DomainError: OBJECT_NOT_FOUND.
    """
    stored = session.get(StoredObject, key) if is_id(key, "obj") else None
    if stored is None or stored.owner_id != viewer.account_id:
        raise not_found(ErrorCode.OBJECT_NOT_FOUND, "object", key, "objectKey")
    return stored


#: objects younger than this are never reconciled (their row may not be committed yet)
RECONCILE_AFTER_SECONDS = 600.0


def unrecorded_files(
    *, session: Session, store: ObjectStore, now: float, batch: int = 500
) -> list[StoredFile]:
    """Stored files older than ten minutes that no object row describes (a deleted, expired
    or never-committed upload): what reconciliation removes.
    """
    found: list[StoredFile] = []
    pending: list[StoredFile] = []
    for stored in store.files():
        if now - stored.modified >= RECONCILE_AFTER_SECONDS:
            pending.append(stored)
        if len(pending) >= batch:
            found += _unknown(session, pending)
            pending = []
    return found + _unknown(session, pending)


def _unknown(session: Session, files: list[StoredFile]) -> list[StoredFile]:
    known = known_keys(session=session, keys=[f.key for f in files])
    return [f for f in files if f.key not in known]


def known_keys(*, session: Session, keys: list[str]) -> set[str]:
    """Which of these object keys have a row."""
    if not keys:
        return set()
    stmt = select(StoredObject.key).where(col(StoredObject.key).in_(keys))
    return set(session.exec(stmt))
