"""What one instance of a launch or rebuild pays: the price-book lookups around the pure
pricing module, and the listing plan its image's lineage charges (R51, R68, R70, R71).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete
from sqlmodel import Session, col

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
from app.instances.models import Instance, InstanceRate
from app.instances.rules import LaunchInput
from app.marketplace import service as marketplace_service
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
    flavor_rate: Rate,
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
        flavor_rate=flavor_rate,
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


def image_lines(session: Session, launch: LaunchInput, image: Image) -> list[ChargeLine]:
    """The licence and software lines one instance of this launch pays on ``image`` at
    today's prices (a rebuild: compute and disk keep the prices of the instance's launch, so
    the flavor need not be offered in the region any more).
    """
    flavor = regions_service.get_flavor(session=session, name=launch.flavor)
    if flavor is None:
        raise DomainError(
            ErrorCode.FLAVOR_NOT_FOUND, f"Flavor {launch.flavor} is no longer offered."
        )
    unpriced = Rate(Decimal(0), Decimal(0))  # compute is not re-priced
    software = software_plan(image, launch.timing, launch.months, session)
    priced = quote_lines(
        price_input(session, launch, image, flavor.vcpus, flavor.generation, unpriced, 1, software)
    )
    return [line for line in priced if line.kind in IMAGE_CHARGES]


IMAGE_CHARGES = frozenset({ChargeKind.WINDOWS_LICENSE, ChargeKind.SOFTWARE})


def start_rates(
    session: Session, instance_id: str, listing_id: str | None, rates: dict[ChargeKind, int]
) -> None:
    """Store the hourly rates a postpaid instance pays from now on, one row per charge line,
    each with nothing carried yet (a SOFTWARE line pays ``listing_id``).
    """
    for kind, micros in rates.items():
        session.add(
            InstanceRate(
                instance_id=instance_id,
                kind=kind.value,
                listing_id=listing_id if kind is ChargeKind.SOFTWARE else None,
                hourly_micros=micros,
            )
        )
    session.flush()


def replace_image_rates(
    session: Session, instance: Instance, image: Image, rates: dict[ChargeKind, int]
) -> None:
    """A settled postpaid instance now runs ``image``: its image lines (licence, software)
    are those of ``rates``; compute and disk keep the rates of its launch.
    """
    kinds = [kind.value for kind in IMAGE_CHARGES]
    session.execute(
        delete(InstanceRate).where(
            col(InstanceRate.instance_id) == instance.id, col(InstanceRate.kind).in_(kinds)
        )
    )
    new = {kind: micros for kind, micros in rates.items() if kind in IMAGE_CHARGES}
    start_rates(session, instance.id, image.charge_listing_id, new)
