"""Postpaid usage: accrued per minute, settled hourly, fractions of a fen carried (R74)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.accounts.permissions import require_admin
from app.billing import service as billing_service
from app.billing.models import LedgerEntry
from app.billing.pricing import SoftwarePlan, Timing
from app.billing.rules import TransactionKind
from app.errors import DomainError, ErrorCode, not_found
from app.ids import is_id
from app.instances.models import Instance
from app.marketplace.models import Listing
from app.money import rate_from_int, round_fen, settle_units, to_minor, usage_units
from app.observability import SETTLEMENT_RUNS
from app.platform.schedule import SchedulerState
from app.platform.viewer import Viewer
from app.workflows import arrears, revenue

HOURLY_JOB = "hourly-settlement"
MINUTE = timedelta(minutes=1)


def settle_usage(
    *, session: Session, viewer: Viewer, until: datetime | None, now: datetime
) -> list[LedgerEntry]:
    """Charge postpaid usage up to ``until`` (default now) on an administrator's request.

    Raises:
        DomainError: PERMISSION_DENIED, INVALID_INPUT (no time zone, or later than now).
    """
    require_admin(viewer)
    until = until or now
    if until.tzinfo is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "until needs a time zone (UTC).", ("input", "until")
        )
    if until > now:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"until may not be later than now ({now.isoformat()}).",
            ("input", "until"),
        )
    return settle(session=session, until=until)


def settle(
    *, session: Session, until: datetime, account_id: str | None = None
) -> list[LedgerEntry]:
    """Charge every account's postpaid usage up to ``until`` (whole minutes), exactly once.

    Usage already settled is never charged again: each instance remembers how far it has
    been accrued, and each account carries the fraction of a fen not yet charged. With
    ``account_id``, only that account is settled.
    """
    due = _due(until)
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
    accounts_service.lock_accounts(
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
        account = accounts_service.lock_account(session=session, account_id=owner_id)
        assert account is not None
        software: dict[str, SoftwareUsage] = {}
        before = account.usage_carry
        for instance in by_account[owner_id]:
            used = accrue_usage(account, instance, until)
            if used is not None:
                known = software.get(used.listing_id)
                software[used.listing_id] = used if known is None else known.plus(used)
        for usage in software.values():
            usage.credit(session, owner_id, until)
        if account.usage_carry == before:
            continue  # nothing accrued: a carry alone is never rounded again (R167)
        fen, account.usage_carry = settle_units(account.usage_carry)
        if fen:
            entries.append(
                billing_service.post(
                    session=session,
                    account=account,
                    kind=TransactionKind.USAGE,
                    amount_minor=-fen,
                    now=until,
                )
            )
        session.add(account)
        arrears.stop_for_arrears(session=session, account=account)
    session.flush()
    return entries


def _due(until: datetime) -> list[ColumnElement[bool]]:
    """Postpaid instances with usage not settled up to ``until`` (a released one until it is
    settled up to its release).
    """
    return [
        col(Instance.billing_timing) == Timing.POSTPAID.value,
        col(Instance.accrued_until) < until,
        or_(
            col(Instance.released_at).is_(None),
            col(Instance.accrued_until) < col(Instance.released_at),
        ),
    ]


@dataclass(frozen=True)
class SoftwareUsage:
    """Hourly software used under one listing: usage units, instances, the hourly plan."""

    listing_id: str
    units: int
    instance_ids: tuple[str, ...]
    plan: SoftwarePlan

    def plus(self, other: SoftwareUsage) -> SoftwareUsage:
        """Usage of more instances under the same listing."""
        return SoftwareUsage(
            self.listing_id,
            self.units + other.units,
            self.instance_ids + other.instance_ids,
            self.plan,
        )

    def credit(self, session: Session, buyer_id: str, now: datetime) -> None:
        """Credit the listing's provider its share of this usage."""
        revenue.credit_usage(
            session=session,
            listing_id=self.listing_id,
            buyer_id=buyer_id,
            units=self.units,
            instance_ids=self.instance_ids,
            plan=self.plan,
            now=now,
        )


def accrue_usage(account: Account, instance: Instance, until: datetime) -> SoftwareUsage | None:
    """Advance a postpaid instance's usage to ``until`` into its account's carry, at the rates
    it pays now; return the software part, owed to the listing it ran under (R102).
    """
    minutes = accrue(instance, until)
    if minutes <= 0:
        return None
    account.usage_carry += usage_units(minutes, instance.hourly_micros)
    if not instance.software_micros or instance.charge_listing_id is None:
        return None
    plan = SoftwarePlan(Timing.POSTPAID, None, rate_from_int(instance.software_micros))
    return SoftwareUsage(
        instance.charge_listing_id,
        usage_units(minutes, instance.software_micros),
        (instance.id,),
        plan,
    )


def accrue(instance: Instance, until: datetime) -> int:
    """Advance an instance's accrual to ``until`` (whole minutes); returns the minutes to
    charge. A released instance is settled once, up to its release (the whole minutes before
    it), and never again; an instance held for arrears accrues nothing.
    """
    if instance.accrued_until is None:
        return 0
    released_at = instance.released_at
    released = released_at is not None and released_at <= until
    end = released_at if released_at is not None and released else until
    minutes = int((end - instance.accrued_until) // MINUTE)
    if released:
        instance.accrued_until = max(end, instance.accrued_until)
    elif minutes > 0:
        instance.accrued_until += minutes * MINUTE
    if minutes <= 0 or arrears.held(instance):
        return 0
    return minutes


def last_whole_hour(now: datetime) -> datetime:
    """The start of the hour ``now`` is in."""
    return now.replace(minute=0, second=0, microsecond=0)


def settle_hourly(session: Session, now: datetime) -> None:
    """Scheduler job: settle up to the last whole hour, once per hour across processes; hours
    missed since the last run (a clock advanced by hours, a process that slept) are settled
    one by one, in time order, so the ledger is the one hourly runs would have left (R166).
    """
    boundary = last_whole_hour(now)
    state = session.exec(
        select(SchedulerState).where(SchedulerState.name == HOURLY_JOB).with_for_update()
    ).first()
    if state is not None and state.until >= boundary:
        return
    hour = boundary if state is None else state.until + timedelta(hours=1)
    first = session.exec(select(func.min(Instance.accrued_until)).where(*_due(boundary))).one()
    # hours before the oldest unsettled usage have nothing to settle
    hour = max(hour, boundary if first is None else last_whole_hour(first) + timedelta(hours=1))
    while hour <= boundary:
        SETTLEMENT_RUNS.inc()
        settle(session=session, until=hour)
        hour += timedelta(hours=1)
    if state is None:
        state = SchedulerState(name=HOURLY_JOB, until=boundary)
    state.until = boundary
    session.add(state)
    session.flush()


MAX_TOP_UP = Decimal("10000000.00")


def top_up(
    *, session: Session, viewer: Viewer, account_id: str, amount: Decimal, now: datetime
) -> tuple[Account, LedgerEntry]:
    """Credit an account (administrators only, R82), record it as TOP_UP, and restart what
    arrears stopped once the balance is no longer negative.

    Raises:
        DomainError: PERMISSION_DENIED, INVALID_ACCOUNT for an unknown account, INVALID_INPUT
            for a bad amount.
    """
    require_admin(viewer)
    if not amount.is_finite() or amount != round_fen(amount) or not 0 < amount <= MAX_TOP_UP:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"A top-up is a positive amount of at most {MAX_TOP_UP} CNY with at most 2 decimals.",
            ("input", "amount"),
        )
    account = None
    if is_id(account_id, "acc"):
        account = accounts_service.lock_account(session=session, account_id=account_id)
    if account is None:
        raise not_found(ErrorCode.INVALID_ACCOUNT, "account", account_id, "accountId")
    entry = billing_service.post(
        session=session,
        account=account,
        kind=TransactionKind.TOP_UP,
        amount_minor=to_minor(amount),
        now=now,
    )
    arrears.restart_if_paid(session=session, account=account, now=now)
    return account, entry
