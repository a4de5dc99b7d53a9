"""Charge lines, quotes and orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

import schema.enums  # noqa: F401  (registers the domain enums)
from app.billing import pricing
from app.billing.models import Order as OrderRow
from app.billing.rules import OrderKind
from app.instances.models import Instance as InstanceRow
from app.money import display_rate
from schema.context import Info
from schema.errors import UserError, Warning
from schema.money import CurrencyCode, Money
from schema.node import Node

if TYPE_CHECKING:
    from schema.instances.types import Instance
    from schema.marketplace.types import Listing


@strawberry.type(
    description=(
        "One line of a quote, an order or an instance's charges: amount = quantity x unitPrice, "
        "rounded once to the fen."
    )
)
class ChargeLine:
    kind: pricing.ChargeKind = strawberry.field(description="What is charged.")
    description: str = strawberry.field(description="Human-readable detail.")
    quantity: Decimal = strawberry.field(
        description="Unit-periods: instance-, GB- or vCPU-hours/months, or instances x TERM."
    )
    unit: pricing.ChargeUnit = strawberry.field(description="HOUR, MONTH or TERM.")
    unit_price: Money = strawberry.field(description="Effective price per unit (up to 6 places).")
    amount: Money = strawberry.field(
        description="The quantity times the unit price, rounded once to the fen."
    )

    @classmethod
    def of(cls, line: pricing.ChargeLine) -> ChargeLine:
        """Build from a domain charge line."""
        return cls(
            kind=line.kind,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=Money(amount=display_rate(line.unit_price), currency=CurrencyCode.CNY),
            amount=Money(amount=line.amount, currency=CurrencyCode.CNY),
        )


def money(amount: Decimal) -> Money:
    """CNY money."""
    return Money(amount=amount, currency=CurrencyCode.CNY)


@strawberry.type(
    description=(
        "What a rebuild changes for one instance: the lines it pays before and after, and what "
        "is taken from the balance at once. Postpaid lines are per hour; prepaid lines are "
        "totals for the days left in the term."
    )
)
class InstanceQuote:
    timing: pricing.Timing = strawberry.field(description="How the instance pays.")
    before: list[ChargeLine] = strawberry.field(description="What it pays with its image now.")
    after: list[ChargeLine] = strawberry.field(
        description=(
            "What it will pay once rebuilt: compute and system disk keep the prices it was "
            "launched with; licence and software lines follow the new image."
        )
    )
    due_now: Money = strawberry.field(
        description=(
            "Taken from the balance when the rebuild is accepted: a prepaid instance's "
            "pro-rated lines for charges it has not paid this term; 0.00 for postpaid "
            "(the after lines are charged hour by hour)."
        )
    )
    row: strawberry.Private[InstanceRow]
    listing_id: strawberry.Private[str | None]

    @strawberry.field(description="The instance.")
    def instance(self) -> Annotated[Instance, strawberry.lazy("schema.instances.types")]:
        from schema.instances.types import Instance

        return Instance.from_row(self.row)

    @strawberry.field(
        description="The marketplace listing whose software it will pay once rebuilt, if any."
    )
    async def listing(
        self, info: Info
    ) -> Annotated[Listing, strawberry.lazy("schema.marketplace.types")] | None:
        from schema.marketplace.types import Listing

        if self.listing_id is None:
            return None
        row = await info.context.loaders.charge_listing.load(self.listing_id)
        return Listing.from_row(row) if row else None


@strawberry.type(
    description=("What a createInstances input (or a rebuild) would cost, after the same checks.")
)
class PriceQuote:
    timing: pricing.Timing | None = strawberry.field(
        description="PREPAID or POSTPAID; for rebuildQuote, null for a batch of both kinds."
    )
    months: int | None = strawberry.field(description="Prepaid term in months.")
    lines: list[ChargeLine] = strawberry.field(
        description="POSTPAID: one hour of the whole batch; PREPAID: the whole term."
    )
    total: Money = strawberry.field(description="Sum of the lines.")
    user_errors: list[UserError] = strawberry.field(
        description="Every check that failed; lines are empty when any did."
    )
    warnings: list[Warning] = strawberry.field(
        default_factory=list,
        description="What is worth knowing, e.g. that the image is deprecated (IMAGE_DEPRECATED).",
    )
    instances: list[InstanceQuote] | None = strawberry.field(
        default=None,
        description=(
            "For rebuildQuote: each instance's lines before and after the rebuild (null for "
            "a launch quote, and when a check failed)."
        ),
    )


@strawberry.type(description="What a prepaid purchase, or a rebuild that added charges, cost.")
class Order(Node):
    kind: OrderKind = strawberry.field(description="NEW_INSTANCES or REBUILD.")
    total: Money = strawberry.field(description="Sum of the lines, taken from the balance.")
    created_at: datetime = strawberry.field(description="When it was paid (UTC).")

    @strawberry.field(description="The order's charge lines.")
    async def lines(self, info: Info) -> list[ChargeLine]:
        rows = await info.context.loaders.order_lines.load(str(self.id))
        return [ChargeLine.of(line) for line in rows]

    @strawberry.field(description="The instances it paid for.")
    async def instances(
        self, info: Info
    ) -> list[Annotated[Instance, strawberry.lazy("schema.instances.types")]]:
        from schema.instances.types import Instance

        ids = await info.context.loaders.order_instances.load(str(self.id))
        rows = await info.context.loaders.instance.load_many(ids)
        return [Instance.from_row(r) for r in rows if r is not None]

    @classmethod
    def from_row(cls, row: OrderRow) -> Order:
        """Build from an order row."""
        return cls(
            id=strawberry.ID(row.id),
            kind=OrderKind(row.kind),
            total=Money.of_minor(row.total_minor),
            created_at=row.created_at,
        )
