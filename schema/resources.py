"""What the resources a tenant owns (images, snapshots, instances) answer alike: their tags,
and (snapshots and instances) their region.
"""

from __future__ import annotations

import strawberry

from schema.context import Info
from schema.loaders import referenced_now
from schema.node import Node
from schema.regions.types import Region
from schema.tags.types import Tag


@strawberry.type(description="A resource its owner can tag.")
class Tagged(Node):
    @strawberry.field(description="Its tags: yours alone (empty for anyone else).")
    async def tags(self, info: Info) -> list[Tag]:
        found = await info.context.loaders.tags.load(str(self.id))
        return [Tag(key=t.key, value=t.value) for t in found]


@strawberry.type(description="A resource in one region that its owner can tag.")
class RegionalResource(Tagged):
    region_code: strawberry.Private[str]

    @strawberry.field(description="Its region.")
    def region(self, info: Info) -> Region:
        loader = info.context.loaders.region
        return referenced_now(loader, self.region_code, Region.from_row)  # type: ignore[return-value]  # awaited by graphql-core when not preloaded
