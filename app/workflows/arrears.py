"""Arrears that end (R165, R192).

An account is in arrears while its balance is below zero (``billing.service.post`` keeps
``in_arrears`` and ``arrears_since``, the start of the grace period). Its running postpaid
instances stop then (status reason ARREARS) and accrue nothing while they stay stopped; a
top-up that brings the balance back to zero or above restarts exactly those instances, their
usage counting again from the restart. If the balance is still below zero when the grace
period (``BCC_IMAGES_ARREARS_GRACE_DAYS``) has passed, the instances arrears stopped are
released (release reason ARREARS); the debt stays on the ledger and prepaid instances run to
the end of their term.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.billing.pricing import Timing
from app.instances.models import Instance
from app.instances.rules import InstanceStatus, ReleaseReason, StatusReason
from app.workflows import announce


def is_held(status_reason: str | None, release_reason: str | None) -> bool:
    """Whether the platform holds an instance with these reasons for arrears (it accrues
    nothing meanwhile).
    """
    return (
        status_reason == StatusReason.ARREARS.value or release_reason == ReleaseReason.ARREARS.value
    )


def end_hold(instance: Instance, now: datetime) -> None:
    """The instance leaves the hold (restarted, or released by its owner): the time it was
    held is settled as free, so its usage counts from ``now``.
    """
    if instance.status_reason != StatusReason.ARREARS.value:
        return
    if instance.accrued_until is not None and instance.accrued_until < now:
        instance.accrued_until = now
    instance.status_reason = None


def stop_for_arrears(*, session: Session, account: Account) -> None:
    """If the account is in arrears, stop its running postpaid instances (reason ARREARS).

    The caller holds the account; the instances are locked after it.
    """
    if not account.in_arrears:
        return
    stmt = (
        select(Instance)
        .where(
            Instance.owner_id == account.id,
            Instance.billing_timing == Timing.POSTPAID.value,
            Instance.status == InstanceStatus.RUNNING.value,
        )
        .with_for_update()
    )
    for instance in session.exec(stmt):
        instance.status = InstanceStatus.STOPPED.value
        instance.status_reason = StatusReason.ARREARS.value
        session.add(instance)
    session.flush()


def restart_if_paid(*, session: Session, account: Account, now: datetime) -> None:
    """Once the balance is zero or above again, restart exactly the instances arrears
    stopped; their usage counts from ``now``.
    """
    if account.in_arrears:
        return
    for instance in _stopped_for_arrears(session, account.id):
        end_hold(instance, now)
        instance.status = InstanceStatus.RUNNING.value
        session.add(instance)
    session.flush()


class ArrearsReleases:
    """Periodic job: release the instances arrears stopped once the account's grace period
    is over (each at the moment its grace ended, on the service clock).
    """

    def __init__(self, grace_days: float) -> None:
        self.grace = timedelta(days=grace_days)

    def __call__(self, session: Session, now: datetime) -> None:
        """Release what is due by ``now``, account by account (each locked first)."""
        due = select(Account.id).where(col(Account.arrears_since) <= now - self.grace)
        for account_id in list(session.exec(due.order_by(col(Account.id)))):
            account = accounts_service.lock_account(session=session, account_id=account_id)
            if account is None or account.arrears_since is None:
                continue
            when = account.arrears_since + self.grace
            if when <= now:
                release_held(session=session, account=account, when=when)


def release_held(*, session: Session, account: Account, when: datetime) -> list[Instance]:
    """Release the account's instances arrears stopped, at ``when``; returns them."""
    released = _stopped_for_arrears(session, account.id)
    for instance in released:
        released_at = max(when, instance.accrued_until or when)
        instance.status = InstanceStatus.RELEASED.value
        instance.release_reason = ReleaseReason.ARREARS.value
        instance.released_at = released_at
        instance.accrued_until = released_at if instance.accrued_until else None
        session.add(instance)
        announce.instance_released(session, instance, released_at)
    session.flush()
    return released


def _stopped_for_arrears(session: Session, account_id: str) -> list[Instance]:
    """The account's instances arrears stopped, locked (after the account)."""
    stmt = (
        select(Instance)
        .where(
            Instance.owner_id == account_id,
            Instance.status == InstanceStatus.STOPPED.value,
            Instance.status_reason == StatusReason.ARREARS.value,
        )
        .with_for_update()
    )
    return list(session.exec(stmt))
