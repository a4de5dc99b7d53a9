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
from app.images import service as images_service
from app.images.models import Image
from app.regions import service as regions_service
from app.regions.models import FlavorPrice, Region, Zone

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

    region: DataLoader[str, Region | None]
    zones: DataLoader[str, list[Zone]]
    flavor_price: DataLoader[tuple[str, str], FlavorPrice | None]
    image: DataLoader[str, Image | None]
    account: DataLoader[str, Account | None]


def make_loaders(session: Callable[[], Session], viewer: Viewer | None) -> Loaders:
    """Build fresh loaders for one request (never shared between requests)."""

    async def zones(codes: list[str]) -> list[list[Zone]]:
        found = regions_service.list_zones_by_region(session=session(), codes=codes)
        return [found[c] for c in codes]

    async def prices(keys: list[tuple[str, str]]) -> list[FlavorPrice | None]:
        found = regions_service.list_prices(session=session(), keys=keys)
        return [found.get(k) for k in keys]

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
    )
