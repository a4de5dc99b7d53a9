"""The provider mutations: create, update, submit, withdraw, review and delist listings."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from app.billing.pricing import Timing
from app.marketplace import lifecycle as listings
from app.marketplace import rules
from app.marketplace.rules import ListingKind
from app.workflows import publish
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.marketplace.types import Listing
from schema.mutation import argument, mutation


@strawberry.input(description="A plan: PREPAID with months, or POSTPAID (hourly; price 0 = free).")
class PlanInput:
    timing: Timing = strawberry.field(description="PREPAID or POSTPAID.")
    price: Decimal = strawberry.field(description="CNY per instance per term, or per hour.")
    months: int | None = strawberry.field(default=None, description="Prepaid term.")


def _plans(plans: list[PlanInput] | None) -> list[rules.Plan] | None:
    if plans is None:
        return None
    return [rules.Plan(p.timing, p.months, p.price) for p in plans]


@strawberry.input(description="A new listing (DRAFT).")
class CreateListingInput:
    kind: ListingKind = strawberry.field(description="MARKET or INTEGRATION.")
    title: str = strawberry.field(description="1-100 characters.")
    category: str = strawberry.field(description="1-40 characters.")
    version: str = strawberry.field(description="1-40 characters.")
    image_ids: list[strawberry.ID] = strawberry.field(
        description="Your AVAILABLE custom images, at most one per region."
    )
    plans: list[PlanInput] = strawberry.field(description="How it is paid for.")
    summary: str = strawberry.field(default="", description="Up to 2000 characters.")


@strawberry.input(description="Changes to a DRAFT or REJECTED listing (omitted: unchanged).")
class UpdateListingInput:
    listing_id: strawberry.ID = strawberry.field(description="Listing id.")
    kind: ListingKind | None = strawberry.field(default=None, description="MARKET or INTEGRATION.")
    title: str | None = strawberry.field(default=None, description="Title.")
    summary: str | None = strawberry.field(default=None, description="Summary.")
    category: str | None = strawberry.field(default=None, description="Category.")
    version: str | None = strawberry.field(default=None, description="Version.")
    image_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Images.")
    plans: list[PlanInput] | None = strawberry.field(default=None, description="Plans.")


@strawberry.type(description="The listing after a change.")
class ListingResult(Payload):
    listing: Listing | None = strawberry.field(description="The listing after the change.")


ListingId = Annotated[strawberry.ID, argument("Listing id (lst-...).")]
Note = Annotated[str | None, argument("A note; only rejecting and delisting keep it.")]


@strawberry.type
class ListingMutations:
    @mutation("Create a DRAFT listing (providers only).")
    def create_listing(self, info: Info, input: CreateListingInput) -> ListingResult:
        def work(c: Call) -> ListingResult:
            row = publish.create(
                **c.acting,
                data=listings.ListingInput(
                    kind=input.kind.value,
                    title=input.title,
                    summary=input.summary,
                    category=input.category,
                    version=input.version,
                    image_ids=[str(i) for i in input.image_ids],
                    plans=_plans(input.plans),
                ),
                now=c.now,
            )
            return ListingResult(listing=Listing.from_row(row))

        return mutate(info, ListingResult, work)

    @mutation("Edit a DRAFT or REJECTED listing (back to DRAFT).")
    def update_listing(self, info: Info, input: UpdateListingInput) -> ListingResult:
        def work(c: Call) -> ListingResult:
            row = publish.update(
                **c.acting,
                listing_id=str(input.listing_id),
                data=listings.ListingInput(
                    kind=input.kind.value if input.kind else None,
                    title=input.title,
                    summary=input.summary,
                    category=input.category,
                    version=input.version,
                    image_ids=[str(i) for i in input.image_ids]
                    if input.image_ids is not None
                    else None,
                    plans=_plans(input.plans),
                ),
                now=c.now,
            )
            return ListingResult(listing=Listing.from_row(row))

        return mutate(info, ListingResult, work)

    @mutation("Submit a DRAFT for review.", input="The DRAFT listing to submit for review.")
    def submit_listing(
        self, info: Info, listing_id: ListingId, reason: Note = None
    ) -> ListingResult:
        return _transition(info, listings.submit, listing_id=listing_id)

    @mutation(
        "Approve a listing and publish its images (admin only).",
        input="The listing under review to approve (admins only).",
    )
    def approve_listing(
        self, info: Info, listing_id: ListingId, reason: Note = None
    ) -> ListingResult:
        return _transition(info, publish.approve, listing_id=listing_id)

    @mutation(
        "Reject a listing with a reason (admin only).",
        input="The listing under review to reject, and why (admins only).",
    )
    def reject_listing(
        self,
        info: Info,
        listing_id: ListingId,
        reason: Annotated[
            str | None,
            argument("What the provider must change; required, shown to it as reviewNote."),
        ] = None,
    ) -> ListingResult:
        return _transition(info, publish.reject, listing_id=listing_id, reason=reason)

    @mutation(
        "Delist a PUBLISHED listing (its provider or an admin).",
        input="The PUBLISHED listing to delist (its provider or an admin).",
    )
    def delist_listing(
        self,
        info: Info,
        listing_id: ListingId,
        reason: Annotated[
            str | None, argument("Why it is delisted (optional), shown as reviewNote.")
        ] = None,
    ) -> ListingResult:
        return _transition(info, publish.delist, listing_id=listing_id, reason=reason)


def _transition(
    info: Info, step: Callable[..., Any], *, listing_id: strawberry.ID, **extra: Any
) -> ListingResult:
    """Run one lifecycle step of a listing in its own transaction."""
    return mutate(
        info,
        ListingResult,
        lambda c: ListingResult(
            listing=Listing.from_row(
                step(**c.acting, listing_id=str(listing_id), now=c.now, **extra)
            )
        ),
    )
