"""Per-request DataLoaders: every relation a list can touch is fetched in one batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlmodel import Session
from strawberry.dataloader import DataLoader

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.billing import service as billing_service
from app.billing.models import Order
from app.billing.pricing import ChargeLine
from app.images import service as images_service
from app.images.models import Image
from app.instances import service as instances_service
from app.instances.models import Instance
from app.marketplace import service as marketplace_service
from app.marketplace.models import Listing, Sale
from app.marketplace.rules import Plan
from app.operations import service as operations_service
from app.operations.models import Operation
from app.platform.viewer import Viewer
from app.regions import service as regions_service
from app.regions.models import Flavor, FlavorPrice, Zone
from app.regions.service import RegionRecord
from app.snapshots import service as snapshots_service
from app.snapshots.models import Snapshot
from app.tags import service as tags_service
from app.tags.models import Tag

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


async def referenced(loader: DataLoader[K, V | None], key: K, build: Callable[[V], T]) -> T:
    """The row a foreign key names (it always exists), loaded in the batch and built."""
    row = await loader.load(key)
    assert row is not None, key
    return build(row)


def referenced_now(
    loader: DataLoader[K, V | None], key: K, build: Callable[[V], T]
) -> T | Awaitable[T]:
    """The row a foreign key names, built now when the loader holds it already (preloaded
    for a page: no coroutine per item), else loaded in the batch (an awaitable).
    """
    waiting = loader.cache_map.get(key)
    if waiting is not None and waiting.done() and not waiting.cancelled():
        built = loader.built if isinstance(loader, RowLoader) else {}
        found = built.get((key, build))
        if found is None:  # a page's items share a few: each is built once
            row = waiting.result()
            assert row is not None, key
            found = built[(key, build)] = build(row)
        return found
    return referenced(loader, key, build)


class RowLoader(DataLoader[K, V | None]):
    """A loader for rows fetched by a batch of keys (a missing or hidden row loads as None)
    that can also be filled at once, before a page's items ask for them (``preload``).
    """

    def __init__(self, fetch: Callable[[list[K]], Sequence[V]], key: Callable[[V], K]) -> None:
        self.fetch = fetch
        self.key_of = key
        #: what ``referenced_now`` built of its rows, by key and builder
        self.built: dict[tuple[K, Callable[[Any], Any]], Any] = {}

        async def load(keys: list[K]) -> list[V | None]:
            found = {key(row): row for row in fetch(keys)}
            return [found.get(k) for k in keys]

        super().__init__(load)

    def preload(self, keys: Iterable[K]) -> None:
        """Fetch the rows of these keys now (those not held yet), in one batch."""
        missing = sorted({k for k in keys if self.cache_map.get(k) is None}, key=str)
        if missing:
            found = {self.key_of(row): row for row in self.fetch(missing)}
            for k in missing:
                self.prime(k, found.get(k))


def _rows(
    fetch: Callable[[list[K]], Sequence[V]], key: Callable[[V], K]
) -> Callable[[], RowLoader[K, V]]:
    """How to make a loader for rows fetched by a batch of keys."""
    return lambda: RowLoader(fetch, key)


def _grouped(
    fetch: Callable[[list[K]], Mapping[K, V]], default: V
) -> Callable[[], DataLoader[K, V]]:
    """How to make a loader for what a service returns grouped by key (e.g. each order's
    lines).
    """

    async def load(keys: list[K]) -> list[V]:
        found = fetch(keys)
        return [found.get(k, default) for k in keys]

    return lambda: DataLoader(load)


class Loaders:
    """The loaders of one request; they share its read session and viewer. Each is made
    when first used (a request uses a few of them).
    """

    def __init__(self, factories: dict[str, Callable[[], Any]]) -> None:
        self._factories = factories

    def __getattr__(self, name: str) -> Any:
        make = self.__dict__["_factories"].get(name)
        if make is None:
            raise AttributeError(name)
        loader = self.__dict__[name] = make()
        return loader

    region: RowLoader[str, RegionRecord]
    zones: DataLoader[str, list[Zone]]
    flavor_price: DataLoader[tuple[str, str], FlavorPrice | None]
    image: DataLoader[str, Image | None]
    account: DataLoader[str, Account | None]
    flavor: RowLoader[str, Flavor]
    instance: DataLoader[str, Instance | None]
    operation: DataLoader[str, Operation | None]
    order: DataLoader[str, Order | None]
    order_lines: DataLoader[str, list[ChargeLine]]
    order_instances: DataLoader[str, list[str]]
    snapshot: DataLoader[str, Snapshot | None]
    snapshot_images: DataLoader[str, list[Image]]
    replicating: DataLoader[str, bool]
    listing: DataLoader[str, Listing | None]
    image_usage: DataLoader[str, instances_service.ImageUsage]
    charge_listing: DataLoader[str, Listing | None]  # an image's charge root: payers read it too
    listing_plans: DataLoader[str, list[Plan]]
    listing_images: DataLoader[str, list[Image]]
    sale: DataLoader[str, Sale | None]
    tags: DataLoader[str, list[Tag]]


def make_loaders(session: Callable[[], Session], viewer: Viewer | None) -> Loaders:
    """Build fresh loaders for one request (never shared between requests)."""
    return Loaders({**_catalogue_loaders(session, viewer), **_private_loaders(session, viewer)})


def _catalogue_loaders(session: Callable[[], Session], viewer: Viewer | None) -> dict[str, Any]:
    """What the public catalogue is made of (images and listings as the viewer sees them)."""
    return {
        "region": _rows(
            lambda codes: regions_service.list_by_codes(session=session(), codes=codes),
            lambda r: r.code,
        ),
        "zones": _grouped(
            lambda codes: regions_service.list_zones_by_region(session=session(), codes=codes),
            [],
        ),
        "flavor_price": _grouped(
            lambda keys: regions_service.list_prices(session=session(), keys=keys), None
        ),
        "flavor": _rows(
            lambda names: regions_service.list_flavors_by_names(session=session(), names=names),
            lambda f: f.name,
        ),
        "image": _rows(
            lambda ids: images_service.list_by_ids(session=session(), viewer=viewer, image_ids=ids),
            lambda i: i.id,
        ),
        "account": _rows(
            lambda ids: accounts_service.list_by_ids(session=session(), account_ids=ids),
            lambda a: a.id,
        ),
        "replicating": _grouped(
            lambda ids: dict.fromkeys(
                images_service.replicating_ids(session=session(), image_ids=ids), True
            ),
            False,
        ),
        "listing": _rows(
            lambda ids: marketplace_service.list_by_ids(session=session(), viewer=viewer, ids=ids),
            lambda listing: listing.id,
        ),
        "image_usage": _grouped(
            lambda ids: instances_service.usage_of_images(session=session(), image_ids=ids),
            instances_service.ImageUsage(),
        ),
        "charge_listing": _rows(
            lambda ids: images_service.explained_listings(
                session=session(), viewer=viewer, ids=ids
            ),
            lambda listing: listing.id,
        ),
        "listing_plans": _grouped(
            lambda ids: marketplace_service.plans_of(session=session(), listing_ids=ids), []
        ),
        "listing_images": _grouped(
            lambda ids: images_service.images_of_listings(session=session(), listing_ids=ids), []
        ),
    }


def _private_loaders(session: Callable[[], Session], viewer: Viewer | None) -> dict[str, Any]:
    """What only an account (or an administrator) sees: nothing for anonymous callers."""

    def owned(fetch: Callable[..., Sequence[V]]) -> Callable[[list[str]], Sequence[V]]:
        return lambda ids: fetch(session=session(), viewer=viewer, ids=ids) if viewer else []

    return {
        "instance": _rows(owned(instances_service.list_by_ids), lambda i: i.id),
        "operation": _rows(owned(operations_service.list_by_ids), lambda o: o.id),
        "order": _rows(owned(billing_service.list_orders_by_ids), lambda o: o.id),
        "order_lines": _grouped(
            lambda ids: billing_service.order_lines(session=session(), order_ids=ids), []
        ),
        "order_instances": _grouped(
            lambda ids: billing_service.order_instance_ids(session=session(), order_ids=ids), []
        ),
        "snapshot": _rows(owned(snapshots_service.list_by_ids), lambda s: s.id),
        "snapshot_images": _grouped(
            lambda ids: snapshots_service.images_using(session=session(), snapshot_ids=ids), []
        ),
        "sale": _rows(owned(marketplace_service.sales_by_ids), lambda sale: sale.id),
        "tags": _grouped(
            lambda ids: tags_service.of_resources(
                session=session(), owner_id=viewer.account_id if viewer else "", resource_ids=ids
            ),
            [],
        ),
    }
