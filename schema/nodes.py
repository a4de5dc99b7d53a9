"""node(id:) and nodes(ids:): fetch any object by its cloud id, with the same visibility rules."""

from __future__ import annotations

import asyncio
import re

import strawberry

from app.accounts.permissions import may_see_private
from app.errors import BadRequest, shown
from app.ids import id_prefix
from schema.accounts.types import Account
from schema.billing.types import Order
from schema.context import Info
from schema.images.types import Image
from schema.instances.types import Instance
from schema.marketplace.types import Listing, Sale
from schema.node import Node
from schema.operations.types import Operation
from schema.regions.types import Region
from schema.snapshots.types import Snapshot

MAX_NODES = 100
_REGION_CODE = re.compile(r"^[a-z]{2,8}$")


async def resolve_node(info: Info, node_id: str) -> Node | None:
    """Return the object with this id if the viewer may see it; else None."""
    loaders = info.context.loaders
    viewer = info.context.viewer
    prefix = id_prefix(node_id)
    if prefix == "m":
        image = await loaders.image.load(node_id)
        return Image.from_row(image, viewer) if image else None
    if prefix == "acc":
        if not may_see_private(viewer, node_id):
            return None  # providers are seen through their listings, not by id
        account = await loaders.account.load(node_id)
        return Account.from_row(account) if account else None
    if prefix == "i":
        instance = await loaders.instance.load(node_id)
        return Instance.from_row(instance) if instance else None
    if prefix == "op":
        operation = await loaders.operation.load(node_id)
        return Operation.from_row(operation) if operation else None
    if prefix == "lst":
        listing = await loaders.listing.load(node_id)
        return Listing.from_row(listing) if listing else None
    if prefix == "s":
        snapshot = await loaders.snapshot.load(node_id)
        return Snapshot.from_row(snapshot) if snapshot else None
    if prefix == "ord":
        order = await loaders.order.load(node_id)
        return Order.from_row(order) if order else None
    if prefix == "sale":
        sale = await loaders.sale.load(node_id)
        return Sale.from_row(sale) if sale else None
    if prefix is not None:
        return None  # a kind of object this service does not hold yet
    if _REGION_CODE.match(node_id):
        region = await loaders.region.load(node_id)
        return Region.from_row(region) if region else None
    raise BadRequest(f"{shown(node_id)} is not a valid id.")


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Any object by its cloud id; null if absent or not visible.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, str(id))

    @strawberry.field(
        description=f"Several objects by id (at most {MAX_NODES}), in the same order."
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise BadRequest(f"'ids' holds at most {MAX_NODES} ids; got {len(ids)}.")
        return list(await asyncio.gather(*(resolve_node(info, str(i)) for i in ids)))
