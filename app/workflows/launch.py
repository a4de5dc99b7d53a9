"""Launching instances: the checks, the quote, the payment, the batch (R50, R51, R62, R73)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.accounts.rules import Viewer
from app.billing import attribution
from app.billing import service as billing_service
from app.billing.models import Order
from app.billing.pricing import (
    ChargeKind,
    ChargeLine,
    SoftwarePlan,
    Timing,
    hourly_micros,
    quote_lines,
    total,
)
from app.billing.rules import OrderKind
from app.errors import DomainError, ErrorCode, input_field, not_found, raise_all, shown
from app.ids import new_id
from app.images import governance
from app.images import rules as image_rules
from app.images import service as images_service
from app.images.models import Image
from app.images.rules import OS_COLUMNS
from app.instances import rules, service
from app.instances.models import Instance
from app.instances.rules import ImageFacts, InstanceStatus, LaunchInput, LaunchRequest
from app.money import to_minor
from app.operations import service as operations_service
from app.operations.models import Operation
from app.operations.rules import OperationKind
from app.policy import Policy
from app.regions import service as regions_service
from app.regions.models import Flavor, FlavorPrice
from app.workflows import charges, revenue
from app.workflows.idempotent import once


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
        flavor_offered=price is not None,
    )
    problems += rules.batch_problems(request)
    zone = _pick_zone(session, launch, problems)
    software = _image_checks(session, launch, image, request, problems)
    raise_all(problems)
    if flavor is None or price is None or image is None or zone is None:
        raise AssertionError("every missing piece was reported as a problem")
    lines = quote_lines(
        charges.price_input(
            session, launch, image, flavor.vcpus, flavor.generation, price, launch.count, software
        )
    )
    per_instance = quote_lines(
        charges.price_input(
            session, launch, image, flavor.vcpus, flavor.generation, price, 1, software
        )
    )
    warning = image_rules.deprecation_warning(image, now)
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


@dataclass(frozen=True)
class Launched:
    """What createInstances produced: the instances, their order (prepaid), the operation."""

    instances: list[Instance]
    order: Order | None
    operation: Operation
    warnings: tuple[str, ...] = ()


def create_instances(
    *, session: Session, viewer: Viewer, launch: LaunchInput, now: datetime, policy: Policy
) -> Launched:
    """Create a batch of instances all-or-nothing and charge it exactly once (R50, R62, R74).

    Raises:
        DomainError: any failed check; nothing is created or charged.
    """

    def work() -> Launched:
        plan = plan_launch(session=session, viewer=viewer, launch=launch, now=now)
        account = accounts_service.lock_account(session=session, account_id=viewer.account_id)
        assert account is not None
        _check_balance(account, launch.timing, plan.total, policy)
        instances = _new_instances(session, viewer, plan, now)
        order = None
        if launch.timing is Timing.PREPAID:
            order = billing_service.create_order(
                session=session,
                account=account,
                kind=OrderKind.NEW_INSTANCES,
                lines=plan.lines,
                instance_ids=[i.id for i in instances],
                now=now,
            )
            _attribute(session, viewer, plan, instances, order.id, now)
        operation = operations_service.create(
            session=session,
            kind=OperationKind.CREATE_INSTANCES.value,
            owner_id=viewer.account_id,
            target_ids=[i.id for i in instances],
            now=now,
            duration_seconds=policy.duration(plan.image.size_gb),
        )
        session.flush()
        return Launched(instances, order, operation, plan.warnings)

    return once(
        session=session,
        account_id=viewer.account_id,
        mutation="createInstances",
        token=launch.client_token,
        request=launch.fingerprint(),
        now=now,
        result=Launched,
        work=work,
    )


def _check_balance(account: Account, timing: Timing, total: Decimal, policy: Policy) -> None:
    """Postpaid needs an account out of arrears with the minimum balance; prepaid, the price.

    Raises:
        DomainError: ACCOUNT_IN_ARREARS, INSUFFICIENT_BALANCE.
    """
    if timing is Timing.POSTPAID:
        if account.in_arrears:
            raise DomainError(
                ErrorCode.ACCOUNT_IN_ARREARS,
                "The account is in arrears; top up before creating postpaid instances.",
            )
        if account.balance_minor < policy.postpaid_minimum_minor:
            raise DomainError(
                ErrorCode.INSUFFICIENT_BALANCE,
                f"Postpaid instances need a balance of at least "
                f"{billing_service.format_minor(policy.postpaid_minimum_minor)} CNY.",
            )
    elif account.balance_minor < to_minor(total):
        raise DomainError(
            ErrorCode.INSUFFICIENT_BALANCE,
            f"This order costs {total} CNY; the balance is "
            f"{billing_service.format_minor(account.balance_minor)} CNY.",
        )


def _new_instances(session: Session, viewer: Viewer, plan: Plan, now: datetime) -> list[Instance]:
    launch, image = plan.input, plan.image
    prepaid = launch.timing is Timing.PREPAID
    stored_lines = service.lines_json(plan.per_instance)
    rate = 0 if prepaid else hourly_micros(plan.per_instance, 1)
    software_rate = 0 if prepaid else charges.software_micros(plan.per_instance)
    created = []
    for index in range(launch.count):
        instance_id = new_id("i")
        name = launch.name or instance_id
        if launch.name and launch.count > 1:
            name = f"{launch.name}-{index + 1}"
        instance = Instance(
            id=instance_id,
            name=name,
            owner_id=viewer.account_id,
            region_code=launch.region,
            zone_name=plan.zone,
            flavor_name=launch.flavor,
            generation=plan.generation,
            status=InstanceStatus.STARTING.value,
            # the image it runs, and the one it was created from (kept after a rebuild)
            **{f"image_{c}": getattr(image, c) for c in ("id", "name", *OS_COLUMNS)},
            created_from_image_id=image.id,
            created_from_image_name=image.name,
            **{f"created_from_{c}": getattr(image, c) for c in OS_COLUMNS},
            charge_os_license=image.charge_os_license,
            charge_listing_id=image.charge_listing_id,
            system_disk_type=launch.disk[0],
            system_disk_gb=launch.disk[1],
            billing_timing=launch.timing.value,
            billing_months=launch.months,
            charge_lines=stored_lines,
            hourly_micros=rate,
            software_micros=software_rate,
            accrued_until=None if prepaid else now,
            created_at=now,
            expires_at=rules.add_months(now, launch.months) if prepaid and launch.months else None,
        )
        session.add(instance)
        created.append(instance)
    session.flush()
    return created


def _attribute(
    session: Session,
    viewer: Viewer,
    plan: Plan,
    instances: list[Instance],
    order_id: str,
    now: datetime,
) -> None:
    """Record each instance's share of each line of a prepaid order; the SOFTWARE line pays
    the listing's provider (R74, R102).
    """
    expiry = {i.id: i.expires_at or now for i in instances}
    listing_id = plan.image.charge_listing_id
    for line in plan.lines:
        shares = attribution.record_shares(
            session=session,
            order_id=order_id,
            line=line,
            instance_ids=[i.id for i in instances],
            starts_at=now,
            ends_at=expiry,
            listing_id=listing_id,
        )
        if line.kind is ChargeKind.SOFTWARE and listing_id is not None and plan.software:
            revenue.credit_lines(
                session=session,
                listing_id=listing_id,
                buyer_id=viewer.account_id,
                plan=plan.software,
                lines=[(line, shares)],
                reference=order_id,
                now=now,
            )


class CreateInstancesHandler(operations_service.Handler):
    """CREATE_INSTANCES: STARTING instances become RUNNING (or stay stopped, see resume)."""

    def complete(
        self, session: Session, operation: Operation, now: datetime, prepared: object
    ) -> None:
        """Bring the batch up."""
        starting = InstanceStatus.STARTING.value
        for instance in operations_service.target_rows(session, operation, Instance, starting):
            service.resume(session, instance, InstanceStatus.RUNNING.value, now)

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """Instance creation cannot fail once paid for; nothing to undo."""
