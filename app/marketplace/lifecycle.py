"""Listing lifecycle (R65-R67): create, edit, submit, approve (publish), reject, delist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from app import catalogue
from app.accounts.rules import Viewer
from app.errors import DomainError, ErrorCode, raise_all, shown
from app.ids import is_id, new_id
from app.images import service as images_service
from app.images.models import Image
from app.images.rules import ImageKind, ImageStatus, SourceKind
from app.marketplace import rules
from app.marketplace.models import Listing, ListingImage, ListingPlan
from app.marketplace.rules import ListingKind, ListingStatus, Plan
from app.marketplace.service import field, plans_of, require_provider, visible_clause
from app.money import rate_to_int


@dataclass(frozen=True)
class ListingInput:
    """createListing / updateListing input (None: unchanged, on update)."""

    kind: str | None = None
    title: str | None = None
    summary: str | None = None
    category: str | None = None
    version: str | None = None
    image_ids: list[str] | None = None
    plans: list[Plan] | None = None


def _source_images(
    session: Session, viewer: Viewer, image_ids: Sequence[str]
) -> tuple[list[Image], list[DomainError]]:
    problems: list[DomainError] = []
    images: list[Image] = []
    regions: set[str] = set()
    if not image_ids:
        problems.append(
            DomainError(ErrorCode.INVALID_INPUT, "Name at least one image.", field("imageIds"))
        )
    visible = {
        i.id: i
        for i in images_service.list_by_ids(session=session, viewer=viewer, image_ids=image_ids)
    }
    for index, image_id in enumerate(image_ids):
        path = field("imageIds", str(index))
        image = visible.get(image_id)
        if image is not None and image.kind != ImageKind.CUSTOM.value:
            problems.append(
                DomainError(ErrorCode.IMAGE_NOT_CUSTOM, "Listings publish custom images.", path)
            )
        elif image is None or image.owner_id != viewer.account_id:
            problems.append(
                DomainError(
                    ErrorCode.IMAGE_NOT_FOUND, f"There is no image {shown(image_id)}.", path
                )
            )
        elif image.status != ImageStatus.AVAILABLE.value:
            problems.append(
                DomainError(
                    ErrorCode.IMAGE_STATUS_FORBIDDEN, f"Image {image.id} is {image.status}.", path
                )
            )
        elif image.charge_listing_id is not None:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"Image {image.id} already carries listing {image.charge_listing_id}'s "
                    "charges; it cannot be sold again.",
                    path,
                )
            )
        elif image.region_code in regions:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"A listing has at most one image per region; {image.region_code} twice.",
                    path,
                )
            )
        else:
            regions.add(image.region_code)
            images.append(image)
    return images, problems


def _store_plans(session: Session, listing_id: str, plans: Sequence[Plan]) -> None:
    for row in session.exec(select(ListingPlan).where(ListingPlan.listing_id == listing_id)):
        session.delete(row)
    session.flush()
    for position, plan in enumerate(plans):
        session.add(
            ListingPlan(
                listing_id=listing_id,
                position=position,
                timing=plan.timing.value,
                months=plan.months,
                price_micros=rate_to_int(plan.price),
            )
        )


def _store_images(session: Session, listing_id: str, images: Sequence[Image]) -> None:
    for row in session.exec(select(ListingImage).where(ListingImage.listing_id == listing_id)):
        session.delete(row)
    session.flush()
    for image in images:
        session.add(
            ListingImage(listing_id=listing_id, image_id=image.id, region_code=image.region_code)
        )


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
    require_provider(viewer)
    kind = ListingKind(data.kind or "MARKET")
    problems = rules.text_problems(
        {
            "title": data.title or "",
            "summary": data.summary or "",
            "category": data.category or "",
            "version": data.version or "",
        }
    )
    problems += rules.plan_problems(kind, data.plans or [])
    images, image_problems = _source_images(session, viewer, data.image_ids or [])
    raise_all(problems + image_problems)
    listing = Listing(
        id=new_id("lst"),
        seed_key=seed_key,
        provider_id=viewer.account_id,
        kind=kind.value,
        title=(data.title or "").strip(),
        summary=data.summary or "",
        category=(data.category or "").strip(),
        version=(data.version or "").strip(),
        status=ListingStatus.DRAFT.value,
        created_at=now,
        updated_at=now,
    )
    session.add(listing)
    session.flush()
    _store_plans(session, listing.id, data.plans or [])
    _store_images(session, listing.id, images)
    session.flush()
    return listing


def _for_update(session: Session, viewer: Viewer, listing_id: str) -> Listing:
    listing = None
    if is_id(listing_id, "lst"):
        listing = session.exec(
            select(Listing)
            .where(Listing.id == listing_id, visible_clause(viewer))
            .with_for_update()
        ).first()
    if listing is None:
        raise DomainError(
            ErrorCode.LISTING_NOT_FOUND,
            f"There is no listing {shown(listing_id)}.",
            field("listingId"),
        )
    return listing


def _own(session: Session, viewer: Viewer, listing_id: str) -> Listing:
    require_provider(viewer)
    listing = _for_update(session, viewer, listing_id)
    if listing.provider_id != viewer.account_id:
        raise DomainError(
            ErrorCode.LISTING_NOT_FOUND,
            f"There is no listing {shown(listing_id)}.",
            field("listingId"),
        )
    return listing


def _refuse(listing: Listing, action: str) -> DomainError:
    return DomainError(
        ErrorCode.LISTING_STATUS_FORBIDDEN,
        f"Listing {listing.id} is {listing.status}; it cannot be {action}.",
        field("listingId"),
    )


def update(
    *, session: Session, viewer: Viewer, listing_id: str, data: ListingInput, now: datetime
) -> Listing:
    """Edit a DRAFT or REJECTED listing; a REJECTED one goes back to DRAFT (R66)."""
    listing = _own(session, viewer, listing_id)
    if ListingStatus(listing.status) not in rules.EDITABLE:
        raise _refuse(listing, "edited (only DRAFT and REJECTED listings can)")
    kind = ListingKind(data.kind or listing.kind)
    problems = rules.text_problems(
        {
            "title": data.title,
            "summary": data.summary,
            "category": data.category,
            "version": data.version,
        }
    )
    plans = data.plans
    if plans is None and kind.value != listing.kind:
        plans = plans_of(session=session, listing_ids=[listing.id])[listing.id]
    if plans is not None:
        problems += rules.plan_problems(kind, plans)
    images: list[Image] | None = None
    if data.image_ids is not None:
        images, image_problems = _source_images(session, viewer, data.image_ids)
        problems += image_problems
    raise_all(problems)
    listing.kind = kind.value
    for name in ("title", "summary", "category", "version"):
        value = getattr(data, name)
        if value is not None:
            setattr(listing, name, value.strip() if name != "summary" else value)
    if plans is not None:
        _store_plans(session, listing.id, plans)
    if images is not None:
        _store_images(session, listing.id, images)
    listing.status = ListingStatus.DRAFT.value
    listing.updated_at = now
    session.add(listing)
    session.flush()
    return listing


def submit(*, session: Session, viewer: Viewer, listing_id: str, now: datetime) -> Listing:
    """DRAFT -> PENDING_REVIEW."""
    listing = _own(session, viewer, listing_id)
    if listing.status != ListingStatus.DRAFT.value:
        raise _refuse(listing, "submitted (only DRAFT listings can)")
    listing.status = ListingStatus.PENDING_REVIEW.value
    listing.updated_at = now
    session.add(listing)
    session.flush()
    return listing


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise DomainError(ErrorCode.PERMISSION_DENIED, "Only an administrator may review listings.")


def approve(*, session: Session, viewer: Viewer, listing_id: str, now: datetime) -> Listing:
    """PENDING_REVIEW -> PUBLISHED: one new immutable published image per region (R67)."""
    _require_admin(viewer)
    listing = _for_update(session, viewer, listing_id)
    if listing.status != ListingStatus.PENDING_REVIEW.value:
        raise _refuse(listing, "approved (only PENDING_REVIEW listings can)")
    sources = list(
        session.exec(
            select(Image)
            .join(ListingImage, col(ListingImage.image_id) == col(Image.id))
            .where(ListingImage.listing_id == listing.id)
        )
    )
    broken = [
        i for i in sources if i.deleted_at is not None or i.status != ImageStatus.AVAILABLE.value
    ]
    if broken or not sources:
        raise DomainError(
            ErrorCode.IMAGE_NOT_AVAILABLE,
            "The listing's images are no longer all AVAILABLE; the provider must fix it.",
            field("listingId"),
        )
    kind = ImageKind.MARKET if listing.kind == ListingKind.MARKET.value else ImageKind.INTEGRATION
    for source in sources:
        session.add(_published_copy(source, listing, kind, now))
    listing.status = ListingStatus.PUBLISHED.value
    listing.review_note = None
    listing.updated_at = now
    session.add(listing)
    catalogue.bump(session=session)
    session.flush()
    return listing


def _published_copy(source: Image, listing: Listing, kind: ImageKind, now: datetime) -> Image:
    return Image(
        id=new_id("m"),
        name=source.name,
        description=listing.title,
        kind=kind.value,
        generation=source.generation,
        region_code=source.region_code,
        status=ImageStatus.AVAILABLE.value,
        os_type=source.os_type,
        os_name=source.os_name,
        os_version=source.os_version,
        os_arch=source.os_arch,
        os_lang=source.os_lang,
        min_disk_gb=source.min_disk_gb,
        size_gb=source.size_gb,
        created_at=now,
        owner_id=listing.provider_id,
        source_kind=SourceKind.LISTING.value,
        source_id=source.id,
        source_region=source.region_code,
        system_disk_kind=source.system_disk_kind,
        charge_os_license=source.charge_os_license,
        charge_listing_id=listing.id,
        listing_id=listing.id,
        disk_format=source.disk_format,
        sha256=source.sha256,
        virtual_size_bytes=source.virtual_size_bytes,
    )


def reject(
    *, session: Session, viewer: Viewer, listing_id: str, reason: str | None, now: datetime
) -> Listing:
    """PENDING_REVIEW -> REJECTED with the reviewer's reason (R66)."""
    _require_admin(viewer)
    listing = _for_update(session, viewer, listing_id)
    if listing.status != ListingStatus.PENDING_REVIEW.value:
        raise _refuse(listing, "rejected (only PENDING_REVIEW listings can)")
    if not reason or not reason.strip() or len(reason) > 1000:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "A rejection needs a reason (1-1000 characters).",
            field("reason"),
        )
    listing.status = ListingStatus.REJECTED.value
    listing.review_note = reason.strip()
    listing.updated_at = now
    session.add(listing)
    session.flush()
    return listing


def delist(
    *, session: Session, viewer: Viewer, listing_id: str, reason: str | None, now: datetime
) -> Listing:
    """PUBLISHED -> DELISTED (provider or admin); its images become NOT_AVAILABLE (R67)."""
    if not viewer.is_admin:
        listing = _own(session, viewer, listing_id)
    else:
        listing = _for_update(session, viewer, listing_id)
    if listing.status != ListingStatus.PUBLISHED.value:
        raise _refuse(listing, "delisted (only PUBLISHED listings can)")
    listing.status = ListingStatus.DELISTED.value
    if reason:
        listing.review_note = reason.strip()[:1000]
    listing.updated_at = now
    session.add(listing)
    for image in session.exec(select(Image).where(Image.listing_id == listing.id)):
        image.status = ImageStatus.NOT_AVAILABLE.value
        session.add(image)
    catalogue.bump(session=session)
    session.flush()
    return listing
