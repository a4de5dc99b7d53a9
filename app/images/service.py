"""Read images with the one visibility rule (R5) every query and mutation goes through."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    func,
    or_,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app import errors
from app.accounts.models import Account
from app.errors import DomainError, ErrorCode, input_field, not_owner
from app.ids import is_id, new_id
from app.images.models import Image, ImageShare
from app.images.rules import (
    CATALOGUE_KINDS,
    Disk,
    ImageKind,
    ImageStatus,
    ShareStatus,
    Source,
    SourceKind,
)
from app.marketplace.models import Listing, ListingImage, Sale, listing_visible
from app.pagination import Ordering, Page, PageRequest, paginate
from app.platform.viewer import Viewer
from app.platform.visibility import by_ids, locked


def lock_accounts(session: Session, account_ids: Sequence[str]) -> None:
    """Lock the named accounts that exist, in id order (FOR NO KEY UPDATE, as
    ``accounts.service.lock_accounts``: rows that merely reference them can still be added),
    so that a count checked against a limit holds until the transaction ends (R155).
    """
    if account_ids:
        session.exec(
            select(Account.id)
            .where(col(Account.id).in_(sorted(set(account_ids))))
            .order_by(col(Account.id))
            .with_for_update(key_share=True)
        ).all()


def visible_clause(viewer: Viewer | None) -> ColumnElement[bool]:
    """The visibility rule (R5) as a SQL predicate: the only definition of who sees what.

    Everyone sees the catalogue (PUBLIC, INTEGRATION, MARKET) and an account also its own
    images and those shared with it -- but a disabled image only its owner (R111); admins
    see everything. Deleted images, in the recycle bin or purged, are seen by no one (R6).
    """
    alive = col(Image.deleted_at).is_(None)
    if viewer is not None and viewer.is_admin:
        return alive
    enabled = col(Image.disabled).is_(False)
    if viewer is None:
        return and_(alive, enabled, col(Image.kind).in_(CATALOGUE_KINDS))
    mine = col(Image.owner_id) == viewer.account_id
    catalogue = and_(col(Image.kind).in_(CATALOGUE_KINDS), or_(enabled, mine))
    return and_(alive, or_(catalogue, mine, and_(enabled, shared_to(viewer))))


def shared_to(viewer: Viewer) -> ColumnElement[bool]:
    """Images shared with the viewer: the shares it accepted (or took automatically)."""
    shared = select(ImageShare.image_id).where(
        ImageShare.account_id == viewer.account_id,
        ImageShare.status == ShareStatus.ACCEPTED.value,
    )
    return col(Image.id).in_(shared)


def listing_explained(viewer: Viewer | None) -> ColumnElement[bool]:
    """Who may read a listing as the charge root of an image (R171): whoever may see it, and,
    whatever its status since, every account that pays or paid it: one with an image of its
    own descending from it, or one that bought it (each prepaid purchase and each settled hour
    of software is a sale).
    """
    if viewer is None or viewer.is_admin:
        return listing_visible(viewer)
    own = aliased(Image)  # an image page joins this onto its own image rows
    descends = (
        exists()
        .where(col(own.owner_id) == viewer.account_id, col(own.charge_listing_id) == Listing.id)
        .correlate(Listing)
    )
    bought = (
        exists()
        .where(col(Sale.buyer_id) == viewer.account_id, col(Sale.listing_id) == Listing.id)
        .correlate(Listing)
    )
    return or_(listing_visible(viewer), descends, bought)


def explained_listings(
    *, session: Session, viewer: Viewer | None, ids: Sequence[str]
) -> list[Listing]:
    """The listings among these ids the viewer may read as an image's charge root."""
    return by_ids(session, Listing, ids, "lst", listing_explained(viewer))


def get(*, session: Session, viewer: Viewer | None, image_id: str) -> Image | None:
    """Return a visible image by id; a hidden one answers exactly like a missing one."""
    if not is_id(image_id, "m"):
        return None
    stmt = select(Image).where(Image.id == image_id, visible_clause(viewer))
    return session.exec(stmt).first()


def list_by_ids(
    *, session: Session, viewer: Viewer | None, image_ids: Sequence[str]
) -> list[Image]:
    """Return the visible images among these ids (any order)."""
    return by_ids(session, Image, image_ids, "m", visible_clause(viewer))


# --- helpers for the lifecycle modules ----------------------------------------------------


def not_found(image_id: str, name: str = "imageId") -> DomainError:
    """The answer for an image that is missing or hidden from the caller (R5)."""
    return errors.not_found(ErrorCode.IMAGE_NOT_FOUND, "image", image_id, name)


def get_for_update(
    *, session: Session, viewer: Viewer, image_id: str, name: str = "imageId"
) -> Image:
    """Lock a visible image for a change.

    Raises:
        DomainError: IMAGE_NOT_FOUND when it is missing or hidden.
    """
    image = locked(session, Image, image_id, "m", visible_clause(viewer))
    if image is None:
        raise not_found(image_id, name)
    return image


def owned_custom(
    *, session: Session, viewer: Viewer, image_id: str, action: str, name: str = "imageId"
) -> Image:
    """Lock an image the caller owns and that is CUSTOM, for ``action`` (R20, R30, R40, R43).

    Raises:
        DomainError: IMAGE_NOT_FOUND (missing or hidden), PERMISSION_DENIED (someone else's,
            e.g. shared with the caller), IMAGE_NOT_CUSTOM (public, market...).
    """
    image = get_for_update(session=session, viewer=viewer, image_id=image_id, name=name)
    if image.kind != ImageKind.CUSTOM.value:
        raise DomainError(
            ErrorCode.IMAGE_NOT_CUSTOM,
            f"Only custom images can be {action}; {image.id} is {image.kind}.",
            input_field(name),
        )
    if image.owner_id != viewer.account_id:
        raise not_owner("image", image.id, f"have it {action}", input_field(name))
    return image


def replicating_ids(*, session: Session, image_ids: Sequence[str]) -> set[str]:
    """Which of these images are the source of a copy still in flight (R33)."""
    if not image_ids:
        return set()
    stmt = select(Image.source_id).where(
        Image.source_kind == SourceKind.COPY.value,
        col(Image.source_id).in_(image_ids),
        Image.status == ImageStatus.CREATING.value,
        col(Image.deleted_at).is_(None),
    )
    return {source for source in session.exec(stmt) if source is not None}


def refuse_if_replicating(session: Session, image: Image, action: str) -> None:
    """Refuse a delete/share/copy while copies of the image are in flight (R33)."""
    if replicating_ids(session=session, image_ids=[image.id]):
        raise DomainError(
            ErrorCode.IMAGE_REPLICATING,
            f"Image {image.id} is being copied to another region; it cannot be {action} "
            "until the copy finishes or is cancelled.",
            input_field("imageId"),
        )


def custom_image_count(*, session: Session, owner_id: str, region: str) -> int:
    """Custom images that count against the quota (R8): all but deleted and failed ones."""
    stmt = select(func.count()).where(
        Image.owner_id == owner_id,
        Image.region_code == region,
        Image.kind == ImageKind.CUSTOM.value,
        col(Image.deleted_at).is_(None),
        Image.status != ImageStatus.CREATE_FAILED.value,
    )
    return int(session.exec(stmt).one())


def check_quota(
    *,
    session: Session,
    owner_id: str,
    region: str,
    limit: int,
    adding: int = 1,
    path: tuple[str, ...] = ("input",),
) -> None:
    """Refuse when ``adding`` more custom images would pass the region's quota (R8, R14).

    Raises:
        DomainError: IMAGE_QUOTA_EXCEEDED.
    """
    used = custom_image_count(session=session, owner_id=owner_id, region=region)
    if used + adding > limit:
        raise DomainError(
            ErrorCode.IMAGE_QUOTA_EXCEEDED,
            f"Region {region} already holds {used} of your {limit} custom images.",
            path,
        )


def shared_with(*, session: Session, image_id: str, page: PageRequest) -> Page[ImageShare]:
    """One page of the accounts an image is shared with (R25), oldest share first."""
    stmt = select(ImageShare).where(ImageShare.image_id == image_id)
    ordering = Ordering("SHARED_AT", ImageShare.created_at, False, ImageShare.account_id)
    return paginate(
        session, stmt, ordering, page, lambda share: share.created_at, lambda s: s.account_id
    )


def image_from_source(
    disk: Disk,
    *,
    name: str,
    description: str,
    kind: ImageKind,
    owner_id: str,
    region_code: str,
    source: Source,
    now: datetime,
    status: ImageStatus = ImageStatus.CREATING,
    listing_id: str | None = None,
    family: str | None = None,
) -> Image:
    """A new image row made of ``disk`` (not yet added to the session)."""
    return Image(
        id=new_id("m"),
        name=name,
        description=description,
        kind=kind.value,
        region_code=region_code,
        status=status.value,
        progress=0 if status is ImageStatus.CREATING else None,
        created_at=now,
        owner_id=owner_id,
        source_kind=source.kind.value,
        source_id=source.id,
        source_region=source.region,
        listing_id=listing_id,
        family=family,
        **dataclasses.asdict(disk),
    )


def images_of_listings(*, session: Session, listing_ids: Sequence[str]) -> dict[str, list[Image]]:
    """Each listing's images: the published ones once approved, else the provider's sources."""
    found: dict[str, list[Image]] = {i: [] for i in listing_ids}
    if not listing_ids:
        return found
    published = select(Image).where(
        col(Image.listing_id).in_(listing_ids), col(Image.deleted_at).is_(None)
    )
    for image in session.exec(published.order_by(col(Image.region_code))):
        found[image.listing_id or ""].append(image)
    pending = [i for i in listing_ids if not found[i]]
    if pending:
        stmt = (
            select(ListingImage.listing_id, Image)
            .join(Image, col(Image.id) == col(ListingImage.image_id))
            .where(col(ListingImage.listing_id).in_(pending))
            .order_by(col(ListingImage.region_code))
        )
        for listing_id, image in session.exec(stmt):
            found[listing_id].append(image)
    return found


def sources_of_listing(*, session: Session, listing_id: str) -> list[Image]:
    """The provider's images a listing was made of (whatever their state now)."""
    return list(
        session.exec(
            select(Image)
            .join(ListingImage, col(ListingImage.image_id) == col(Image.id))
            .where(ListingImage.listing_id == listing_id)
        )
    )


def withdraw_listing_images(*, session: Session, listing_id: str) -> None:
    """A delisted listing's published images can no longer be used (NOT_AVAILABLE, R67)."""
    for image in session.exec(select(Image).where(Image.listing_id == listing_id)):
        image.status = ImageStatus.NOT_AVAILABLE.value
        session.add(image)
