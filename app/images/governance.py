"""Running image fleets safely: deprecation (R110, R124), disable (R111, R125), deletion
protection (R112) and image families (R115, R122); the recycle bin is ``recycle_bin``.

An image is governed by its owner; the platform's and providers' published images (PUBLIC,
INTEGRATION, MARKET) also by administrators. Changes to what the anonymous catalogue shows
move the catalogue version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from app.errors import DomainError, ErrorCode, input_field, not_owner, shown
from app.images import policies, service
from app.images.models import Image
from app.images.policy_rules import LifecycleAction
from app.images.rules import (
    CATALOGUE_KINDS,
    ImageKind,
    ImageStatus,
    deprecation_message,
    family_problem,
    is_deprecated,
)
from app.marketplace.models import Listing, ListingImage
from app.marketplace.rules import ListingStatus
from app.platform import catalogue_version
from app.platform.viewer import Viewer


def governed(*, session: Session, viewer: Viewer, image_id: str, action: str) -> Image:
    """Lock an image the caller may govern: its own, or (admins) a published one.

    Raises:
        DomainError: IMAGE_NOT_FOUND (missing or hidden), PERMISSION_DENIED.
    """
    image = service.get_for_update(session=session, viewer=viewer, image_id=image_id)
    admin_may = viewer.is_admin and image.kind in CATALOGUE_KINDS
    if image.owner_id != viewer.account_id and not admin_may:
        raise not_owner("image", image.id, f"have it {action}", input_field("imageId"))
    return image


def _changed(session: Session, image: Image) -> Image:
    session.add(image)
    if image.kind in CATALOGUE_KINDS:
        catalogue_version.bump(session=session)
    session.flush()
    return image


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
    """Deprecate an image now or from a time (a past time means now), optionally naming the
    image to use instead; a custom image may also be scheduled to be disabled and then moved
    to the recycle bin, each stage after the one before (R174). A new deprecation replaces
    the stages and the note of the one before.

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, INVALID_INPUT (a replacement that is
            not usable in its place, a stage not after the one before), IMAGE_NOT_CUSTOM (a
            later stage for an image that is not custom).
    """
    image = governed(session=session, viewer=viewer, image_id=image_id, action="deprecated")
    if replacement_id is not None:
        _check_replacement(session, viewer, image, replacement_id, now)
    image.deprecate_at = max(deprecate_at or now, now)
    _check_stages(image, disable_at, delete_at)
    image.replacement_id = replacement_id
    image.disable_at, image.delete_at, image.lifecycle_note = disable_at, delete_at, None
    return _changed(session, image)


def _check_stages(image: Image, disable_at: datetime | None, delete_at: datetime | None) -> None:
    """The later stages: custom images only, each strictly after the stage before it."""
    stages = [("disableAt", disable_at), ("deleteAt", delete_at)]
    if image.kind != ImageKind.CUSTOM.value:
        for name, when in stages:
            if when is not None:
                raise DomainError(
                    ErrorCode.IMAGE_NOT_CUSTOM,
                    f"Only custom images can be scheduled to be disabled or deleted; image "
                    f"{image.id} is {image.kind}.",
                    input_field(name),
                )
    before, before_name = image.deprecate_at, "the deprecation"
    for name, when in stages:
        if when is None:
            continue
        if when.tzinfo is None:
            raise DomainError(
                ErrorCode.INVALID_INPUT, f"{name} needs a time zone (UTC).", input_field(name)
            )
        if before is not None and when <= before:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"{name} must be later than {before_name} ({before.isoformat()}).",
                input_field(name),
            )
        before, before_name = when, name


def _check_replacement(
    session: Session, viewer: Viewer, image: Image, replacement_id: str, now: datetime
) -> None:
    replacement = service.get(session=session, viewer=viewer, image_id=replacement_id)
    path = input_field("replacementImageId")
    problem = None
    if replacement is None:
        problem = f"There is no image {shown(replacement_id)}."
    elif replacement.id == image.id:
        problem = "An image cannot replace itself."
    elif replacement.region_code != image.region_code:
        problem = f"The replacement must be in {image.region_code}, like the image."
    elif replacement.status != ImageStatus.AVAILABLE.value or replacement.disabled:
        problem = f"Image {replacement.id} is not available to launch."
    elif is_deprecated(replacement, now):
        problem = f"Image {replacement.id} is deprecated itself."
    elif image.kind == ImageKind.PUBLIC.value and replacement.kind != ImageKind.PUBLIC.value:
        problem = "A public image is replaced by a public image."
    elif _leads_to(session, replacement.id, image.id):
        problem = (
            f"Image {replacement.id} already leads to {image.id} through its replacements "
            "(scheduled or in force); a replacement chain may not form a cycle."
        )
    if problem is not None:
        code = ErrorCode.IMAGE_NOT_FOUND if replacement is None else ErrorCode.INVALID_INPUT
        raise DomainError(code, problem, path)


def _leads_to(session: Session, start_id: str, image_id: str) -> bool:
    """Whether following replacements from image ``start_id`` (scheduled ones too, whoever
    owns them) reaches ``image_id``, so that making it its replacement would close a cycle
    (R159).

    Each link, the first included, is locked as it is read, so two requests closing one cycle
    from both ends cannot both pass: one waits for the other (or deadlocks, and its
    transaction is run again), then reads the link the other committed.
    """
    seen: set[str] = set()
    link = _locked_link(session, start_id)
    while link is not None and link.replacement_id is not None and link.id not in seen:
        if link.replacement_id == image_id:
            return True
        seen.add(link.id)
        link = _locked_link(session, link.replacement_id)
    return False


def _locked_link(session: Session, image_id: str) -> Image | None:
    """The next image of a replacement chain, as committed now, locked; None once the chain
    reaches an image purged for good (a binned one may come back with its replacement).
    """
    stmt = (
        select(Image)
        .where(col(Image.id) == image_id, col(Image.purged_at).is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(stmt).first()


def deprecation_warning(
    *, session: Session, viewer: Viewer | None, image: Image, now: datetime
) -> str | None:
    """The IMAGE_DEPRECATED warning of a launch, rebuild or quote onto ``image`` (None when it
    is not deprecated): it names the replacement only when the viewer may see it, as the
    ``Deprecation.replacement`` field does (R124).
    """
    if not is_deprecated(image, now):
        return None
    shown_id = None
    if image.replacement_id is not None:
        seen = service.get(session=session, viewer=viewer, image_id=image.replacement_id)
        shown_id = seen.id if seen is not None else None
    return deprecation_message(image, now, shown_id)


def undeprecate(*, session: Session, viewer: Viewer, image_id: str) -> Image:
    """Clear a deprecation (scheduled or in force) and the stages it scheduled.

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED.
    """
    image = governed(session=session, viewer=viewer, image_id=image_id, action="undeprecated")
    image.deprecate_at = None
    image.replacement_id = None
    image.disable_at = image.delete_at = None  # its later stages go with it
    image.lifecycle_note = None
    policies.note_undo(session=session, image=image, undone=LifecycleAction.DEPRECATE)
    return _changed(session, image)


def set_disabled(
    *, session: Session, viewer: Viewer, image_id: str, disabled: bool
) -> tuple[Image, bool]:
    """Disable an image (no launch, rebuild, copy, share or listing; only its owner still
    sees it) or enable it again. Shares are kept. Returns the image and whether it changed
    (it was not disabled, or not enabled, already), as read under its lock.

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED.
    """
    action = "disabled" if disabled else "enabled"
    image = governed(session=session, viewer=viewer, image_id=image_id, action=action)
    changed = image.disabled != disabled
    image.disabled = disabled
    if not disabled:
        policies.note_undo(session=session, image=image, undone=LifecycleAction.DISABLE)
    return _changed(session, image), changed


def set_deletion_protection(
    *, session: Session, viewer: Viewer, image_id: str, enabled: bool
) -> Image:
    """Switch deletion protection of one's own custom image.

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM.
    """
    image = service.owned_custom(
        session=session, viewer=viewer, image_id=image_id, action="protected"
    )
    image.deletion_protection = enabled
    return _changed(session, image)


def set_family(*, session: Session, viewer: Viewer, image_id: str, family: str | None) -> Image:
    """Put an image in a family (None: take it out).

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, INVALID_INPUT.
    """
    check_family(family)
    image = governed(session=session, viewer=viewer, image_id=image_id, action="put in a family")
    if image.kind not in (ImageKind.CUSTOM.value, ImageKind.PUBLIC.value):
        raise DomainError(
            ErrorCode.IMAGE_NOT_CUSTOM,
            f"Image {image.id} is {image.kind.lower()}: only custom and public images have "
            "families.",
            input_field("imageId"),
        )
    image.family = family
    return _changed(session, image)


def check_family(family: str | None, path: tuple[str, ...] = ("input", "family")) -> None:
    """Refuse a malformed family name.

    Raises:
        DomainError: INVALID_INPUT.
    """
    if family is not None and (problem := family_problem(family)):
        raise DomainError(ErrorCode.INVALID_INPUT, problem, path)


def disabled_problem(
    image: Image, action: str, path: tuple[str, ...] = ("input", "imageId")
) -> DomainError | None:
    """What the owner of a disabled image is told (others do not see it at all), or None."""
    if not image.disabled:
        return None
    return DomainError(
        ErrorCode.IMAGE_DISABLED,
        f"Image {image.id} is disabled; enable it before it can be {action}.",
        path,
    )


def refuse_disabled(image: Image, action: str) -> None:
    """Refuse to act on a disabled image.

    Raises:
        DomainError: IMAGE_DISABLED.
    """
    if (problem := disabled_problem(image, action)) is not None:
        raise problem


def ready_custom(
    *, session: Session, viewer: Viewer, image_id: str, action: str, again: str | None = None
) -> Image:
    """Lock the caller's custom image to be ``action`` (shared, copied): enabled, AVAILABLE and
    not being copied (``again``: how the last refusal says the action, default ``action``).

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM, IMAGE_DISABLED,
            IMAGE_STATUS_FORBIDDEN, IMAGE_REPLICATING.
    """
    image = service.owned_custom(session=session, viewer=viewer, image_id=image_id, action=action)
    refuse_disabled(image, action)
    if image.status != ImageStatus.AVAILABLE.value:
        raise DomainError(
            ErrorCode.IMAGE_STATUS_FORBIDDEN,
            f"Image {image.id} is {image.status}; only AVAILABLE images can be {action}.",
            input_field("imageId"),
        )
    service.refuse_if_replicating(session, image, again or action)
    return image


def image_from_family(
    *, session: Session, viewer: Viewer | None, region: str, family: str, now: datetime
) -> Image | None:
    """The newest AVAILABLE, enabled, non-deprecated image of a family in a region among the
    caller's own images and the platform's public ones (never another tenant's): one
    indexed lookup for each.
    """
    if family_problem(family) is not None:
        return None
    usable = (
        col(Image.family) == family,
        col(Image.region_code) == region,
        col(Image.status) == ImageStatus.AVAILABLE.value,
        col(Image.disabled).is_(False),
        col(Image.deleted_at).is_(None),
        or_(col(Image.deprecate_at).is_(None), col(Image.deprecate_at) > now),
    )
    # the caller's own (ix_image_family), then the platform's (the small public catalogue)
    whose = [col(Image.kind) == ImageKind.PUBLIC.value]
    if viewer is not None:
        own = col(Image.owner_id) == viewer.account_id
        whose.insert(0, and_(own, col(Image.kind) == ImageKind.CUSTOM.value))
    newest = (col(Image.created_at).desc(), col(Image.id).desc())
    found = [
        session.exec(select(Image).where(*usable, who).order_by(*newest).limit(1)).first()
        for who in whose
    ]
    candidates = [image for image in found if image is not None]
    return max(candidates, key=lambda image: (image.created_at, image.id), default=None)


def image_of_request(
    *,
    session: Session,
    viewer: Viewer | None,
    image_id: str | None,
    family: str | None,
    region: str,
    now: datetime,
) -> str:
    """The image id a launch or rebuild names: its imageId, or the newest image of its
    imageFamily in the region (resolved once, now).

    Raises:
        DomainError: IMAGE_SOURCE_AMBIGUOUS (both or neither), INVALID_INPUT (a malformed
            family), FAMILY_EMPTY (no image of the family the caller may launch there).
    """
    if (image_id is None) == (family is None):
        raise DomainError(
            ErrorCode.IMAGE_SOURCE_AMBIGUOUS,
            "Give exactly one of imageId and imageFamily.",
            input_field("imageId" if image_id is not None else "imageFamily"),
        )
    if image_id is not None:
        return image_id
    assert family is not None
    check_family(family, input_field("imageFamily"))
    image = image_from_family(session=session, viewer=viewer, region=region, family=family, now=now)
    if image is None:
        raise DomainError(
            ErrorCode.FAMILY_EMPTY,
            f"Family {shown(family)} has no image you may launch in {shown(region)}: none is "
            "AVAILABLE, enabled and not deprecated.",
            input_field("imageFamily"),
        )
    return image.id


def in_listing(*, session: Session, image_ids: Sequence[str]) -> set[str]:
    """Which of these images a listing still offers (not delisted or rejected)."""
    if not image_ids:
        return set()
    stmt = (
        select(col(ListingImage.image_id))
        .join(Listing, col(Listing.id) == col(ListingImage.listing_id))
        .where(
            col(ListingImage.image_id).in_(image_ids),
            col(Listing.status).not_in(
                [ListingStatus.DELISTED.value, ListingStatus.REJECTED.value]
            ),
        )
    )
    return set(session.exec(stmt))
