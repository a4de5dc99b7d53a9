"""Per-request DataLoaders: every relation a list can touch is fetched in one batch."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import Session
from strawberry.dataloader import DataLoader

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.accounts.rules import Viewer
from app.billing import service as billing_service
from app.billing.models import Order
from app.billing.pricing import ChargeLine
from app.images import service as images_service
from app.images.models import Image
from app.instances import service as instances_service
from app.instances.models import Instance
from app.marketplace import service as marketplace_service
from app.marketplace.models import Listing
from app.marketplace.rules import Plan
from app.operations import service as operations_service
from app.operations.models import Operation
from app.regions import service as regions_service
from app.regions.models import Flavor, FlavorPrice, Zone
from app.regions.service import RegionRecord
from app.snapshots import service as snapshots_service
from app.snapshots.models import Snapshot

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _by_key(
    fetch: Callable[[list[K]], Sequence[V]], key: Callable[[V], K]
) -> Callable[[list[K]], object]:
    async def load(keys: list[K]) -> list[V | None]:
        found = {key(row): row for row in fetch(keys)}
        return [found.get(k) for k in keys]

    return load


@dataclass
class Loaders:
    """The loaders of one request; they share its read session and viewer."""

    region: DataLoader[str, RegionRecord | None]
    zones: DataLoader[str, list[Zone]]
    flavor_price: DataLoader[tuple[str, str], FlavorPrice | None]
    image: DataLoader[str, Image | None]
    account: DataLoader[str, Account | None]
    flavor: DataLoader[str, Flavor | None]
    instance: DataLoader[str, Instance | None]
    operation: DataLoader[str, Operation | None]
    order: DataLoader[str, Order | None]
    order_lines: DataLoader[str, list[ChargeLine]]
    order_instances: DataLoader[str, list[str]]
    snapshot: DataLoader[str, Snapshot | None]
    snapshot_images: DataLoader[str, list[Image]]
    replicating: DataLoader[str, bool]
    listing: DataLoader[str, Listing | None]
    listing_plans: DataLoader[str, list[Plan]]
    listing_images: DataLoader[str, list[Image]]


def make_loaders(session: Callable[[], Session], viewer: Viewer | None) -> Loaders:
    """Build fresh loaders for one request (never shared between requests)."""

    async def zones(codes: list[str]) -> list[list[Zone]]:
        found = regions_service.list_zones_by_region(session=session(), codes=codes)
        return [found[c] for c in codes]

    async def prices(keys: list[tuple[str, str]]) -> list[FlavorPrice | None]:
        found = regions_service.list_prices(session=session(), keys=keys)
        return [found.get(k) for k in keys]

    async def order_lines(ids: list[str]) -> list[list[ChargeLine]]:
        found = billing_service.order_lines(session=session(), order_ids=ids)
        return [found[i] for i in ids]

    async def order_instances(ids: list[str]) -> list[list[str]]:
        found = billing_service.order_instance_ids(session=session(), order_ids=ids)
        return [found[i] for i in ids]

    async def snapshot_images(ids: list[str]) -> list[list[Image]]:
        found = snapshots_service.images_using(session=session(), snapshot_ids=ids)
        return [found[i] for i in ids]

    async def replicating(ids: list[str]) -> list[bool]:
        found = images_service.replicating_ids(session=session(), image_ids=ids)
        return [i in found for i in ids]

    async def listing_plans(ids: list[str]) -> list[list[Plan]]:
        found = marketplace_service.plans_of(session=session(), listing_ids=ids)
        return [found[i] for i in ids]

    async def listing_images(ids: list[str]) -> list[list[Image]]:
        found = marketplace_service.images_of(session=session(), listing_ids=ids)
        return [found[i] for i in ids]

    def owner_only(
        fetch: Callable[[Viewer, list[str]], Sequence[V]],
    ) -> Callable[[list[str]], Sequence[V]]:
        def run(ids: list[str]) -> Sequence[V]:
            return fetch(viewer, ids) if viewer is not None else []

        return run

    return Loaders(
        region=DataLoader(
            _by_key(
                lambda codes: regions_service.list_by_codes(session=session(), codes=codes),
                lambda r: r.code,
            )  # type: ignore[arg-type]
        ),
        zones=DataLoader(zones),
        flavor_price=DataLoader(prices),
        image=DataLoader(
            _by_key(
                lambda ids: images_service.list_by_ids(
                    session=session(), viewer=viewer, image_ids=ids
                ),
                lambda i: i.id,
            )  # type: ignore[arg-type]
        ),
        account=DataLoader(
            _by_key(
                lambda ids: accounts_service.list_by_ids(session=session(), account_ids=ids),
                lambda a: a.id,
            )  # type: ignore[arg-type]
        ),
        flavor=DataLoader(
            _by_key(
                lambda names: regions_service.list_flavors_by_names(session=session(), names=names),
                lambda f: f.name,
            )  # type: ignore[arg-type]
        ),
        instance=DataLoader(
            _by_key(
                owner_only(
                    lambda v, ids: instances_service.list_by_ids(
                        session=session(), viewer=v, ids=ids
                    )
                ),
                lambda i: i.id,
            )  # type: ignore[arg-type]
        ),
        operation=DataLoader(
            _by_key(
                owner_only(
                    lambda v, ids: operations_service.list_by_ids(
                        session=session(), viewer=v, ids=ids
                    )
                ),
                lambda o: o.id,
            )  # type: ignore[arg-type]
        ),
        order=DataLoader(
            _by_key(
                owner_only(
                    lambda v, ids: billing_service.list_orders_by_ids(
                        session=session(), viewer=v, ids=ids
                    )
                ),
                lambda o: o.id,
            )  # type: ignore[arg-type]
        ),
        order_lines=DataLoader(order_lines),
        order_instances=DataLoader(order_instances),
        snapshot=DataLoader(
            _by_key(
                owner_only(
                    lambda v, ids: snapshots_service.list_by_ids(
                        session=session(), viewer=v, ids=ids
                    )
                ),
                lambda s: s.id,
            )  # type: ignore[arg-type]
        ),
        snapshot_images=DataLoader(snapshot_images),
        replicating=DataLoader(replicating),
        listing=DataLoader(
            _by_key(
                lambda ids: marketplace_service.list_by_ids(
                    session=session(), viewer=viewer, ids=ids
                ),
                lambda listing: listing.id,
            )  # type: ignore[arg-type]
        ),
        listing_plans=DataLoader(listing_plans),
        listing_images=DataLoader(listing_images),
    )
