"""Marketplace listings, their plans and images, and the sales that pay providers (R65-R69)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ColumnElement, Index, Text, UniqueConstraint, or_, true
from sqlmodel import Field, SQLModel, col

from app.database import UTCDateTime
from app.marketplace.rules import ListingStatus
from app.platform.viewer import Role, Viewer


class Listing(SQLModel, table=True):
    """A provider's MARKET or INTEGRATION product."""

    __table_args__ = (
        Index("ix_listing_provider_created", "provider_id", "created_at", "id"),
        Index("ix_listing_status_created", "status", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=16)
    seed_key: str | None = Field(default=None, max_length=64, unique=True)
    provider_id: str = Field(foreign_key="account.id", max_length=16)
    kind: str = Field(max_length=16)
    title: str = Field(max_length=100)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    category: str = Field(max_length=40)
    version: str = Field(max_length=40)
    status: str = Field(max_length=16)
    review_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ListingPlan(SQLModel, table=True):
    """A way to pay for a listing: prepaid for a term, hourly, or free."""

    __tablename__ = "listing_plan"

    listing_id: str = Field(foreign_key="listing.id", primary_key=True, max_length=16)
    position: int = Field(primary_key=True)
    timing: str = Field(max_length=8)
    months: int | None = None
    price_micros: int = Field(sa_column=Column(BigInteger, nullable=False))


class ListingImage(SQLModel, table=True):
    """The provider's custom image a listing publishes in one region."""

    __tablename__ = "listing_image"
    __table_args__ = (UniqueConstraint("listing_id", "region_code"),)

    listing_id: str = Field(foreign_key="listing.id", primary_key=True, max_length=16)
    image_id: str = Field(foreign_key="image.id", primary_key=True, max_length=16)
    region_code: str = Field(max_length=8)


class Sale(SQLModel, table=True):
    """One software charge for a listing: what a buyer paid and what the provider earned."""

    __table_args__ = (
        Index("ix_sale_provider_created", "provider_id", "created_at", "id"),
        Index("ix_sale_buyer_listing", "buyer_id", "listing_id"),  # what a buyer paid
    )

    id: str = Field(primary_key=True, max_length=20)
    listing_id: str = Field(foreign_key="listing.id", max_length=16)
    provider_id: str = Field(foreign_key="account.id", max_length=16)
    buyer_id: str = Field(foreign_key="account.id", max_length=16)
    plan_timing: str = Field(max_length=8)
    plan_months: int | None = None
    plan_price_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    instance_count: int
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    revenue_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    reference: str | None = Field(default=None, max_length=20)
    order_id: str | None = Field(default=None, max_length=16)  # prepaid: the order that paid
    order_line: int | None = None  # prepaid: the position of its SOFTWARE line in that order
    instance_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ListingRevenue(SQLModel, table=True):
    """Hourly software revenue of a listing not yet credited to its provider: the exact
    remainder below one fen, in millionths of usage units (see app.money).
    """

    __tablename__ = "listing_revenue"

    listing_id: str = Field(foreign_key="listing.id", primary_key=True, max_length=16)
    carry: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


def listing_visible(viewer: Viewer | None) -> ColumnElement[bool]:
    """Who sees which listing (R69), the one predicate every read of listings uses.

    Everyone sees PUBLISHED listings, providers their own in every state, admins all.
    """
    if viewer is not None and viewer.is_admin:
        return true()
    published = col(Listing.status) == ListingStatus.PUBLISHED.value
    if viewer is not None and viewer.role is Role.PROVIDER:
        return or_(published, col(Listing.provider_id) == viewer.account_id)
    return published
