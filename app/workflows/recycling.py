"""Bringing an image back from the recycle bin against the account's own image quota (a
failed import's image keeps the day it is shown for, R193).
"""

from __future__ import annotations

from sqlmodel import Session

from app.ids import is_id
from app.images import recycle_bin
from app.images.models import Image
from app.images.rules import ImageStatus
from app.platform.viewer import Viewer
from app.policy import Policy
from app.workflows import jobs


def restore(*, session: Session, viewer: Viewer, image_id: str, policy: Policy) -> Image:
    """Restore a binned image if the region still has room under the caller's image quota.

    Raises:
        DomainError: IMAGE_NOT_IN_RECYCLE_BIN, IMAGE_QUOTA_EXCEEDED.
    """
    quota = jobs.lock_image_quota(session, viewer.account_id, policy)  # before the image (R209)
    binned = session.get(Image, image_id) if is_id(image_id, "m") else None
    failed = binned is not None and binned.status == ImageStatus.CREATE_FAILED.value
    failed_until = binned.purge_at if failed and binned is not None else None
    image = recycle_bin.restore(session=session, viewer=viewer, image_id=image_id, quota=quota)
    if failed_until is not None:  # a failed import's image is still purged after its day
        image.purge_at = failed_until
        session.add(image)
        session.flush()
    return image
