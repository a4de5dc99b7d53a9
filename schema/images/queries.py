"""Image queries."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.errors import BadRequest, ErrorCode, NotFound, shown
from app.ids import is_id
from app.images import page as images_page
from app.images import rules, service
from app.images.page_rows import ImageRow
from app.platform.events import FEED
from app.tags import service as tags_service
from schema.context import Info
from schema.images.types import (
    Image,
    ImageFilter,
    ImageOrder,
    ImageOrderField,
    OrderDirection,
    Prefetched,
)
from schema.pagination import Connection, Window, connection, page_request, paged
from schema.regions.types import Region
from schema.tags.types import tag_filters

DEFAULT_ORDER = ImageOrder(field=ImageOrderField.CREATED_AT, direction=OrderDirection.DESC)


def _filters(value: ImageFilter | None) -> images_page.ImageFilter:
    if value is None:
        return images_page.ImageFilter()
    types = tuple(rules.ImageType(t.value) for t in value.types) if value.types else None
    return images_page.ImageFilter(
        region=str(value.region) if value.region is not None else None,
        types=types,
        os_type=value.os_type.value if value.os_type else None,
        status=value.status.value if value.status else None,
        generation=value.generation.value if value.generation else None,
        name_contains=value.name_contains,
        listing=str(value.listing) if value.listing is not None else None,
        source_instance=str(value.source_instance) if value.source_instance is not None else None,
        include_deprecated=bool(value.include_deprecated),
        family=value.family,
        flavor=value.flavor,
        tags=tag_filters(value.tags),
    )


@strawberry.type
class ImageQueries:
    @paged(
        description=(
            "Images you may see (public and published listing images, your own, and those "
            "shared with you), newest first unless ordered otherwise. "
            "'first'/'last' default to 20 and may not exceed 100."
        )
    )
    async def images(
        self,
        info: Info,
        filter: ImageFilter | None = None,
        order_by: ImageOrder | None = None,
        window: Window = Window(),
    ) -> Connection[Image]:
        order = order_by or DEFAULT_ORDER
        viewer = info.context.viewer
        session = info.context.session
        query = images_page.page_query(
            session=session,
            viewer=viewer,
            filters=_filters(filter),
            order_field=order.field.value,
            descending=order.direction is OrderDirection.DESC,
            page=page_request(info, window, filters=filter),
            now=info.context.services.clock.now(),
        )
        page = await query.read(info.context.services.page_reads, session)
        from schema.marketplace.types import Listing

        # a page's images share a few regions and listings: each is built once
        prefetched: dict[tuple[str, str | None], Prefetched] = {}

        def convert(row: ImageRow) -> Image:
            key = (row.region.code, row.listing.id if row.listing is not None else None)
            found = prefetched.get(key)
            if found is None:
                info.context.loaders.region.prime(row.region.code, row.region)
                listing = Listing.from_row(row.listing) if row.listing is not None else None
                found = prefetched[key] = Prefetched(Region.from_row(row.region), listing)
            return Image.of_page_row(row.image, viewer, found)

        return connection(page, convert)

    @strawberry.field(
        description="One image by id; null when it does not exist or the viewer may not see it."
    )
    async def image(self, info: Info, id: strawberry.ID) -> Image | None:
        row = await info.context.loaders.image.load(image_id_argument(id))
        return Image.from_row(row, info.context.viewer) if row else None


def image_id_argument(value: strawberry.ID) -> str:
    """An image id argument, refused (BAD_USER_INPUT) unless it has the form of one."""
    if not is_id(str(value), "m"):
        raise BadRequest(
            f"{shown(str(value))} is not an image id (m- followed by 8 letters or digits)."
        )
    return str(value)


@strawberry.type
class ImageSubscriptions:
    @strawberry.subscription(
        description=(
            "The image now and after every change (status, progress, name, deprecation, "
            "disabling, deletion protection, family, your tags) for as long as you may see it: "
            "when it is deleted or hidden from you, an IMAGE_NOT_FOUND error ends the stream."
        )
    )
    async def image_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[Image, None]:
        image_id = image_id_argument(id)
        context = info.context
        viewer = context.viewer
        owner = viewer.account_id if viewer else ""
        last: tuple[object, ...] | None = None
        while True:
            # the event's fields are resolved in the same slot and session, which are given
            # back before the event is sent (no connection is held between events)
            async with context.one_event():
                session = context.session
                row = service.get(session=session, viewer=viewer, image_id=image_id)
                if row is None:
                    raise NotFound(
                        f"There is no image {shown(image_id)}.", ErrorCode.IMAGE_NOT_FOUND
                    )
                tags = tags_service.of_resources(
                    session=session, owner_id=owner, resource_ids=[image_id]
                )[image_id]
                state = (row.model_dump(), [(tag.key, tag.value) for tag in tags])
                if state != last:
                    last = state
                    yield Image.from_row(row, viewer)
            await FEED.wait(f"image:{image_id}", context.services.settings.event_fallback_seconds)
