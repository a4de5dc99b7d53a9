"""The recycle bin (R113, R121): a deleted custom image waits there, restorable by its owner
and counted by no quota, until its time is up and the periodic job purges it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.database import saved
from app.errors import DomainError, ErrorCode, input_field, shown
from app.images import policies, service
from app.images.models import Image
from app.images.policy_rules import LifecycleAction
from app.pagination import Ordering, Page, PageRequest, paginate
from app.platform.viewer import Viewer
from app.platform.visibility import locked


def move_to_bin(*, session: Session, image: Image, days: float, now: datetime) -> None:
    """A deleted custom image waits in the recycle bin for ``days`` (0: purged at once)."""
    image.deleted_at = now
    image.purge_at = now + timedelta(days=days)
    if days <= 0:
        image.purged_at = now
    session.add(image)


def recycle_bin(*, session: Session, viewer: Viewer, page: PageRequest) -> Page[Image]:
    """The caller's deleted images still restorable, the most recently deleted first."""
    stmt = select(Image).where(
        col(Image.owner_id) == viewer.account_id,
        col(Image.deleted_at).is_not(None),
        col(Image.purged_at).is_(None),
    )
    ordering = Ordering("DELETED_AT", col(Image.deleted_at), True, Image.id)
    return paginate(session, stmt, ordering, page, lambda image: image.deleted_at)


def restore(*, session: Session, viewer: Viewer, image_id: str, quota: int) -> Image:
    """Bring an image back from the recycle bin (the quota counts it again).

    Raises:
        DomainError: IMAGE_NOT_IN_RECYCLE_BIN, IMAGE_QUOTA_EXCEEDED.
    """
    image = locked(
        session,
        Image,
        image_id,
        "m",
        col(Image.owner_id) == viewer.account_id,
        col(Image.deleted_at).is_not(None),
        col(Image.purged_at).is_(None),
    )
    if image is None:
        raise DomainError(
            ErrorCode.IMAGE_NOT_IN_RECYCLE_BIN,
            f"There is no image {shown(image_id)} in your recycle bin.",
            input_field("imageId"),
        )
    service.check_quota(
        session=session, owner_id=image.owner_id, region=image.region_code, limit=quota
    )
    image.deleted_at = None
    image.purge_at = None
    policies.note_undo(session=session, image=image, undone=LifecycleAction.DELETE)
    return saved(session, image)


def purge_due(*, session: Session, now: datetime) -> list[Image]:
    """Purge the binned images whose time is up; returns them (their bytes may go now)."""
    stmt = (
        select(Image)
        .where(
            col(Image.purge_at) <= now,
            col(Image.purged_at).is_(None),
            col(Image.deleted_at).is_not(None),
        )
        .with_for_update()
    )
    purged = list(session.exec(stmt))
    for image in purged:
        image.purged_at = now
        session.add(image)
    session.flush()
    return purged
