"""Postpaid usage: accrued per minute, settled hourly, the fraction of a fen each charge line
has used but not been charged carried on that line (R74, R167, R191).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, bindparam, func, or_, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.accounts.permissions import require_admin
from app.billing import service as billing_service
from app.billing.models import LedgerEntry
from app.billing.pricing import ChargeKind, SoftwarePlan, Timing
from app.billing.rules import TransactionKind
from app.errors import DomainError, ErrorCode, not_found
from app.ids import is_id
from app.instances.models import Instance, InstanceRate
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
    owners = select(Instance.owner_id).where(*due).distinct()
    providers = (
        select(Listing.provider_id)
        .distinct()
        .join(InstanceRate, col(InstanceRate.listing_id) == col(Listing.id))
        .join(Instance, col(Instance.id) == col(InstanceRate.instance_id))
        .where(*due)
    )
    accounts = accounts_service.lock_accounts(
        session=session, account_ids=set(session.exec(owners)) | set(session.exec(providers))
    )
    stmt = (
        sa.select(*DUE_COLUMNS)
        .where(*due)
        .order_by(col(Instance.owner_id), col(Instance.id))
        .with_for_update()
    )
    by_account: dict[str, list[Due]] = defaultdict(list)
    dues = {}
    for row in session.execute(stmt):
        dues[row.id] = Due.of(row)
        by_account[row.owner_id].append(dues[row.id])
    _read_lines(session, select(Instance.id).where(*due), dues)
    entries = []
    for owner_id in sorted(by_account):
        entry = settle_account(session, accounts[owner_id], by_account[owner_id], until)
        if entry is not None:
            entries.append(entry)
    _store(session, list(dues.values()))
    session.flush()
    return entries


def settle_instance(
    session: Session, account: Account, instance: Instance, until: datetime
) -> None:
    """Settle one (locked) instance of a locked account up to ``until`` (a rebuild does,
    before its image lines change): its usage so far is charged at the rates it ran at.
    """
    due = Due.of(instance)
    _read_lines(session, select(Instance.id).where(col(Instance.id) == instance.id), {due.id: due})
    settle_account(session, account, [due], until)
    _store(session, [due])
    instance.accrued_until = due.accrued_until  # as stored


#: what settlement reads of a due instance
DUE_COLUMNS = (
    col(Instance.id),
    col(Instance.owner_id),
    col(Instance.accrued_until),
    col(Instance.released_at),
    col(Instance.status_reason),
    col(Instance.release_reason),
)


@dataclass
class Line:
    """One charge line of a due instance, as settlement reads and moves it."""

    kind: str
    listing_id: str | None
    hourly_micros: int
    carry: int
    moved: bool = False  # its carry changed


@dataclass
class Due:
    """A postpaid instance with usage to settle, as settlement reads and moves it."""

    id: str
    accrued_until: datetime | None
    released_at: datetime | None
    held: bool  # held for arrears: accrues nothing
    lines: list[Line] = field(default_factory=list)

    @staticmethod
    def of(row: Any) -> Due:
        """A due instance from its row (or the instance itself)."""
        held = arrears.is_held(row.status_reason, row.release_reason)
        return Due(row.id, row.accrued_until, row.released_at, held)

    def accrue(self, until: datetime) -> int:
        """Advance the accrual to ``until`` (whole minutes); returns the minutes to charge.
        A released instance is settled once, up to its release (the whole minutes before
        it), and never again; an instance held for arrears accrues nothing.
        """
        if self.accrued_until is None:
            return 0
        released = self.released_at is not None and self.released_at <= until
        end = self.released_at if self.released_at is not None and released else until
        minutes = int((end - self.accrued_until) // MINUTE)
        if released:
            self.accrued_until = max(end, self.accrued_until)
        elif minutes > 0:
            self.accrued_until += minutes * MINUTE
        return 0 if minutes <= 0 or self.held else minutes


def _read_lines(session: Session, instance_ids: SelectOfScalar[str], dues: dict[str, Due]) -> None:
    """Read the charge lines of these due instances, locked (after their instances)."""
    rate = InstanceRate
    stmt = (
        sa.select(
            col(rate.instance_id),
            col(rate.kind),
            col(rate.listing_id),
            col(rate.hourly_micros),
            col(rate.carry),
        )
        .where(col(rate.instance_id).in_(instance_ids))
        .order_by(col(rate.instance_id), col(rate.kind))
        .with_for_update()
    )
    for instance_id, kind, listing_id, micros, carry in session.execute(stmt):
        dues[instance_id].lines.append(Line(kind, listing_id, micros, carry))


def settle_account(
    session: Session, account: Account, dues: list[Due], until: datetime
) -> LedgerEntry | None:
    """Settle these instances of one account (the account and they locked) up to ``until``;
    the caller stores how far they were accrued and what their lines carry (``_store``).

    Each charge line adds its minutes at its own rate to its own carry and is charged that
    carry rounded to the fen, half away from zero; the rest stays in the carry. The account
    is charged the sum of its lines in one USAGE entry, and each listing is credited its
    share of the software run under it. A line that used nothing is not rounded again.
    """
    software: dict[str, SoftwareUsage] = {}
    charged = 0
    for due in dues:
        minutes = due.accrue(until)
        for line in due.lines if minutes > 0 else ():
            if not line.hourly_micros:
                continue
            units = usage_units(minutes, line.hourly_micros)
            fen, carry = settle_units(line.carry + units)
            line.moved, line.carry = carry != line.carry, carry
            charged += fen
            if line.kind == ChargeKind.SOFTWARE.value and line.listing_id is not None:
                used = SoftwareUsage.of(due.id, line, units)
                known = software.get(line.listing_id)
                software[line.listing_id] = used if known is None else known.plus(used)
    for usage in software.values():
        usage.credit(session, account.id, until)
    if not charged:
        return None
    entry = billing_service.post(
        session=session,
        account=account,
        kind=TransactionKind.USAGE,
        amount_minor=-charged,
        now=until,
    )
    arrears.stop_for_arrears(session=session, account=account)
    return entry


def _store(session: Session, dues: list[Due]) -> None:
    """Write how far each instance is accrued and what each line carries (one statement
    each for all of them: settlement moves thousands of rows an hour).
    """
    instance, rate = Instance.__table__, InstanceRate.__table__  # type: ignore[attr-defined]
    accrued = [{"b_id": d.id, "b_until": d.accrued_until} for d in dues]
    if accrued:
        session.execute(
            update(instance)
            .where(instance.c.id == bindparam("b_id"))
            .values(accrued_until=bindparam("b_until")),
            accrued,
        )
    carried = [
        {"b_id": d.id, "b_kind": line.kind, "b_carry": line.carry}
        for d in dues
        for line in d.lines
        if line.moved
    ]
    if carried:
        session.execute(
            update(rate)
            .where(rate.c.instance_id == bindparam("b_id"), rate.c.kind == bindparam("b_kind"))
            .values(carry=bindparam("b_carry")),
            carried,
        )


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

    @staticmethod
    def of(instance_id: str, line: Line, units: int) -> SoftwareUsage:
        """The usage of one instance's SOFTWARE line."""
        assert line.listing_id is not None
        plan = SoftwarePlan(Timing.POSTPAID, None, rate_from_int(line.hourly_micros))
        return SoftwareUsage(line.listing_id, units, (instance_id,), plan)

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
