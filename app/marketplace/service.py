"""Listings: who may do what, reads with the visibility of R69, and plans for charges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from app.billing.pricing import Timing
from app.database import grouped
from app.ids import is_id
from app.marketplace import rules
from app.marketplace.models import Listing, ListingImage, ListingPlan, Sale, listing_visible
from app.marketplace.rules import ListingKind, Plan
from app.money import rate_from_int
from app.pagination import Page, PageRequest, given, newest_first
from app.platform.viewer import Viewer
from app.platform.visibility import by_ids, owned_by


def visible_clause(viewer: Viewer | None) -> ColumnElement[bool]:
    """R69: the listing visibility rule (see app.marketplace.models.listing_visible)."""
    return listing_visible(viewer)


def get(*, session: Session, viewer: Viewer | None, listing_id: str) -> Listing | None:
    """A listing the viewer may see, or None."""
    if not is_id(listing_id, "lst"):
        return None
    stmt = select(Listing).where(Listing.id == listing_id, visible_clause(viewer))
    return session.exec(stmt).first()


def list_by_ids(*, session: Session, viewer: Viewer | None, ids: Sequence[str]) -> list[Listing]:
    """The visible listings among these ids."""
    return by_ids(session, Listing, ids, "lst", visible_clause(viewer))


@dataclass(frozen=True)
class ListingFilter:
    """Filters of the listings query."""

    kind: str | None = None
    category: str | None = None
    provider: str | None = None
    status: str | None = None
    region: str | None = None
    text_contains: str | None = None


def list_listings(
    *, session: Session, viewer: Viewer | None, filters: ListingFilter, page: PageRequest
) -> Page[Listing]:
    """One keyset page of visible listings, newest first."""
    stmt = select(Listing).where(
        visible_clause(viewer),
        *given(
            (Listing.kind, filters.kind),
            (Listing.category, filters.category),
            (Listing.provider_id, filters.provider),
            (Listing.status, filters.status),
        ),
    )
    if filters.region is not None:
        in_region = select(ListingImage.listing_id).where(
            ListingImage.region_code == filters.region
        )
        stmt = stmt.where(col(Listing.id).in_(in_region))
    if filters.text_contains:
        text = filters.text_contains[:100]
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        stmt = stmt.where(
            or_(
                col(Listing.title).ilike(pattern, escape="\\"),
                col(Listing.summary).ilike(pattern, escape="\\"),
            )
        )
    return newest_first(session, stmt, Listing, page)


def plans_of(*, session: Session, listing_ids: Sequence[str]) -> dict[str, list[Plan]]:
    """Each listing's plans, in order."""
    stmt = (
        select(ListingPlan)
        .where(col(ListingPlan.listing_id).in_(listing_ids))
        .order_by(col(ListingPlan.listing_id), col(ListingPlan.position))
    )
    return grouped(
        session,
        listing_ids,
        stmt,
        lambda row: row.listing_id,
        lambda row: Plan(Timing(row.timing), row.months, rate_from_int(row.price_micros)),
    )


def software_plan(*, session: Session, listing_id: str, timing: Timing, months: int | None) -> Any:
    """The SoftwarePlan a launch or rebuild from this listing's lineage pays (None: free).

    Raises:
        DomainError: MARKET_IMAGE_POSTPAID_UNSUPPORTED, PLAN_TERM_NOT_OFFERED.
    """
    listing = session.get(Listing, listing_id)
    if listing is None:
        return None
    plans = plans_of(session=session, listing_ids=[listing_id])[listing_id]
    return rules.select_plan(ListingKind(listing.kind), listing.title, plans, timing, months)


def provider_of(*, session: Session, listing_ids: Sequence[str]) -> dict[str, str]:
    """The provider account of each listing."""
    if not listing_ids:
        return {}
    stmt = select(Listing.id, Listing.provider_id).where(col(Listing.id).in_(listing_ids))
    return dict(session.exec(stmt).all())


def sales_by_ids(*, session: Session, viewer: Viewer, ids: Sequence[str]) -> list[Sale]:
    """The sales among these ids the viewer may see: its own as a provider (admins: all)."""
    return by_ids(session, Sale, ids, "sale", owned_by(viewer, Sale.provider_id))


def list_sales(*, session: Session, provider_id: str, page: PageRequest) -> Page[Any]:
    """One keyset page of a provider's sales, newest first (R69)."""
    stmt = select(Sale).where(Sale.provider_id == provider_id)
    return newest_first(session, stmt, Sale, page)
