"""node(id:) and nodes(ids:): fetch any object by its cloud id, with the same visibility rules;
how each kind of object is fetched is registered with ``schema.node``.
"""

from __future__ import annotations

import asyncio

import strawberry

from app.accounts.permissions import may_see_private
from app.errors import BadRequest
from schema.accounts.types import Account
from schema.billing.types import Order
from schema.context import Info
from schema.images.types import Image
from schema.instances.types import Instance
from schema.marketplace.types import Listing, Sale
from schema.node import REGION, Node, node_resolver, resolve_node
from schema.operations.types import Operation
from schema.regions.types import Region
from schema.snapshots.types import Snapshot

MAX_NODES = 100


@node_resolver("m")
async def _image(info: Info, node_id: str) -> Node | None:
    image = await info.context.loaders.image.load(node_id)
    return Image.from_row(image, info.context.viewer) if image else None


@node_resolver("acc")
async def _account(info: Info, node_id: str) -> Node | None:
    if not may_see_private(info.context.viewer, node_id):
        return None  # providers are seen through their listings, not by id
    account = await info.context.loaders.account.load(node_id)
    return Account.from_row(account) if account else None


@node_resolver("i")
async def _instance(info: Info, node_id: str) -> Node | None:
    instance = await info.context.loaders.instance.load(node_id)
    return Instance.from_row(instance) if instance else None


@node_resolver("op")
async def _operation(info: Info, node_id: str) -> Node | None:
    operation = await info.context.loaders.operation.load(node_id)
    return Operation.from_row(operation) if operation else None


@node_resolver("lst")
async def _listing(info: Info, node_id: str) -> Node | None:
    listing = await info.context.loaders.listing.load(node_id)
    return Listing.from_row(listing) if listing else None


@node_resolver("s")
async def _snapshot(info: Info, node_id: str) -> Node | None:
    snapshot = await info.context.loaders.snapshot.load(node_id)
    return Snapshot.from_row(snapshot) if snapshot else None


@node_resolver("ord")
async def _order(info: Info, node_id: str) -> Node | None:
    order = await info.context.loaders.order.load(node_id)
    return Order.from_row(order) if order else None


@node_resolver("sale")
async def _sale(info: Info, node_id: str) -> Node | None:
    sale = await info.context.loaders.sale.load(node_id)
    return Sale.from_row(sale) if sale else None


@node_resolver(REGION)
async def _region(info: Info, node_id: str) -> Node | None:
    region = await info.context.loaders.region.load(node_id)
    return Region.from_row(region) if region else None


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
