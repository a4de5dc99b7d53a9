"""The ledger: every balance movement, appended once; the balance is their sum."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.models import Account
from app.billing.models import (
    LedgerEntry,
    Order,
    OrderInstance,
    OrderLine,
    PriceSetting,
    RegionRate,
    TermDiscount,
)
from app.billing.pricing import ChargeKind, ChargeLine, ChargeUnit, Rate
from app.billing.rules import OrderKind, TransactionKind
from app.database import grouped, saved
from app.ids import new_id
from app.money import from_minor, money_json, rate_from_int, rate_to_int, to_minor
from app.pagination import Page, PageRequest, newest_first
from app.platform.viewer import Viewer
from app.platform.visibility import by_ids, owned_by
from app.regions.models import FlavorPrice
from app.webhooks import outbox
from app.webhooks.rules import WebhookEventType


def post(
    *,
    session: Session,
    account: Account,
    kind: TransactionKind,
    amount_minor: int,
    now: datetime,
    reference: str | None = None,
) -> LedgerEntry:
    """Append one ledger entry (positive credits, negative debits) and move the balance with it.

    The caller holds the account row (``accounts.service.lock_account``) in this transaction.
    An entry that takes the balance below zero starts the account's arrears at ``now``; one
    that brings it back to zero or above ends them (R165, R192).
    """
    account.balance_minor += amount_minor
    account.in_arrears = account.balance_minor < 0
    if not account.in_arrears:
        account.arrears_since = None
    elif account.arrears_since is None:
        account.arrears_since = now
        data = {
            "account": {
                "id": account.id,
                "balance": money_json(account.balance_minor),
                "arrearsSince": now.isoformat(),
            }
        }
        outbox.emit(
            session=session,
            account_ids=[account.id],
            event=WebhookEventType.ACCOUNT_IN_ARREARS,
            data=data,
            now=now,
        )
    entry = LedgerEntry(
        id=new_id("txn"),
        account_id=account.id,
        kind=kind.value,
        amount_minor=amount_minor,
        balance_after_minor=account.balance_minor,
        reference=reference,
        created_at=now,
    )
    session.add(account)
    return saved(session, entry)


def ledger_sum(*, session: Session, account_id: str) -> int:
    """Return the sum of an account's ledger in fen (equals its balance, R74)."""
    stmt = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.account_id == account_id
    )
    return int(session.exec(stmt).one())


def get_price_setting(*, session: Session, name: str) -> str | None:
    """Return a price-book setting such as ``marketplaceCommission``."""
    row = session.get(PriceSetting, name)
    return row.value if row else None


def list_transactions(*, session: Session, account_id: str, page: PageRequest) -> Page[LedgerEntry]:
    """Return one keyset page of an account's ledger, newest first."""
    stmt = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    return newest_first(session, stmt, LedgerEntry, page)


@dataclass(frozen=True)
class PriceBook:
    """A region's rates from the price book (seed data)."""

    disk: dict[str, Rate]
    windows: Rate
    discounts: dict[int, Decimal]
    free_disk_gb: int

    def discount(self, months: int | None) -> Decimal:
        """The term discount factor for a prepaid term (1 when the term has none)."""
        return self.discounts.get(months or 0, Decimal(1))


def price_book(*, session: Session, region: str) -> PriceBook:
    """Load a region's rates, term discounts and the free system-disk allowance."""
    rates = {
        r.item: Rate(rate_from_int(r.per_hour_micros), rate_from_int(r.per_month_micros))
        for r in session.exec(select(RegionRate).where(RegionRate.region_code == region))
    }
    discounts = {
        d.months: rate_from_int(d.factor_micros) for d in session.exec(select(TermDiscount))
    }
    free = get_price_setting(session=session, name="freeSystemDiskGb")
    return PriceBook(
        disk={k: v for k, v in rates.items() if k.startswith("CDS_")},
        windows=rates.get("WINDOWS_LICENSE", Rate(Decimal(0), Decimal(0))),
        discounts=discounts,
        free_disk_gb=int(free) if free is not None else 40,
    )


def flavor_rate(price: FlavorPrice) -> tuple[Decimal, Decimal]:
    """A flavor's (per hour, per month) rate in a region."""
    return rate_from_int(price.per_hour_micros), rate_from_int(price.per_month_micros)


def format_minor(minor: int) -> str:
    """Fen as a CNY decimal string."""
    return str(from_minor(minor))


def create_order(
    *,
    session: Session,
    account: Account,
    kind: OrderKind,
    lines: Sequence[ChargeLine],
    instance_ids: Sequence[str],
    now: datetime,
) -> Order:
    """Record an order and take its total from the balance as one ORDER entry (R74)."""
    order = Order(
        id=new_id("ord"),
        account_id=account.id,
        kind=kind.value,
        total_minor=sum(to_minor(line.amount) for line in lines),
        created_at=now,
    )
    session.add(order)
    session.flush()
    for position, line in enumerate(lines):
        session.add(
            OrderLine(
                order_id=order.id,
                position=position,
                kind=line.kind.value,
                description=line.description,
                quantity=str(line.quantity),
                unit=line.unit.value,
                unit_price_micros=rate_to_int(line.unit_price),
                amount_minor=to_minor(line.amount),
            )
        )
    for instance_id in instance_ids:
        session.add(OrderInstance(order_id=order.id, instance_id=instance_id))
    post(
        session=session,
        account=account,
        kind=TransactionKind.ORDER,
        amount_minor=-order.total_minor,
        now=now,
        reference=order.id,
    )
    return order


def list_orders(*, session: Session, account_id: str, page: PageRequest) -> Page[Order]:
    """Return one keyset page of an account's orders, newest first."""
    stmt = select(Order).where(Order.account_id == account_id)
    return newest_first(session, stmt, Order, page)


def order_lines(*, session: Session, order_ids: Sequence[str]) -> dict[str, list[ChargeLine]]:
    """The lines of each order, in order."""
    stmt = (
        select(OrderLine)
        .where(col(OrderLine.order_id).in_(order_ids))
        .order_by(col(OrderLine.order_id), col(OrderLine.position))
    )
    return grouped(session, order_ids, stmt, lambda row: row.order_id, _charge_line)


def _charge_line(row: OrderLine) -> ChargeLine:
    return ChargeLine(
        kind=ChargeKind(row.kind),
        description=row.description,
        quantity=Decimal(row.quantity),
        unit=ChargeUnit(row.unit),
        unit_price=rate_from_int(row.unit_price_micros),
        amount=from_minor(row.amount_minor),
    )


def order_instance_ids(*, session: Session, order_ids: Sequence[str]) -> dict[str, list[str]]:
    """The instance ids each order paid for."""
    stmt = select(OrderInstance).where(col(OrderInstance.order_id).in_(order_ids))
    return grouped(session, order_ids, stmt, lambda row: row.order_id, lambda row: row.instance_id)


def list_orders_by_ids(*, session: Session, viewer: Viewer, ids: Sequence[str]) -> list[Order]:
    """Return the viewer's orders among these ids (any order, for admins)."""
    return by_ids(session, Order, ids, "ord", owned_by(viewer, Order.account_id))


def sum_entries(
    *,
    session: Session,
    account_id: str,
    kinds: Sequence[str],
    start: datetime | None,
    end: datetime | None,
) -> int:
    """Sum of an account's ledger entries of these kinds in [start, end), in fen."""
    stmt = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.account_id == account_id, col(LedgerEntry.kind).in_(kinds)
    )
    if start is not None:
        stmt = stmt.where(col(LedgerEntry.created_at) >= start)
    if end is not None:
        stmt = stmt.where(col(LedgerEntry.created_at) < end)
    return int(session.exec(stmt).one())
