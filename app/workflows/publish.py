"""Publishing custom images on the marketplace (R65-R67): a listing names a provider's
AVAILABLE custom images; approval publishes one immutable copy per region; delisting
withdraws them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from app.errors import DomainError, ErrorCode, input_field, shown
from app.images import service as images_service
from app.images.models import Image
from app.images.rules import Disk, ImageKind, ImageStatus, Source, SourceKind
from app.marketplace import lifecycle as listings
from app.marketplace.lifecycle import ListingInput, Sources
from app.marketplace.models import Listing
from app.marketplace.rules import ListingKind
from app.platform.viewer import Viewer
from app.webhooks.rules import WebhookEventType
from app.workflows import announce


def create(
    *,
    session: Session,
    viewer: Viewer,
    data: ListingInput,
    now: datetime,
    seed_key: str | None = None,
) -> Listing:
    """Create a DRAFT listing of the provider's own AVAILABLE custom images (R65).

    Raises:
        DomainError / DomainErrors: NOT_A_PROVIDER, INVALID_INPUT, INVALID_TERM, IMAGE_NOT_FOUND,
            IMAGE_NOT_CUSTOM, IMAGE_STATUS_FORBIDDEN, MARKET_IMAGE_POSTPAID_UNSUPPORTED.
    """
    return listings.create(
        session=session,
        viewer=viewer,
        data=data,
        images=check_sources(session, viewer, data.image_ids or []),
        now=now,
        seed_key=seed_key,
    )


def update(
    *, session: Session, viewer: Viewer, listing_id: str, data: ListingInput, now: datetime
) -> Listing:
    """Edit a DRAFT or REJECTED listing; a REJECTED one goes back to DRAFT (R66).

    Raises:
        DomainError / DomainErrors: as ``create``, and LISTING_NOT_FOUND,
            LISTING_STATUS_FORBIDDEN.
    """
    images = None
    if data.image_ids is not None:
        images = check_sources(session, viewer, data.image_ids)
    return listings.update(
        session=session, viewer=viewer, listing_id=listing_id, data=data, images=images, now=now
    )


def approve(*, session: Session, viewer: Viewer, listing_id: str, now: datetime) -> Listing:
    """PENDING_REVIEW -> PUBLISHED: one new immutable published image per region (R67).

    Raises:
        DomainError: PERMISSION_DENIED, LISTING_NOT_FOUND, LISTING_STATUS_FORBIDDEN,
            IMAGE_NOT_AVAILABLE.
    """
    listing = listings.pending_review(session=session, viewer=viewer, listing_id=listing_id)
    sources = images_service.sources_of_listing(session=session, listing_id=listing.id)
    broken = [
        i
        for i in sources
        if i.deleted_at is not None or i.disabled or i.status != ImageStatus.AVAILABLE.value
    ]
    if broken or not sources:
        raise DomainError(
            ErrorCode.IMAGE_NOT_AVAILABLE,
            "The listing's images are no longer all AVAILABLE; the provider must fix it.",
            input_field("listingId"),
        )
    kind = ImageKind.MARKET if listing.kind == ListingKind.MARKET.value else ImageKind.INTEGRATION
    for source in sources:
        session.add(
            images_service.image_from_source(
                dataclasses.replace(Disk.of(source), charge_listing_id=listing.id),
                name=source.name,
                description=listing.title,
                kind=kind,
                owner_id=listing.provider_id,
                region_code=source.region_code,
                source=Source(SourceKind.LISTING, source.id, source.region_code),
                now=now,
                status=ImageStatus.AVAILABLE,
                listing_id=listing.id,
            )
        )
    published = listings.mark_published(session=session, listing=listing, now=now)
    announce.listing_reviewed(session, published, WebhookEventType.LISTING_APPROVED, now)
    return published


def reject(
    *, session: Session, viewer: Viewer, listing_id: str, reason: str | None, now: datetime
) -> Listing:
    """PENDING_REVIEW -> REJECTED with the reviewer's note; its provider hears of it.

    Raises:
        DomainError: PERMISSION_DENIED, LISTING_NOT_FOUND, LISTING_STATUS_FORBIDDEN.
    """
    listing = listings.reject(
        session=session, viewer=viewer, listing_id=listing_id, reason=reason, now=now
    )
    announce.listing_reviewed(session, listing, WebhookEventType.LISTING_REJECTED, now)
    return listing


def delist(
    *, session: Session, viewer: Viewer, listing_id: str, reason: str | None, now: datetime
) -> Listing:
    """PUBLISHED -> DELISTED (provider or admin); its images become NOT_AVAILABLE (R67).

    Raises:
        DomainError: NOT_A_PROVIDER, LISTING_NOT_FOUND, LISTING_STATUS_FORBIDDEN.
    """
    listing = listings.delist(
        session=session, viewer=viewer, listing_id=listing_id, reason=reason, now=now
    )
    images_service.withdraw_listing_images(session=session, listing_id=listing.id)
    announce.listing_reviewed(session, listing, WebhookEventType.LISTING_DELISTED, now)
    session.flush()
    return listing


def check_sources(session: Session, viewer: Viewer, image_ids: Sequence[str]) -> Sources:
    """The caller's images a listing may publish, and what is wrong with the others."""
    problems: list[DomainError] = []
    usable: list[Image] = []
    regions: set[str] = set()
    if not image_ids:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT, "Name at least one image.", input_field("imageIds")
            )
        )
    visible = {
        i.id: i
        for i in images_service.list_by_ids(session=session, viewer=viewer, image_ids=image_ids)
    }
    for index, image_id in enumerate(image_ids):
        path = input_field("imageIds", str(index))
        image = visible.get(image_id)
        problem = _source_problem(viewer, image_id, image, regions)
        if problem is not None:
            problems.append(DomainError(problem[0], problem[1], path))
        elif image is not None:
            regions.add(image.region_code)
            usable.append(image)
    return Sources(usable, problems)


def _source_problem(
    viewer: Viewer, image_id: str, image: Image | None, regions: set[str]
) -> tuple[ErrorCode, str] | None:
    if image is not None and image.kind != ImageKind.CUSTOM.value:
        return ErrorCode.IMAGE_NOT_CUSTOM, "Listings publish custom images."
    if image is None or image.owner_id != viewer.account_id:
        return ErrorCode.IMAGE_NOT_FOUND, f"There is no image {shown(image_id)}."
    if image.status != ImageStatus.AVAILABLE.value:
        return ErrorCode.IMAGE_STATUS_FORBIDDEN, f"Image {image.id} is {image.status}."
    if image.disabled:
        return ErrorCode.IMAGE_DISABLED, f"Image {image.id} is disabled; enable it first."
    if image.charge_listing_id is not None:
        return (
            ErrorCode.INVALID_INPUT,
            f"Image {image.id} already carries listing {image.charge_listing_id}'s charges; "
            "it cannot be sold again.",
        )
    if image.region_code in regions:
        return (
            ErrorCode.INVALID_INPUT,
            f"A listing has at most one image per region; {image.region_code} twice.",
        )
    return None
