"""Rebuild ("change image"): reinstall the OS of one instance or a batch of up to 100 from
another image, as ``workflows.rebuild_plan`` planned it; charges, and the provider revenue
they earn, follow the new image (R54, R72, R100-R103, R126, R127).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.accounts.models import Account
from app.billing import attribution, pricing
from app.billing import service as billing_service
from app.billing.models import ChargeShare, Order
from app.billing.pricing import ChargeKind, Timing
from app.billing.rules import OrderKind
from app.errors import DomainError, ErrorCode
from app.images.models import Image
from app.images.rules import OS_COLUMNS, OsLicense
from app.instances import service
from app.instances.models import Instance
from app.instances.rules import InstanceStatus
from app.money import to_minor
from app.operations import service as operations_service
from app.operations.models import Operation
from app.operations.rules import OperationKind
from app.platform.viewer import Viewer
from app.policy import Policy
from app.snapshots import service as snapshots_service
from app.workflows import charges, revenue, settlement
from app.workflows.idempotent import once
from app.workflows.rebuild_plan import Change, RebuildPlan, RebuildRequest, plan_rebuild


@dataclass(frozen=True)
class Rebuilt:
    """The instances being rebuilt, the REBUILD order (if anything was charged at once), and
    one operation per instance.
    """

    instances: list[Instance]
    order: Order | None
    operations: list[Operation]
    warnings: tuple[str, ...] = ()


def rebuild(
    *, session: Session, viewer: Viewer, request: RebuildRequest, now: datetime, policy: Policy
) -> Rebuilt:
    """Rebuild every instance of the request, or none, and charge for it exactly once.

    Raises:
        DomainError / DomainErrors: any failed check, INSUFFICIENT_BALANCE; nothing changes.
    """

    def work() -> Rebuilt:
        # which listings the rebuild pays, and which the postpaid instances' usage so far is
        # owed to (read unlocked), so that their providers are locked with the caller, before
        # the instances (R209)
        preview = plan_rebuild(session=session, viewer=viewer, request=request, now=now, lock=False)
        account = revenue.lock_buyer_and_providers(
            session=session,
            buyer_id=viewer.account_id,
            listing_ids=[
                preview.image.charge_listing_id,
                *(c.instance.charge_listing_id for c in preview.changes),
            ],
        )
        plan = plan_rebuild(session=session, viewer=viewer, request=request, now=now, lock=True)
        order = _charge(session, account, plan, now)
        operations = [
            _apply(session, account, change, plan.image, now, policy) for change in plan.changes
        ]
        return Rebuilt([c.instance for c in plan.changes], order, operations, plan.warnings)

    return once(
        session=session,
        account_id=viewer.account_id,
        mutation=request.mutation,
        token=request.client_token,
        request=request.fingerprint(),
        now=now,
        result=Rebuilt,
        work=work,
    )


def _charge(session: Session, account: Account, plan: RebuildPlan, now: datetime) -> Order | None:
    """One REBUILD order for what the prepaid instances are charged at once, if anything;
    each added line becomes that instance's share, SOFTWARE ones paying the new listing.
    """
    total_minor = to_minor(plan.total)
    if total_minor == 0:
        return None
    if account.balance_minor < total_minor:
        raise DomainError(
            ErrorCode.INSUFFICIENT_BALANCE,
            f"The new image adds {plan.total} CNY for the rest of the term; the balance is "
            f"{billing_service.format_minor(account.balance_minor)} CNY.",
        )
    charged = [c for c in plan.changes if c.added]
    order = billing_service.create_order(
        session=session,
        account=account,
        kind=OrderKind.REBUILD,
        lines=plan.order_lines,
        instance_ids=[c.instance.id for c in charged],
        now=now,
    )
    positions = iter(range(len(plan.order_lines)))  # the order's lines, in this order
    for change in charged:
        for line in change.added:
            revenue.attribute_line(
                session=session,
                order_id=order.id,
                position=next(positions),
                line=line,
                instances=[change.instance],
                buyer_id=account.id,
                listing_id=plan.image.charge_listing_id,
                software=change.software,
                now=now,
            )
    return order


def _apply(
    session: Session,
    account: Account,
    change: Change,
    image: Image,
    now: datetime,
    policy: Policy,
) -> Operation:
    """Switch one instance's charges to the new image and start its operation."""
    instance = change.instance
    if instance.billing_timing == Timing.POSTPAID.value:
        # the minutes so far are charged at the old rates and owed to the listing they ran
        # under (R102); the new image's lines start from nothing, compute and disk keep the
        # rates of the launch (R168)
        settlement.settle_instance(session, account, instance, now)
        charges.replace_image_rates(session, instance, image, pricing.hourly_rates(change.lines, 1))
    else:
        # what it moves away from counts as used: nothing of it is refunded (R72, R126)
        attribution.consume(
            session=session,
            shares=change.shares,
            keep=lambda share: _still_charged(share, image),
            now=now,
        )
    instance.charge_lines = service.lines_json(change.lines)
    instance.charge_os_license = image.charge_os_license
    instance.charge_listing_id = image.charge_listing_id
    previous = instance.status
    instance.status = InstanceStatus.REBUILDING.value
    session.add(instance)
    return operations_service.create(
        session=session,
        kind=OperationKind.REBUILD_INSTANCE.value,
        owner_id=instance.owner_id,
        target_ids=[instance.id],
        now=now,
        duration_seconds=policy.duration(image.size_gb),
        payload={"image": _image_ref(image), "status": previous},
    )


def _still_charged(share: ChargeShare, image: Image) -> bool:
    if share.kind == ChargeKind.WINDOWS_LICENSE.value:
        return image.charge_os_license == OsLicense.WINDOWS.value
    if share.kind == ChargeKind.SOFTWARE.value:
        return share.listing_id == image.charge_listing_id
    return True


def _image_ref(image: Image) -> dict[str, Any]:
    """The image an instance runs, as its REBUILD_INSTANCE operation carries it."""
    return {"id": image.id, "name": image.name} | {c: getattr(image, c) for c in OS_COLUMNS}


class RebuildHandler(operations_service.Handler):
    """REBUILD_INSTANCE: the instance runs the new image, back in the state it was in
    (RUNNING or STOPPED); old disk snapshots go (R54, R127).
    """

    def complete(
        self, session: Session, operation: Operation, now: datetime, prepared: object
    ) -> None:
        """Finish the rebuild."""
        payload = operations_service.payload(operation)
        image = payload["image"]
        rebuilding = InstanceStatus.REBUILDING.value
        for instance in operations_service.target_rows(session, operation, Instance, rebuilding):
            for column, value in image.items():  # id, name, os_type… as image_id, image_name…
                setattr(instance, f"image_{column}", value)
            service.resume(
                session, instance, payload.get("status", InstanceStatus.RUNNING.value), now
            )
            snapshots_service.delete_unused_of_instance(
                session=session, instance_id=instance.id, now=now
            )

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """A rebuild cannot fail once accepted; nothing to undo."""
