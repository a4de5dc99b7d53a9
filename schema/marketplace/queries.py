"""Listing queries."""

from __future__ import annotations

import strawberry

from app.errors import BadRequest, shown
from app.ids import is_id
from app.marketplace import service as marketplace_service
from app.marketplace.rules import ListingKind, ListingStatus
from schema.context import Info
from schema.marketplace.types import Listing
from schema.pagination import Connection, Window, connection, page_request, paged


@strawberry.input(description="Filters of the listings query.")
class ListingFilter:
    kind: ListingKind | None = strawberry.field(default=None, description="MARKET or INTEGRATION.")
    category: str | None = strawberry.field(default=None, description="Category.")
    provider: strawberry.ID | None = strawberry.field(default=None, description="Provider id.")
    status: ListingStatus | None = strawberry.field(default=None, description="Status.")
    region: strawberry.ID | None = strawberry.field(
        default=None, description="Only listings with an image in this region."
    )
    text_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive text in the title or summary."
    )


@strawberry.type
class ListingQueries:
    @paged(description="Listings: PUBLISHED ones for everyone, a provider's own in every state.")
    def listings(
        self,
        info: Info,
        filter: ListingFilter | None = None,
        window: Window = Window(),
    ) -> Connection[Listing]:
        flt = filter or ListingFilter()
        page = marketplace_service.list_listings(
            session=info.context.session,
            viewer=info.context.viewer,
            filters=marketplace_service.ListingFilter(
                kind=flt.kind.value if flt.kind else None,
                category=flt.category,
                provider=str(flt.provider) if flt.provider is not None else None,
                status=flt.status.value if flt.status else None,
                region=str(flt.region) if flt.region is not None else None,
                text_contains=flt.text_contains,
            ),
            page=page_request(info, window, filters=filter),
        )
        return connection(page, Listing.from_row)

    @strawberry.field(
        description=(
            "One listing; null when it does not exist or you may not see it (customers see "
            "published listings; providers also their own)."
        )
    )
    async def listing(self, info: Info, id: strawberry.ID) -> Listing | None:
        if not is_id(str(id), "lst"):
            raise BadRequest(f"{shown(str(id))} is not a listing id (lst- and 8 characters).")
        row = await info.context.loaders.listing.load(str(id))
        return Listing.from_row(row) if row else None
