"""Bringing an image back from the recycle bin against the account's own image quota."""

from __future__ import annotations

from sqlmodel import Session

from app.accounts import service as accounts_service
from app.accounts.rules import Viewer
from app.images import governance
from app.images.models import Image
from app.policy import Policy


def restore(*, session: Session, viewer: Viewer, image_id: str, policy: Policy) -> Image:
    """Restore a binned image if the region still has room under the caller's image quota.

    Raises:
        DomainError: IMAGE_NOT_IN_RECYCLE_BIN, IMAGE_QUOTA_EXCEEDED.
    """
    quota = accounts_service.image_quota(
        session=session, account_id=viewer.account_id, default=policy.custom_image_quota
    )
    return governance.restore(session=session, viewer=viewer, image_id=image_id, quota=quota)
