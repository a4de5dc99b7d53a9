"""``Image.usage``: who still uses an image, for its owner and administrators (counts only)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.context import Info
from schema.permissions import OwnerOnly

if TYPE_CHECKING:
    from schema.marketplace.types import Listing


@strawberry.type(
    description=(
        "Who uses an image, over every account (yours included): counts and a time, never "
        "another account's ids. Read it before deprecating, disabling or deleting an image."
    )
)
class ImageUsage:
    live_instances: int = strawberry.field(
        description="Instances that run the image now (any account; released ones excluded)."
    )
    accounts_using: int = strawberry.field(
        description="How many accounts those instances belong to."
    )
    last_launched_at: datetime | None = strawberry.field(
        description=(
            "When the newest instance launched from the image was launched, by any account "
            "and whatever became of it; null if none ever was."
        )
    )
    listing_ids: strawberry.Private[tuple[str, ...]]

    @strawberry.field(description="The marketplace listings that publish the image.")
    async def listings(
        self, info: Info
    ) -> list[Annotated[Listing, strawberry.lazy("schema.marketplace.types")]]:
        from schema.marketplace.types import Listing

        rows = await info.context.loaders.listing.load_many(list(self.listing_ids))
        return [Listing.from_row(row) for row in rows if row is not None]


@strawberry.type
class Used:
    """The ``usage`` field of an image (a base of ``Image``)."""

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description="Who uses the image (its owner and administrators only).",
    )
    async def usage(self, info: Info) -> ImageUsage | None:
        # other accounts' launches and releases move it, which no version of the viewer's
        # tracks: such an answer is never kept in the response cache
        info.context.uncacheable = True
        found = await info.context.loaders.image_usage.load(str(self.id))  # type: ignore[attr-defined]
        return ImageUsage(
            live_instances=found.live_instances,
            accounts_using=found.accounts_using,
            last_launched_at=found.last_launched_at,
            listing_ids=found.listing_ids,
        )
