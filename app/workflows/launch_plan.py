"""What a launch would do and charge: the checks of a createInstances request (flavor,
image, name, zone, disk), its default system disk and its quote (R50, R51, R73).
``workflows.launch`` carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.billing import service as billing_service
from app.billing.pricing import (
    ChargeLine,
    Rate,
    SoftwarePlan,
    quote_lines,
    total,
)
from app.errors import DomainError, ErrorCode, input_field, not_found, raise_all, shown
from app.images import governance
from app.images import rules as image_rules
from app.images import service as images_service
from app.images.models import Image
from app.instances import rules
from app.instances.models import Instance
from app.instances.rules import ImageFacts, InstanceStatus, LaunchInput, LaunchRequest
from app.platform.viewer import Viewer
from app.regions import service as regions_service
from app.regions.models import Flavor, FlavorPrice
from app.regions.rules import arch_of_os
from app.workflows import charges


@dataclass(frozen=True)
class Plan:
    """A priced, checked launch: what would be created and what it costs."""

    input: LaunchInput
    image: Image
    zone: str
    vcpus: int
    generation: str
    lines: list[ChargeLine]
    per_instance: list[ChargeLine]
    software: SoftwarePlan | None = None
    warnings: tuple[str, ...] = ()  # e.g. that the image is deprecated

    @property
    def total(self) -> Decimal:
        """Sum of the batch's lines."""
        return total(self.lines)


def _offered(
    session: Session, launch: LaunchInput, problems: list[DomainError]
) -> tuple[Flavor | None, FlavorPrice | None]:
    """The flavor and its price in the region, or a FLAVOR_NOT_FOUND problem."""
    flavor = regions_service.get_flavor(session=session, name=launch.flavor)
    key = (launch.flavor, launch.region)
    price = regions_service.list_prices(session=session, keys=[key]).get(key) if flavor else None
    if flavor is None or price is None:
        problems.append(
            DomainError(
                ErrorCode.FLAVOR_NOT_FOUND,
                f"Flavor {shown(launch.flavor)} is not offered in region {launch.region}.",
                input_field("flavor"),
            )
        )
    return flavor, price


def _image_checks(
    session: Session,
    launch: LaunchInput,
    image: Image | None,
    request: LaunchRequest,
    problems: list[DomainError],
) -> SoftwarePlan | None:
    """The name and image checks (R51), and the software plan the image's listing charges."""
    if launch.name is not None:
        problem = image_rules.name_problem(launch.name)
        if problem:
            problems.append(DomainError(ErrorCode.INVALID_NAME, problem, input_field("name")))
    if image is None:
        problems.append(not_found(ErrorCode.IMAGE_NOT_FOUND, "image", launch.image_id, "imageId"))
        return None
    if (
        disabled := governance.disabled_problem(image, "launched", input_field("imageId"))
    ) is not None:
        problems.append(disabled)
    problems += rules.image_problems(facts(image), request)
    if image.charge_listing_id is None:
        return None
    try:
        return charges.software_plan(image, launch.timing, launch.months, session)
    except DomainError as exc:
        problems.append(exc)
        return None


def plan_launch(
    *, session: Session, viewer: Viewer | None, launch: LaunchInput, now: datetime
) -> Plan:
    """Run every check of R50/R51 that does not depend on money, and price the batch; an
    imageFamily is resolved to its newest launchable image first.

    Raises:
        DomainError / DomainErrors: every problem found, with the input field it concerns.
    """
    problems: list[DomainError] = []
    regions_service.require(session=session, code=launch.region)
    image_id = governance.image_of_request(
        session=session,
        viewer=viewer,
        image_id=launch.image_id,
        family=launch.image_family,
        region=launch.region,
        now=now,
    )
    launch = replace(launch, image_id=image_id)
    image = images_service.get(session=session, viewer=viewer, image_id=image_id)
    launch = with_default_disk(session, launch, image)
    flavor, price = _offered(session, launch, problems)
    request = LaunchRequest(
        region=launch.region,
        count=launch.count,
        storage_type=launch.disk[0],
        disk_gb=launch.disk[1],
        timing=launch.timing,
        months=launch.months,
        flavor_generation=flavor.generation if flavor else None,
        flavor_arch=flavor.arch if flavor else None,
        flavor_offered=price is not None,
    )
    problems += rules.batch_problems(request)
    zone = _pick_zone(session, launch, problems)
    software = _image_checks(session, launch, image, request, problems)
    raise_all(problems)
    if flavor is None or price is None or image is None or zone is None:
        raise AssertionError("every missing piece was reported as a problem")
    rate = Rate(*billing_service.flavor_rate(price))
    lines = quote_lines(
        charges.price_input(
            session, launch, image, flavor.vcpus, flavor.generation, rate, launch.count, software
        )
    )
    per_instance = quote_lines(
        charges.price_input(
            session, launch, image, flavor.vcpus, flavor.generation, rate, 1, software
        )
    )
    warning = governance.deprecation_warning(session=session, viewer=viewer, image=image, now=now)
    return Plan(
        launch,
        image,
        zone,
        flavor.vcpus,
        flavor.generation,
        lines,
        per_instance,
        software,
        (warning,) if warning else (),
    )


def with_default_disk(session: Session, launch: LaunchInput, image: Image | None) -> LaunchInput:
    """The launch with its system disk: as asked, or by default the region's cheapest CDS type
    at the smallest size the image allows.
    """
    if launch.storage_type is not None and launch.disk_gb is not None:
        return launch
    book = billing_service.price_book(session=session, region=launch.region)
    storage_type = launch.storage_type or rules.cheapest_cds(
        {kind: rate.per_month for kind, rate in book.disk.items()}
    )
    size = launch.disk_gb
    if size is None:
        size = rules.smallest_disk_gb(image.min_disk_gb, image.os_type) if image else 40
    return replace(launch, storage_type=storage_type, disk_gb=size)


def facts(image: Image) -> ImageFacts:
    """What the launch checks need to know about an image."""
    return ImageFacts(
        id=image.id,
        status=image.status,
        region=image.region_code,
        generation=image.generation,
        os_type=image.os_type,
        min_disk_gb=image.min_disk_gb,
        system_disk_kind=image.system_disk_kind,
        arch=arch_of_os(image.os_arch).value,
    )


def _pick_zone(session: Session, launch: LaunchInput, problems: list[DomainError]) -> str | None:
    zones = regions_service.list_zones_by_region(session=session, codes=[launch.region])
    names = [z.name for z in zones.get(launch.region, [])]
    if launch.zone is not None:
        if launch.zone not in names:
            problems.append(
                DomainError(
                    ErrorCode.ZONE_NOT_FOUND,
                    f"Region {launch.region} has no zone {shown(launch.zone)}.",
                    input_field("zone"),
                )
            )
            return None
        return launch.zone
    if not names:
        return None
    # The service picks the zone with the fewest live instances, spreading load.
    counts = dict(
        session.exec(
            select(Instance.zone_name, func.count())
            .where(
                col(Instance.zone_name).in_(names), Instance.status != InstanceStatus.RELEASED.value
            )
            .group_by(col(Instance.zone_name))
        ).all()
    )
    return min(names, key=lambda n: (counts.get(n, 0), names.index(n)))


def quote(*, session: Session, viewer: Viewer | None, launch: LaunchInput, now: datetime) -> Plan:
    """Price a launch with the same checks as createInstances, changing nothing (R73)."""
    return plan_launch(session=session, viewer=viewer, launch=launch, now=now)
