"""Postpaid usage: accrued per minute, settled hourly, fractions of a fen carried (R74)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from app.billing import service as billing_service
from app.billing.models import LedgerEntry
from app.billing.pricing import SoftwarePlan, Timing
from app.instances.models import Instance
from app.marketplace import revenue
from app.marketplace.models import Listing
from app.money import rate_from_int, settle_units, usage_units
from app.operations.models import SchedulerState

POSTPAID = "POSTPAID"
HOURLY_JOB = "hourly-settlement"
MINUTE = timedelta(minutes=1)


def settle(
    *, session: Session, until: datetime, account_id: str | None = None
) -> list[LedgerEntry]:
    """Charge every account's postpaid usage up to ``until`` (whole minutes), exactly once.

    Usage already settled is never charged again: each instance remembers how far it has
    been accrued, and each account carries the fraction of a fen not yet charged. With
    ``account_id``, only that account is settled.
    """
    due: list[ColumnElement[bool]] = [
        col(Instance.billing_timing) == POSTPAID,
        col(Instance.accrued_until) < until,
        or_(
            col(Instance.released_at).is_(None),
            col(Instance.accrued_until) < col(Instance.released_at),
        ),
    ]
    if account_id is not None:
        due.append(col(Instance.owner_id) == account_id)
    # accounts first (buyers and the providers they pay), then instances: the lock order of
    # every money-moving transaction
    owners = select(Instance.owner_id).where(*due)
    providers = (
        select(Listing.provider_id)
        .join(Instance, col(Instance.charge_listing_id) == col(Listing.id))
        .where(*due)
    )
    billing_service.lock_accounts(
        session=session, account_ids=set(session.exec(owners)) | set(session.exec(providers))
    )
    stmt = (
        select(Instance)
        .where(*due)
        .order_by(col(Instance.owner_id), col(Instance.id))
        .with_for_update()
    )
    by_account: dict[str, list[Instance]] = defaultdict(list)
    for instance in session.exec(stmt):
        by_account[instance.owner_id].append(instance)
    entries = []
    for owner_id in sorted(by_account):
        account = billing_service.lock_account(session=session, account_id=owner_id)
        assert account is not None
        units = account.usage_carry
        software: dict[str, tuple[int, int, SoftwarePlan]] = {}
        for instance in by_account[owner_id]:
            minutes = accrue(instance, until)
            units += usage_units(minutes, instance.hourly_micros)
            if minutes and instance.software_micros and instance.charge_listing_id:
                listing = instance.charge_listing_id
                used, count, plan = software.get(
                    listing,
                    (
                        0,
                        0,
                        SoftwarePlan(
                            Timing.POSTPAID, None, rate_from_int(instance.software_micros)
                        ),
                    ),
                )
                software[listing] = (
                    used + usage_units(minutes, instance.software_micros),
                    count + 1,
                    plan,
                )
        if software:
            revenue.credit_usage(session=session, buyer_id=owner_id, usage=software, now=until)
        fen, account.usage_carry = settle_units(units)
        if fen:
            entries.append(
                billing_service.post(
                    session=session,
                    account=account,
                    kind="USAGE",
                    amount_minor=-fen,
                    now=until,
                )
            )
        session.add(account)
        if account.balance_minor < 0 and not account.in_arrears:
            billing_service.enter_arrears(session=session, account=account)
    session.flush()
    return entries


def accrue(instance: Instance, until: datetime) -> int:
    """Advance an instance's accrual to ``until`` (whole minutes); returns the minutes taken."""
    if instance.accrued_until is None:
        return 0
    end = min(until, instance.released_at or until)
    minutes = int((end - instance.accrued_until) // MINUTE)
    if minutes <= 0:
        return 0
    instance.accrued_until += minutes * MINUTE
    return minutes


def last_whole_hour(now: datetime) -> datetime:
    """The start of the hour ``now`` is in."""
    return now.replace(minute=0, second=0, microsecond=0)


def settle_hourly(session: Session, now: datetime) -> None:
    """Scheduler job: settle up to the last whole hour, once per hour across processes."""
    boundary = last_whole_hour(now)
    state = session.exec(
        select(SchedulerState).where(SchedulerState.name == HOURLY_JOB).with_for_update()
    ).first()
    if state is not None and state.until >= boundary:
        return
    settle(session=session, until=boundary)
    if state is None:
        state = SchedulerState(name=HOURLY_JOB, until=boundary)
    state.until = boundary
    session.add(state)
    session.flush()
