"""Listing, Plan, Sale and the provider's view."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import strawberry

import schema.enums  # noqa: F401  (registers the domain enums)
from app.accounts.permissions import may_see_private
from app.billing import service as billing_service
from app.billing.pricing import Timing
from app.images.page_rows import ListingView
from app.marketplace import rules
from app.marketplace import service as marketplace_service
from app.marketplace.models import Listing as ListingRow
from app.marketplace.models import Sale as SaleRow
from app.marketplace.rules import ListingKind, ListingStatus
from app.money import display_rate
from schema.accounts.types import Account
from schema.context import Info
from schema.images.types import Image
from schema.loaders import referenced
from schema.money import CurrencyCode, Money
from schema.node import Node
from schema.pagination import Connection, child_connection

REVENUE_KINDS = ("PROVIDER_REVENUE", "PROVIDER_REVERSAL")


@strawberry.type(description="How a listing is paid for; months null for hourly plans; 0 is free.")
class Plan:
    timing: Timing = strawberry.field(description="PREPAID (a term) or POSTPAID (hourly).")
    months: int | None = strawberry.field(description="Prepaid term in months.")
    price: Money = strawberry.field(
        description="Per instance: for the whole term (prepaid) or per hour; never discounted."
    )

    @classmethod
    def of(cls, plan: rules.Plan) -> Plan:
        """Build from a domain plan."""
        return cls(
            timing=plan.timing,
            months=plan.months,
            price=Money(amount=display_rate(plan.price), currency=CurrencyCode.CNY),
        )


@strawberry.type(description="A provider's marketplace or service-integration product.")
class Listing(Node):
    kind: ListingKind = strawberry.field(description="MARKET or INTEGRATION.")
    title: str = strawberry.field(description="Title.")
    summary: str = strawberry.field(description="Summary.")
    category: str = strawberry.field(description="Category, e.g. security or database.")
    version: str = strawberry.field(description="Software version.")
    status: ListingStatus = strawberry.field(
        description="Where the listing is in review and publication."
    )
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    provider_id: strawberry.Private[str]
    note: strawberry.Private[str | None] = None

    @strawberry.field(
        description=(
            "The reviewer's reason (rejections, delistings): shown to the provider and "
            "administrators, and to everyone while the listing is published."
        )
    )
    def review_note(self, info: Info) -> str | None:
        if self.status is ListingStatus.PUBLISHED or may_see_private(
            info.context.viewer, self.provider_id
        ):
            return self.note
        return None

    @strawberry.field(description="The provider (id, name and role; nothing private).")
    async def provider(self, info: Info) -> Account:
        return await referenced(info.context.loaders.account, self.provider_id, Account.from_row)

    @strawberry.field(description="Its plans.")
    async def plans(self, info: Info) -> list[Plan]:
        return [Plan.of(p) for p in await info.context.loaders.listing_plans.load(str(self.id))]

    @strawberry.field(
        description="Published images once approved (one per region); before, the provider's own."
    )
    async def images(self, info: Info) -> list[Image]:
        rows = await info.context.loaders.listing_images.load(str(self.id))
        viewer = info.context.viewer
        visible = [
            r for r in rows if r.listing_id is not None or may_see_private(viewer, r.owner_id)
        ]
        return [Image.from_row(r, viewer) for r in visible]

    @classmethod
    def from_row(cls, row: ListingRow | ListingView) -> Listing:
        """Build from a listing row."""
        return cls(
            id=strawberry.ID(row.id),
            kind=ListingKind(row.kind),
            title=row.title,
            summary=row.summary,
            category=row.category,
            version=row.version,
            status=ListingStatus(row.status),
            note=row.review_note,
            created_at=row.created_at,
            provider_id=row.provider_id,
        )


@strawberry.type(
    description=(
        "One software charge for a listing: buyer id, plan, amount, time; seen by the "
        "listing's provider and administrators."
    )
)
class Sale(Node):
    buyer_id: strawberry.ID = strawberry.field(description="The buying account (nothing else).")
    plan: Plan = strawberry.field(description="The plan charged.")
    instance_count: int = strawberry.field(description="Instances the charge covered.")
    amount: Money = strawberry.field(description="SOFTWARE amount the buyer paid.")
    revenue: Money = strawberry.field(description="What the provider was credited.")
    created_at: datetime = strawberry.field(description="When it was charged (UTC).")
    order_id: strawberry.ID | None = strawberry.field(
        description="A prepaid sale: the buyer's order that paid it; null for hourly usage."
    )
    order_line: int | None = strawberry.field(
        description=(
            "A prepaid sale: the position (from 0) of its SOFTWARE line among the order's lines; "
            "null for hourly usage."
        )
    )
    instance_ids: list[strawberry.ID] = strawberry.field(
        description="The buyer's instances the sale covered (the hour's, for hourly usage)."
    )
    listing_id: strawberry.Private[str]

    @strawberry.field(description="The listing sold.")
    async def listing(self, info: Info) -> Listing | None:
        row = await info.context.loaders.listing.load(self.listing_id)
        return Listing.from_row(row) if row else None

    @classmethod
    def from_row(cls, row: SaleRow) -> Sale:
        """Build from a sale row."""
        return cls(
            id=strawberry.ID(row.id),
            buyer_id=strawberry.ID(row.buyer_id),
            plan=Plan(
                timing=Timing(row.plan_timing),
                months=row.plan_months,
                price=Money.of_rate(row.plan_price_micros),
            ),
            instance_count=row.instance_count,
            amount=Money.of_minor(row.amount_minor),
            revenue=Money.of_minor(row.revenue_minor),
            created_at=row.created_at,
            order_id=strawberry.ID(row.order_id) if row.order_id else None,
            order_line=row.order_line,
            instance_ids=[strawberry.ID(i) for i in json.loads(row.instance_ids)],
            listing_id=row.listing_id,
        )


@strawberry.type(description="A provider's own listings, sales and revenue.")
class ProviderView:
    account_id: strawberry.Private[str]

    listings: Connection[Listing] = child_connection(
        Listing,
        lambda provider, info, page: marketplace_service.list_listings(
            session=info.context.session,
            viewer=info.context.viewer,
            filters=marketplace_service.ListingFilter(provider=provider.account_id),
            page=page,
        ),
        Listing.from_row,
        parent=lambda provider: provider.account_id,
        description="Its listings in every state, newest first.",
    )
    sales: Connection[Sale] = child_connection(
        Sale,
        lambda provider, info, page: marketplace_service.list_sales(
            session=info.context.session, provider_id=provider.account_id, page=page
        ),
        Sale.from_row,
        parent=lambda provider: provider.account_id,
        description="Its sales, newest first.",
    )

    @strawberry.field(description="Revenue credited minus reversals in [from, to) (UTC).")
    def revenue(
        self,
        info: Info,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> Money:
        total = billing_service.sum_entries(
            session=info.context.session,
            account_id=self.account_id,
            kinds=REVENUE_KINDS,
            start=from_,
            end=to,
        )
        return Money.of_minor(total)
