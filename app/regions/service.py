"""Read the regional catalogue: regions, zones, flavors and flavor prices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlmodel import Session, col, select

from app.database import grouped
from app.errors import DomainError, ErrorCode, shown
from app.regions.models import Flavor, FlavorPrice, Region, Zone


class RegionRecord(Protocol):
    """A region's fields: a region row, or the region columns a page query read."""

    code: str
    name: str
    copy_supported: bool


def list_regions(*, session: Session) -> list[Region]:
    """Return every region in catalogue order."""
    return list(session.exec(select(Region).order_by(col(Region.position), col(Region.code))))


def list_by_codes(*, session: Session, codes: Sequence[str]) -> list[Region]:
    """Return the regions with these codes (unknown codes are skipped)."""
    if not codes:
        return []
    return list(session.exec(select(Region).where(col(Region.code).in_(codes))))


def get(*, session: Session, code: str) -> Region | None:
    """Return one region by code, or None."""
    if len(code) > 8:
        return None
    return session.get(Region, code)


def require(*, session: Session, code: str, path: tuple[str, ...] = ("input", "region")) -> Region:
    """The region with this code.

    Raises:
        DomainError: REGION_NOT_FOUND.
    """
    region = get(session=session, code=code)
    if region is None:
        raise DomainError(ErrorCode.REGION_NOT_FOUND, f"There is no region {shown(code)}.", path)
    return region


def list_zones_by_region(*, session: Session, codes: Sequence[str]) -> dict[str, list[Zone]]:
    """Return the zones of each region code, in catalogue order."""
    stmt = (
        select(Zone)
        .where(col(Zone.region_code).in_(codes))
        .order_by(col(Zone.position), col(Zone.name))
    )
    return grouped(session, codes, stmt, lambda zone: zone.region_code)


def list_flavors(
    *, session: Session, region: str | None = None, generation: str | None = None
) -> list[Flavor]:
    """Return flavors, optionally only those offered in a region and/or of one generation."""
    stmt = select(Flavor)
    if region is not None:
        stmt = stmt.join(FlavorPrice, col(FlavorPrice.flavor_name) == col(Flavor.name)).where(
            FlavorPrice.region_code == region
        )
    if generation is not None:
        stmt = stmt.where(Flavor.generation == generation)
    return list(session.exec(stmt.order_by(col(Flavor.position), col(Flavor.name))))


def get_flavor(*, session: Session, name: str) -> Flavor | None:
    """Return one flavor by its spec name, or None."""
    if len(name) > 48:
        return None
    return session.get(Flavor, name)


def list_prices(
    *, session: Session, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], FlavorPrice]:
    """Return the prices for (flavor name, region code) pairs that are offered."""
    if not keys:
        return {}
    flavors = {flavor for flavor, _ in keys}
    regions = {region for _, region in keys}
    stmt = select(FlavorPrice).where(
        col(FlavorPrice.flavor_name).in_(flavors), col(FlavorPrice.region_code).in_(regions)
    )
    wanted = set(keys)
    return {
        (p.flavor_name, p.region_code): p
        for p in session.exec(stmt)
        if (p.flavor_name, p.region_code) in wanted
    }


def list_flavors_by_names(*, session: Session, names: Sequence[str]) -> list[Flavor]:
    """Return the flavors with these names."""
    if not names:
        return []
    return list(session.exec(select(Flavor).where(col(Flavor.name).in_(names))))
