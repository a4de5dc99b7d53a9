"""Custom images: names and descriptions (R7), rename, delete (R40-R43), and the removal of
failed imports' images after their day (R193).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from app.database import saved
from app.errors import DomainError, ErrorCode, input_field, raise_all
from app.images import governance, recycle_bin, service
from app.images.models import Image, ImageShare
from app.images.rules import (
    ImageStatus,
    ShareStatus,
    description_problem,
    name_problem,
)
from app.platform.viewer import Viewer


def check_name_and_description(name: str | None, description: str | None) -> None:
    """Refuse a name breaking R7 or a description over 256 characters.

    Raises:
        DomainError / DomainErrors: INVALID_NAME, INVALID_INPUT.
    """
    problems = []
    if name is not None and (problem := name_problem(name)):
        problems.append(DomainError(ErrorCode.INVALID_NAME, problem, input_field("name")))
    if description is not None and (problem := description_problem(description)):
        problems.append(DomainError(ErrorCode.INVALID_INPUT, problem, input_field("description")))
    raise_all(problems)


def rename(*, session: Session, viewer: Viewer, image_id: str, name: str) -> Image:
    """Rename a custom image (owner only, R43).

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM, INVALID_NAME.
    """
    image = service.owned_custom(
        session=session, viewer=viewer, image_id=image_id, action="renamed"
    )
    check_name_and_description(name, None)
    image.name = name
    return saved(session, image)


def delete(
    *, session: Session, viewer: Viewer, image_id: str, now: datetime, recycle_bin_days: float
) -> str:
    """Delete a custom image (owner only, R40-R42): it waits in the recycle bin for
    ``recycle_bin_days`` (restorable), then is purged; 0 purges it at once.

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM, IMAGE_CREATING,
            IMAGE_SHARED, IMAGE_REPLICATING, IMAGE_DELETION_PROTECTED, IMAGE_IN_LISTING.
    """
    image = service.owned_custom(
        session=session, viewer=viewer, image_id=image_id, action="deleted"
    )
    problem = deletion_problem(session, image)
    if problem is not None:
        raise problem
    to_recycle_bin(session, image, recycle_bin_days, now)
    session.flush()
    return image.id


def to_recycle_bin(session: Session, image: Image, days: float, now: datetime) -> None:
    """Move a custom image that may be deleted to the recycle bin for ``days`` (a failed
    import's image no longer than its day); the stages its deprecation still had to run go,
    so that a restored image is not disabled or binned again by them.
    """
    failed_until = image.purge_at if image.status == ImageStatus.CREATE_FAILED.value else None
    recycle_bin.move_to_bin(session=session, image=image, days=days, now=now)
    if failed_until is not None and image.purge_at is not None:
        image.purge_at = min(image.purge_at, failed_until)  # the bin keeps it no longer
    image.disable_at = image.delete_at = None


def deletion_problem(session: Session, image: Image) -> DomainError | None:
    """Why a custom image may not move to the recycle bin now (R40-R42, R112), or None."""
    if image.status == ImageStatus.CREATING.value:
        return DomainError(
            ErrorCode.IMAGE_CREATING,
            f"Image {image.id} is still being created; wait for it or cancel its copy.",
            input_field("imageId"),
        )
    if image.deletion_protection:
        return DomainError(
            ErrorCode.IMAGE_DELETION_PROTECTED,
            f"Image {image.id} is protected from deletion; switch the protection off first.",
            input_field("imageId"),
        )
    shares = session.exec(  # a declined share does not hold the image (R198)
        select(ImageShare).where(
            ImageShare.image_id == image.id, ImageShare.status != ShareStatus.DECLINED.value
        )
    ).first()
    if shares is not None:
        return DomainError(
            ErrorCode.IMAGE_SHARED,
            f"Image {image.id} is shared with other accounts; unshare it first.",
            input_field("imageId"),
        )
    if governance.in_listing(session=session, image_ids=[image.id]):
        return DomainError(
            ErrorCode.IMAGE_IN_LISTING,
            f"Image {image.id} is offered by a listing; delist it or change its images first.",
            input_field("imageId"),
        )
    try:
        service.refuse_if_replicating(session, image, "deleted")
    except DomainError as exc:
        return exc
    return None


class DeprecationStages:
    """Scheduler job: the later stages of custom images' deprecations that fell due (R174).
    At ``disableAt`` the image is disabled; at ``deleteAt`` it moves to the recycle bin as
    ``deleteImage`` would move it, or, when that would be refused (deletion protection, a
    share, a listing, a copy in flight), stays where it is and says why in its lifecycle note.
    """

    def __init__(
        self, recycle_bin_days: float, on_disabled: Callable[[Session, Image, datetime], None]
    ) -> None:
        self.recycle_bin_days = recycle_bin_days
        self.on_disabled = on_disabled  # tells the image's users, in the same transaction

    def __call__(self, session: Session, now: datetime) -> None:
        """Run the stages due by ``now``."""
        due = (
            select(Image)
            .where(
                or_(col(Image.disable_at) <= now, col(Image.delete_at) <= now),
                col(Image.deleted_at).is_(None),
            )
            .order_by(col(Image.id))
            .with_for_update()
        )
        for image in session.exec(due):
            if image.disable_at is not None and image.disable_at <= now:
                was_disabled, image.disabled, image.disable_at = image.disabled, True, None
                if not was_disabled:
                    self.on_disabled(session, image, now)
            if image.delete_at is not None and image.delete_at <= now:
                when, image.delete_at = image.delete_at, None
                problem = deletion_problem(session, image)
                if problem is None:
                    to_recycle_bin(session, image, self.recycle_bin_days, now)
                else:
                    image.lifecycle_note = (
                        f"Not moved to the recycle bin at {when.isoformat()} as scheduled: "
                        f"{problem.message} This stage does not run again: delete the image "
                        "yourself, or deprecate it again with a new deleteAt."
                    )
            session.add(image)
        session.flush()


#: a failed import's image is shown to its owner with its failure this long, then purged
FAILED_IMAGE_SHOWN = timedelta(hours=24)


def schedule_failed_removal(image: Image, now: datetime) -> None:
    """A CREATE_FAILED image is purged a day after it failed (R193): ``purgeAt`` says when."""
    image.purge_at = now + FAILED_IMAGE_SHOWN


def purge_failed_due(*, session: Session, now: datetime) -> list[Image]:
    """Purge the failed images (outside the recycle bin) whose day is up; returns them. Their
    operations keep the failure.
    """
    stmt = (
        select(Image)
        .where(
            col(Image.purge_at) <= now,
            col(Image.purged_at).is_(None),
            col(Image.deleted_at).is_(None),
            col(Image.status) == ImageStatus.CREATE_FAILED.value,
        )
        .with_for_update()
    )
    purged = list(session.exec(stmt))
    for image in purged:
        image.deleted_at = image.purged_at = now
        session.add(image)
    session.flush()
    return purged
