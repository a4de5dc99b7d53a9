"""An owner's actions on one instance: start, stop, release (with the prepaid refund, R74).

Each locks the owner's account before the instance: the one lock order every
money-moving transaction follows, so two transactions never wait on each other in
opposite orders.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from app.accounts.models import Account
from app.billing import attribution
from app.billing import rules as billing_rules
from app.billing import service as billing_service
from app.billing.pricing import Timing
from app.billing.rules import TransactionKind
from app.clock import Clock
from app.database import saved
from app.errors import DomainError, ErrorCode
from app.instances import service as instances_service
from app.instances.models import Instance
from app.instances.rules import SETTLED, InstanceStatus, ReleaseReason, StatusReason
from app.operations import service as operations_service
from app.platform.viewer import Viewer
from app.workflows import announce, arrears, revenue

FIELD = ("input", "instanceId")


def for_action(
    session: Session, viewer: Viewer, instance_id: str, *, paid_providers: bool = False
) -> tuple[Account, Instance]:
    """Lock the caller's account (with ``paid_providers``, also the accounts of the providers
    the instance's prepaid lines paid, which a refund reverses), then the instance it acts on.

    Raises:
        DomainError: INSTANCE_NOT_FOUND, PERMISSION_DENIED (see instances.service).
    """
    listing_ids = (
        [
            share.listing_id
            for share in attribution.shares_of(session=session, instance_ids=[instance_id])
        ]
        if paid_providers
        else []
    )
    account = revenue.lock_buyer_and_providers(
        session=session, buyer_id=viewer.account_id, listing_ids=listing_ids
    )
    instance = instances_service.get_for_update(session, viewer, instance_id)
    return account, instance


def start(*, session: Session, viewer: Viewer, instance_id: str, now: datetime) -> Instance:
    """Start a STOPPED instance (refused while the account is in arrears or the term is over;
    one arrears stopped may be started once the balance is zero or above again).

    Raises:
        DomainError: INSTANCE_NOT_FOUND, PERMISSION_DENIED, INSTANCE_STATUS_FORBIDDEN,
            ACCOUNT_IN_ARREARS.
    """
    account, instance = for_action(session, viewer, instance_id)
    if instance.status != InstanceStatus.STOPPED.value:
        raise instances_service.refuse(instance, "started")
    if instance.billing_timing == Timing.POSTPAID.value and account.in_arrears:
        raise DomainError(
            ErrorCode.ACCOUNT_IN_ARREARS,
            "The account is in arrears; a top-up restarts the instances arrears stopped.",
            FIELD,
        )
    expired = instance.expires_at is not None and instance.expires_at <= now
    if expired or instance.status_reason == StatusReason.EXPIRED.value:
        raise DomainError(
            ErrorCode.INSTANCE_STATUS_FORBIDDEN,
            f"Instance {instance.id}'s prepaid term has ended.",
            FIELD,
        )
    arrears.end_hold(instance, now)  # stopped for arrears, now paid: usage counts from now
    instance.status = InstanceStatus.RUNNING.value
    instance.status_reason = None
    return saved(session, instance)


def stop(*, session: Session, viewer: Viewer, instance_id: str) -> Instance:
    """Stop a RUNNING instance.

    Raises:
        DomainError: INSTANCE_NOT_FOUND, PERMISSION_DENIED, INSTANCE_STATUS_FORBIDDEN.
    """
    _, instance = for_action(session, viewer, instance_id)
    if instance.status != InstanceStatus.RUNNING.value:
        raise instances_service.refuse(instance, "stopped")
    instance.status = InstanceStatus.STOPPED.value
    return saved(session, instance)


def release(
    *, session: Session, viewer: Viewer, instance_id: str, now: datetime, clock: Clock | None = None
) -> tuple[Instance, int]:
    """Release an instance; a prepaid one is refunded per R74. Returns (instance, refund fen).

    With ``clock``, the time of the release is read once the account and the instance are
    locked (a clock advanced meanwhile by another process has settled usage up to its new
    time, and the release may not come before that).

    Raises:
        DomainError: INSTANCE_NOT_FOUND, PERMISSION_DENIED, INSTANCE_STATUS_FORBIDDEN.
    """
    account, instance = for_action(session, viewer, instance_id, paid_providers=True)
    if instance.status not in SETTLED:
        raise instances_service.refuse(instance, "released")
    if clock is not None:
        now = max(now, operations_service.time_after_locks(session=session, clock=clock))
    arrears.end_hold(instance, now)
    instance.status = InstanceStatus.RELEASED.value
    instance.status_reason = None
    instance.release_reason = ReleaseReason.OWNER.value
    instance.released_at = now
    refund = 0
    if instance.billing_timing == Timing.PREPAID.value:
        refund = _refund(session, account, instance, now)
    session.add(instance)
    announce.instance_released(session, instance, now)
    session.flush()
    return instance, refund


def _refund(session: Session, account: Account, instance: Instance, now: datetime) -> int:
    """Refund each line the instance paid for on its own, and take back from the provider of
    the listing that earned each SOFTWARE line its share of that line's refund (R74, R126).
    Lines it was rebuilt away from count as fully used.
    """
    refund = 0
    for share in attribution.shares_of(session=session, instance_ids=[instance.id]):
        if share.consumed_at is not None:
            continue
        line_refund = billing_rules.line_refund_minor(
            share.amount_minor - share.refunded_minor, share.starts_at, share.ends_at, now
        )
        if line_refund <= 0:
            continue
        share.refunded_minor += line_refund
        session.add(share)
        revenue.reverse(session=session, share=share, refund_minor=line_refund, now=now)
        refund += line_refund
    if refund > 0:
        billing_service.post(
            session=session,
            account=account,
            kind=TransactionKind.REFUND,
            amount_minor=refund,
            now=now,
            reference=instance.id,
        )
    return refund
