"""Records of uploaded objects (the bytes are in the ObjectStore)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from app.accounts.rules import Viewer
from app.errors import DomainError, ErrorCode
from app.ids import is_id
from app.storage.models import StoredObject

MAX_FILENAME = 255


def create(
    *,
    session: Session,
    owner_id: str,
    region: str,
    key: str,
    size_bytes: int,
    sha256: str,
    filename: str,
    now: datetime,
) -> StoredObject:
    """Record an uploaded object."""
    stored = StoredObject(
        key=key,
        owner_id=owner_id,
        region_code=region,
        size_bytes=size_bytes,
        sha256=sha256,
        filename=(filename or "upload")[:MAX_FILENAME],
        created_at=now,
    )
    session.add(stored)
    session.flush()
    return stored


def get_owned(*, session: Session, viewer: Viewer, key: str) -> StoredObject:
    """Return an object the caller uploaded; anyone else's answers like a missing one.

    Raises:
        DomainError: OBJECT_NOT_FOUND.
    """
    stored = session.get(StoredObject, key) if is_id(key, "obj") else None
    if stored is None or stored.owner_id != viewer.account_id:
        raise DomainError(
            ErrorCode.OBJECT_NOT_FOUND, f"There is no object {key!r}.", ("input", "objectKey")
        )
    return stored
