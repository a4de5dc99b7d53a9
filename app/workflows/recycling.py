"""Bringing an image back from the recycle bin against the account's own image quota."""

from __future__ import annotations

from sqlmodel import Session

from app.accounts.rules import Viewer
from app.images import governance
from app.images.models import Image
from app.policy import Policy
from app.workflows import jobs


def restore(*, session: Session, viewer: Viewer, image_id: str, policy: Policy) -> Image:
    """Restore a binned image if the region still has room under the caller's image quota.

    Raises:
        DomainError: IMAGE_NOT_IN_RECYCLE_BIN, IMAGE_QUOTA_EXCEEDED.
    """
    quota = jobs.image_quota(session, viewer.account_id, policy)
    return governance.restore(session=session, viewer=viewer, image_id=image_id, quota=quota)
