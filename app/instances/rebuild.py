"""Rebuild ("change image"): reinstall an instance's OS from another image (R54, R72)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app import idempotency
from app.accounts.rules import Viewer
from app.billing import pricing, settlement
from app.billing import service as billing_service
from app.billing.pricing import ChargeLine, Timing
from app.errors import DomainError, ErrorCode, raise_all
from app.images import service as images_service
from app.instances import charges, launch, rules, service
from app.instances.models import Instance
from app.instances.rules import InstanceStatus, LaunchRequest
from app.marketplace import revenue
from app.money import to_minor, usage_units
from app.operations import service as operations_service
from app.operations.models import Operation
from app.snapshots import service as snapshots_service

REBUILD_INSTANCE = "REBUILD_INSTANCE"


@dataclass(frozen=True)
class Rebuilt:
    """The instance being rebuilt, the order for added charges (if any), the operation."""

    instance: Instance
    order_id: str | None
    operation: Operation


def rebuild(
    *,
    session: Session,
    viewer: Viewer,
    instance_id: str,
    image_id: str,
    client_token: str | None,
    now: datetime,
    seconds: float,
    seconds_per_gb: float,
) -> Rebuilt:
    """Reinstall an instance from an image the caller may use; charges follow the image.

    Raises:
        DomainError / DomainErrors: INSTANCE_NOT_FOUND, INSTANCE_STATUS_FORBIDDEN, every
            image check of R51, INSUFFICIENT_BALANCE (prepaid instances gaining a charge).
    """
    if client_token is not None:
        replay = idempotency.claim(
            session=session,
            account_id=viewer.account_id,
            mutation="rebuildInstance",
            token=client_token,
            request={"instanceId": instance_id, "imageId": image_id},
            now=now,
        )
        if replay is not None:
            return _replay(session, replay)
    instance = service.get_for_update(session, viewer, instance_id)
    allowed = {InstanceStatus.RUNNING.value} if instance.generation == "EBC" else rules.SETTLED
    if instance.status not in allowed:
        what = (
            "rebuilt (EBC instances must be RUNNING)" if instance.generation == "EBC" else "rebuilt"
        )
        raise service.refuse(instance, what)
    image = images_service.get(session=session, viewer=viewer, image_id=image_id)
    if image is None:
        raise images_service.not_found(image_id)
    timing = Timing(instance.billing_timing)
    request = LaunchRequest(
        region=instance.region_code,
        count=1,
        storage_type=instance.system_disk_type,
        disk_gb=instance.system_disk_gb,
        timing=timing,
        months=instance.billing_months,
        flavor_generation=instance.generation,
        flavor_offered=True,
    )
    raise_all(rules.image_problems(launch.facts(image), request, rebuild=True))
    request_input = rules.LaunchInput(
        region=instance.region_code,
        flavor=instance.flavor_name,
        image_id=image.id,
        storage_type=instance.system_disk_type,
        disk_gb=instance.system_disk_gb,
        timing=timing,
        months=instance.billing_months,
    )
    new_lines = charges.price_one(session, request_input, image)
    account = billing_service.lock_account(session=session, account_id=instance.owner_id)
    assert account is not None
    order_id = None
    if timing is Timing.POSTPAID:
        # Usage so far is owed at the old rate; from now on the new lines apply (R72).
        minutes = settlement.accrue(instance, now)
        account.usage_carry += usage_units(minutes, instance.hourly_micros)
        instance.hourly_micros = pricing.hourly_micros(new_lines, 1)
        instance.software_micros = charges.software_micros(new_lines)
        session.add(account)
    else:
        order_id = _charge_added_lines(session, account, instance, new_lines, now, image)
    instance.charge_lines = service.lines_json(new_lines)
    instance.charge_os_license = image.charge_os_license
    instance.charge_listing_id = image.charge_listing_id
    instance.status = InstanceStatus.REBUILDING.value
    instance.status_reason = None
    session.add(instance)
    operation = operations_service.create(
        session=session,
        kind=REBUILD_INSTANCE,
        owner_id=instance.owner_id,
        target_ids=[instance.id],
        now=now,
        duration_seconds=operations_service.duration(seconds, seconds_per_gb, image.size_gb),
        payload={
            "image": {
                "id": image.id,
                "name": image.name,
                "os_type": image.os_type,
                "os_name": image.os_name,
                "os_version": image.os_version,
                "os_arch": image.os_arch,
                "os_lang": image.os_lang,
            }
        },
    )
    if client_token is not None:
        idempotency.remember(
            session=session,
            account_id=viewer.account_id,
            mutation="rebuildInstance",
            token=client_token,
            result={"instance": instance.id, "order": order_id, "operation": operation.id},
        )
    return Rebuilt(instance, order_id, operation)


def _charge_added_lines(
    session: Session,
    account: Any,
    instance: Instance,
    new_lines: list[ChargeLine],
    now: datetime,
    image: Any,
) -> str | None:
    """Prepaid: an order for the charges the new image adds, pro-rated by day; none removed."""
    old_kinds = {line.kind for line in service.charge_lines(instance)}
    added = [line for line in new_lines if line.kind not in old_kinds]
    if not added or instance.expires_at is None:
        return None
    remaining = rules.prorated_days(now, instance.expires_at)
    term = rules.term_days(instance.created_at, instance.expires_at)
    lines = [pricing.prorated(line, remaining, term) for line in added]
    total_minor = sum(to_minor(line.amount) for line in lines)
    if total_minor == 0:
        return None
    if account.balance_minor < total_minor:
        raise DomainError(
            ErrorCode.INSUFFICIENT_BALANCE,
            f"The new image adds {billing_service.format_minor(total_minor)} CNY for the rest "
            "of the term; the balance is "
            f"{billing_service.format_minor(account.balance_minor)} CNY.",
        )
    order = billing_service.create_order(
        session=session,
        account=account,
        kind="REBUILD",
        lines=lines,
        instance_ids=[instance.id],
        now=now,
    )
    instance.paid_minor += total_minor
    software = [line for line in lines if line.kind is pricing.ChargeKind.SOFTWARE]
    if software and image.charge_listing_id is not None:
        plan = charges.software_plan(image, Timing.PREPAID, instance.billing_months, session)
        if plan is not None:
            revenue.credit_order(
                session=session,
                listing_id=image.charge_listing_id,
                buyer_id=instance.owner_id,
                plan=plan,
                instances=[instance],
                amount=software[0].amount,
                reference=order.id,
                now=now,
            )
    return order.id


def _replay(session: Session, replay: dict[str, Any]) -> Rebuilt:
    instance = session.get(Instance, replay["instance"])
    operation = session.get(Operation, replay["operation"])
    if instance is None or operation is None:
        raise AssertionError("an idempotency record points at rows that exist")
    return Rebuilt(instance, replay["order"], operation)


class RebuildHandler:
    """REBUILD_INSTANCE: the instance runs the new image; old disk snapshots go (R54)."""

    def complete(self, session: Session, operation: Operation, now: datetime) -> None:
        """Finish the rebuild."""
        image = operations_service.payload(operation)["image"]
        for target in operations_service.targets(operation):
            instance = session.get(Instance, target)
            if instance is None or instance.status != InstanceStatus.REBUILDING.value:
                continue
            instance.image_id = image["id"]
            instance.image_name = image["name"]
            instance.image_os_type = image["os_type"]
            instance.image_os_name = image["os_name"]
            instance.image_os_version = image["os_version"]
            instance.image_os_arch = image["os_arch"]
            instance.image_os_lang = image["os_lang"]
            instance.status = InstanceStatus.RUNNING.value
            session.add(instance)
            snapshots_service.delete_unused_of_instance(
                session=session, instance_id=instance.id, now=now
            )

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """A rebuild cannot fail once accepted; nothing to undo."""


operations_service.register(REBUILD_INSTANCE, RebuildHandler())
