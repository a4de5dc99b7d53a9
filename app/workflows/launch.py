"""Launching instances as ``workflows.launch_plan`` planned them: the payment, the batch
and its CREATE_INSTANCES operation (R50, R51, R62, R73).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from app.accounts.models import Account
from app.billing import service as billing_service
from app.billing.models import Order
from app.billing.pricing import (
    Timing,
    hourly_rates,
)
from app.billing.rules import OrderKind
from app.errors import DomainError, ErrorCode
from app.ids import new_id
from app.images.rules import OS_COLUMNS
from app.instances import rules, service
from app.instances.models import Instance
from app.instances.rules import InstanceStatus, LaunchInput
from app.money import to_minor
from app.operations import service as operations_service
from app.operations.models import Operation
from app.operations.rules import OperationKind
from app.platform.viewer import Viewer
from app.policy import Policy
from app.workflows import charges, revenue
from app.workflows.idempotent import once
from app.workflows.launch_plan import Plan, plan_launch


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
        account = revenue.lock_buyer_and_providers(
            session=session, buyer_id=viewer.account_id, listing_ids=[plan.image.charge_listing_id]
        )
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
    rates = {} if prepaid else hourly_rates(plan.per_instance, 1)
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
            accrued_until=None if prepaid else now,
            created_at=now,
            expires_at=rules.add_months(now, launch.months) if prepaid and launch.months else None,
        )
        session.add(instance)
        created.append(instance)
    session.flush()
    for instance in created:
        charges.start_rates(session, instance.id, instance.charge_listing_id, rates)
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
    for position, line in enumerate(plan.lines):
        revenue.attribute_line(
            session=session,
            order_id=order_id,
            position=position,
            line=line,
            instances=instances,
            buyer_id=viewer.account_id,
            listing_id=plan.image.charge_listing_id,
            software=plan.software,
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
