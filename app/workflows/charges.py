"""What one instance of a launch or rebuild pays: the price-book lookups around the pure
pricing module, and the listing plan its image's lineage charges (R51, R68, R70, R71).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from app.billing import service as billing_service
from app.billing.pricing import (
    ChargeKind,
    ChargeLine,
    PriceInput,
    Rate,
    SoftwarePlan,
    Timing,
    quote_lines,
)
from app.errors import DomainError, ErrorCode
from app.images.models import Image
from app.images.rules import OsLicense
from app.instances.rules import LaunchInput
from app.marketplace import service as marketplace_service
from app.money import rate_to_int
from app.regions import service as regions_service


def software_plan(
    image: Image, timing: Timing, months: int | None, session: Session
) -> SoftwarePlan | None:
    """The listing plan an image's lineage charges for this billing (R51, R68, R70)."""
    if image.charge_listing_id is None:
        return None
    plan: SoftwarePlan | None = marketplace_service.software_plan(
        session=session, listing_id=image.charge_listing_id, timing=timing, months=months
    )
    return plan


def price_input(
    session: Session,
    launch: LaunchInput,
    image: Image,
    vcpus: int,
    generation: str,
    price: Any,
    count: int,
    software: SoftwarePlan | None = None,
) -> PriceInput:
    """What pricing needs to quote ``count`` instances of this launch: the region's rates,
    the disk, the image's licence and software plan.
    """
    book = billing_service.price_book(session=session, region=launch.region)
    storage_type, disk_gb = launch.disk
    return PriceInput(
        flavor_name=launch.flavor,
        vcpus=vcpus,
        generation=generation,
        flavor_rate=Rate(*billing_service.flavor_rate(price)),
        storage_type=storage_type,
        disk_gb=disk_gb,
        disk_rate=book.disk.get(storage_type),
        windows=image.charge_os_license == OsLicense.WINDOWS.value,
        windows_rate=book.windows,
        software=software,
        timing=launch.timing,
        months=launch.months,
        count=count,
        term_discount=book.discount(launch.months)
        if launch.timing is Timing.PREPAID
        else Decimal(1),
        free_disk_gb=book.free_disk_gb,
    )


def price_one(session: Session, launch: LaunchInput, image: Image) -> list[ChargeLine]:
    """The lines one instance of this launch pays (used by rebuilds)."""
    flavor = regions_service.get_flavor(session=session, name=launch.flavor)
    price = regions_service.list_prices(session=session, keys=[(launch.flavor, launch.region)])
    found = price.get((launch.flavor, launch.region))
    if flavor is None or found is None:
        raise DomainError(
            ErrorCode.FLAVOR_NOT_FOUND,
            f"Flavor {launch.flavor} is no longer offered in {launch.region}.",
        )
    return quote_lines(
        price_input(
            session,
            launch,
            image,
            flavor.vcpus,
            flavor.generation,
            found,
            1,
            software_plan(image, launch.timing, launch.months, session),
        )
    )


def software_micros(lines: Sequence[ChargeLine]) -> int:
    """The hourly SOFTWARE part of one instance's postpaid lines, in millionths of a CNY."""
    return sum(rate_to_int(line.unit_price) for line in lines if line.kind is ChargeKind.SOFTWARE)
