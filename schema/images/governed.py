"""What an image's owner governs and reads: its deprecation and later stages, who still uses
it, and what became of a stage that could not run (a base of ``Image``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from app.images import policies
from app.images import rules as r
from app.images.models import ImageShare
from app.pagination import Page
from schema.accounts.types import Account
from schema.context import Info
from schema.pagination import Connection, connection
from schema.permissions import OwnerOnly

if TYPE_CHECKING:
    from schema.images.types import Image
    from schema.marketplace.types import Listing


@strawberry.type(
    description=(
        "An image's deprecation: from deprecateAt on it is left out of image lists (its owner "
        "still sees it) and new instances should use the replacement, but it can still be "
        "launched. A custom image's deprecation may also schedule when it is disabled and when "
        "it moves to the recycle bin."
    )
)
class Deprecation:
    state: r.DeprecationState = strawberry.field(
        description="SCHEDULED before deprecateAt, DEPRECATED from then on."
    )
    deprecate_at: datetime = strawberry.field(description="When it is (or was) deprecated.")
    disable_at: datetime | None = strawberry.field(
        description="When it is to be disabled; null when no such stage is scheduled (or left)."
    )
    delete_at: datetime | None = strawberry.field(
        description=(
            "When it is to move to the recycle bin; null when no such stage is scheduled (or "
            "left). A stage that cannot run then is skipped: see Image.lifecycleNote."
        )
    )
    replacement_id: strawberry.Private[str | None]

    @strawberry.field(
        description="The image to use instead, when one was named and you may see it."
    )
    async def replacement(
        self, info: Info
    ) -> Annotated[Image, strawberry.lazy("schema.images.types")] | None:
        from schema.images.types import Image

        if self.replacement_id is None:
            return None
        row = await info.context.loaders.image.load(self.replacement_id)
        return Image.from_row(row, info.context.viewer) if row else None


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


@strawberry.type(
    name="AccountEdge",
    description="An account with its cursor; in an image's sharedWith, with the share's status.",
)
class ShareEdge:
    cursor: str = strawberry.field(description="Pass as 'after' or 'before' to page from here.")
    node: Account = strawberry.field(description="The item.")
    status: r.ShareStatus | None = strawberry.field(
        description=(
            "In sharedWith: PENDING (waiting for the account to accept), ACCEPTED, or DECLINED "
            "(the account declined or left it; sharing it again is refused until it accepts)."
        )
    )


@strawberry.type(
    name="AccountConnection",
    description="A page of accounts: edges with cursors, the bare nodes, page info and the total.",
)
class SharedWith(Connection[Account]):
    statuses: strawberry.Private[list[str]]

    @strawberry.field(description="The items with their cursors (and each share's status).")
    def edges(self) -> list[ShareEdge]:
        return [
            ShareEdge(cursor=self.cursor(i), node=node, status=r.ShareStatus(status))
            for i, (node, status) in enumerate(zip(self.nodes, self.statuses, strict=True))
        ]

    @classmethod
    def of(cls, page: Page[ImageShare], accounts: dict[str, Account]) -> SharedWith:
        """The page of an image's shares, with the accounts they name."""
        base = connection(page, lambda share: accounts[share.account_id])
        return cls(
            nodes=base.nodes,
            page_info=base.page_info,
            count=base.count,
            cursor=base.cursor,
            statuses=[share.status for share in page.items],
        )


@strawberry.type
class Governed:
    """The fields of an image about its governance (its rows' values are set by ``Image``)."""

    @strawberry.field(description="Its deprecation; null when it is not deprecated.")
    def deprecation(self, info: Info) -> Deprecation | None:
        deprecate_at = self.deprecate_at  # type: ignore[attr-defined]
        if deprecate_at is None:
            return None
        due = deprecate_at <= info.context.services.clock.now()
        return Deprecation(
            state=r.DeprecationState.DEPRECATED if due else r.DeprecationState.SCHEDULED,
            deprecate_at=deprecate_at,
            disable_at=self.disable_at,  # type: ignore[attr-defined]
            delete_at=self.delete_at,  # type: ignore[attr-defined]
            replacement_id=self.replacement_id,  # type: ignore[attr-defined]
        )

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description=(
            "What a lifecycle policy last did to it, or why a scheduled stage of its "
            "deprecation (disable, move to the recycle bin) did not run, and when; null when "
            "neither happened (its owner and administrators only)."
        ),
    )
    def lifecycle_note(self) -> str | None:
        return self.lifecycle_note_text  # type: ignore[attr-defined,no-any-return]

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description=(
            "True when its owner undid a lifecycle policy's action on it (undeprecated, "
            "enabled or restored it): that policy leaves it alone until "
            "clearImageLifecycleExclusion (its owner and administrators only)."
        ),
    )
    def lifecycle_excluded(self, info: Info) -> bool | None:
        # synchronous (one indexed read, owners only): an awaitable this field started would
        # be left unawaited when a compiled plan declines part-way
        image_id = str(self.id)  # type: ignore[attr-defined]
        return bool(policies.excluded(session=info.context.session, image_ids=[image_id]))

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
