"""Retiring an image by hand: deprecating or disabling it, and telling those who use it
(its owner, the accounts that took a share of it, the accounts running it) in the same
transaction. The scheduled stages and lifecycle policies tell them the same way.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from app.images import governance
from app.images.models import Image
from app.platform.viewer import Viewer
from app.workflows import announce


def deprecate(
    *,
    session: Session,
    viewer: Viewer,
    image_id: str,
    deprecate_at: datetime | None,
    replacement_id: str | None,
    now: datetime,
    disable_at: datetime | None = None,
    delete_at: datetime | None = None,
) -> Image:
    """``governance.deprecate``, then IMAGE_DEPRECATED to the image's owner and users (a
    deprecation from a later time is announced now, with that time).
    """
    image = governance.deprecate(
        session=session,
        viewer=viewer,
        image_id=image_id,
        deprecate_at=deprecate_at,
        replacement_id=replacement_id,
        now=now,
        disable_at=disable_at,
        delete_at=delete_at,
    )
    announce.image_deprecated(session, image, now)
    return image


def set_disabled(
    *, session: Session, viewer: Viewer, image_id: str, disabled: bool, now: datetime
) -> Image:
    """``governance.set_disabled``, then IMAGE_DISABLED to the image's owner and users when
    an enabled image was disabled.
    """
    image, changed = governance.set_disabled(
        session=session, viewer=viewer, image_id=image_id, disabled=disabled
    )
    if disabled and changed:
        announce.image_disabled(session, image, now)
    return image
