"""Listing lifecycle (R65-R67): create, edit, submit, review, reject, delist (the listing rows;
the images they publish are app.workflows.publish's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session, select

from app.accounts.permissions import require_admin, require_provider
from app.database import saved
from app.errors import DomainError, ErrorCode, input_field, not_found, raise_all
from app.ids import new_id
from app.marketplace import rules
from app.marketplace.models import Listing, ListingImage, ListingPlan
from app.marketplace.rules import ListingKind, ListingStatus, Plan
from app.marketplace.service import plans_of, visible_clause
from app.money import rate_to_int
from app.platform import catalogue_version
from app.platform.viewer import Viewer
from app.platform.visibility import locked


class SourceImage(Protocol):
    """An image a listing is made of: its id and region are all the listing records."""

    @property
    def id(self) -> str:
        """The image's id."""

    @property
    def region_code(self) -> str:
        """Its region."""


@dataclass(frozen=True)
class Sources:
    """The images named for a listing, once checked: the usable ones and every problem."""

    usable: Sequence[SourceImage]
    problems: list[DomainError]


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


def _store_images(session: Session, listing_id: str, images: Sequence[SourceImage]) -> None:
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
    images: Sources,
    now: datetime,
    seed_key: str | None = None,
) -> Listing:
    """Create a DRAFT listing of images the caller checked (``images``: the usable ones and
    the problems with the others), reporting every problem at once (R65).

    Raises:
        DomainError / DomainErrors: NOT_A_PROVIDER, INVALID_INPUT, INVALID_TERM,
            MARKET_IMAGE_POSTPAID_UNSUPPORTED, and the problems with the images.
    """
    require_provider(viewer)
    kind = ListingKind(data.kind) if data.kind else ListingKind.MARKET
    problems = rules.text_problems(
        {
            "title": data.title or "",
            "summary": data.summary or "",
            "category": data.category or "",
            "version": data.version or "",
        }
    )
    problems += rules.plan_problems(kind, data.plans or [])
    raise_all(problems + images.problems)
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
    _store_images(session, listing.id, images.usable)
    session.flush()
    return listing


def _for_update(session: Session, viewer: Viewer, listing_id: str) -> Listing:
    listing = locked(session, Listing, listing_id, "lst", visible_clause(viewer))
    if listing is None:
        raise not_found(ErrorCode.LISTING_NOT_FOUND, "listing", listing_id, "listingId")
    return listing


def _own(session: Session, viewer: Viewer, listing_id: str) -> Listing:
    require_provider(viewer)
    listing = _for_update(session, viewer, listing_id)
    if listing.provider_id != viewer.account_id:
        raise not_found(ErrorCode.LISTING_NOT_FOUND, "listing", listing_id, "listingId")
    return listing


def _refuse(listing: Listing, action: str) -> DomainError:
    return DomainError(
        ErrorCode.LISTING_STATUS_FORBIDDEN,
        f"Listing {listing.id} is {listing.status}; it cannot be {action}.",
        input_field("listingId"),
    )


def update(
    *,
    session: Session,
    viewer: Viewer,
    listing_id: str,
    data: ListingInput,
    images: Sources | None,
    now: datetime,
) -> Listing:
    """Edit a DRAFT or REJECTED listing; a REJECTED one goes back to DRAFT (R66).

    ``images``: the checked images when ``data.image_ids`` is given.
    """
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
    if images is not None:
        problems += images.problems
    raise_all(problems)
    listing.kind = kind.value
    for name in ("title", "summary", "category", "version"):
        value = getattr(data, name)
        if value is not None:
            setattr(listing, name, value.strip() if name != "summary" else value)
    if plans is not None:
        _store_plans(session, listing.id, plans)
    if images is not None:
        _store_images(session, listing.id, images.usable)
    listing.status = ListingStatus.DRAFT.value
    listing.updated_at = now
    return saved(session, listing)


def submit(*, session: Session, viewer: Viewer, listing_id: str, now: datetime) -> Listing:
    """DRAFT -> PENDING_REVIEW."""
    listing = _own(session, viewer, listing_id)
    if listing.status != ListingStatus.DRAFT.value:
        raise _refuse(listing, "submitted (only DRAFT listings can)")
    listing.status = ListingStatus.PENDING_REVIEW.value
    listing.updated_at = now
    return saved(session, listing)


def pending_review(*, session: Session, viewer: Viewer, listing_id: str) -> Listing:
    """Lock a PENDING_REVIEW listing for an administrator's approval.

    Raises:
        DomainError: PERMISSION_DENIED, LISTING_NOT_FOUND, LISTING_STATUS_FORBIDDEN.
    """
    require_admin(viewer, "review listings")
    listing = _for_update(session, viewer, listing_id)
    if listing.status != ListingStatus.PENDING_REVIEW.value:
        raise _refuse(listing, "approved (only PENDING_REVIEW listings can)")
    return listing


def mark_published(*, session: Session, listing: Listing, now: datetime) -> Listing:
    """PENDING_REVIEW -> PUBLISHED, once its images are published (R67)."""
    listing.status = ListingStatus.PUBLISHED.value
    listing.review_note = None
    listing.updated_at = now
    session.add(listing)
    catalogue_version.bump(session=session)
    session.flush()
    return listing


def reject(
    *, session: Session, viewer: Viewer, listing_id: str, reason: str | None, now: datetime
) -> Listing:
    """PENDING_REVIEW -> REJECTED with the reviewer's reason (R66)."""
    require_admin(viewer, "review listings")
    listing = _for_update(session, viewer, listing_id)
    if listing.status != ListingStatus.PENDING_REVIEW.value:
        raise _refuse(listing, "rejected (only PENDING_REVIEW listings can)")
    if not reason or not reason.strip() or len(reason) > 1000:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "A rejection needs a reason (1-1000 characters).",
            input_field("reason"),
        )
    listing.status = ListingStatus.REJECTED.value
    listing.review_note = reason.strip()
    listing.updated_at = now
    return saved(session, listing)


def delist(
    *, session: Session, viewer: Viewer, listing_id: str, reason: str | None, now: datetime
) -> Listing:
    """PUBLISHED -> DELISTED (provider or admin); the caller withdraws its images (R67)."""
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
    catalogue_version.bump(session=session)
    session.flush()
    return listing
