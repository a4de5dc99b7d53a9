"""Price book tables (seed data), the ledger, orders, and what each instance's share of an
order paid for (charge attribution).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from app.database import UTCDateTime


class RegionRate(SQLModel, table=True):
    """A per-unit rate in a region: CDS_PREMIUM / CDS_SSD per GB, WINDOWS_LICENSE per vCPU."""

    __tablename__ = "region_rate"

    region_code: str = Field(foreign_key="region.code", primary_key=True, max_length=8)
    item: str = Field(primary_key=True, max_length=32)
    per_hour_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    per_month_micros: int = Field(sa_column=Column(BigInteger, nullable=False))


class TermDiscount(SQLModel, table=True):
    """A prepaid term's discount factor on compute and disk, in millionths (0.83 -> 830000)."""

    __tablename__ = "term_discount"

    months: int = Field(primary_key=True)
    factor_micros: int


class PriceSetting(SQLModel, table=True):
    """A named platform pricing value from the price book (e.g. marketplace commission)."""

    __tablename__ = "price_setting"

    name: str = Field(primary_key=True, max_length=48)
    value: str = Field(max_length=32)


class LedgerEntry(SQLModel, table=True):
    """One append-only balance movement of an account, in fen; never edited or deleted."""

    __tablename__ = "ledger_entry"
    __table_args__ = (Index("ix_ledger_entry_account_created", "account_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=20)
    account_id: str = Field(foreign_key="account.id", max_length=16)
    kind: str = Field(max_length=24)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    balance_after_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    reference: str | None = Field(default=None, max_length=24)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Order(SQLModel, table=True):
    """What a prepaid purchase or a charge-adding rebuild cost; total in fen."""

    __tablename__ = "order"
    __table_args__ = (Index("ix_order_account_created", "account_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=16)
    account_id: str = Field(foreign_key="account.id", max_length=16)
    kind: str = Field(max_length=16)
    total_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class OrderLine(SQLModel, table=True):
    """One charge line of an order (kind, quantity, unit, unit price, amount)."""

    __tablename__ = "order_line"

    order_id: str = Field(foreign_key="order.id", primary_key=True, max_length=16)
    position: int = Field(primary_key=True)
    kind: str = Field(max_length=20)
    description: str = Field(max_length=200)
    quantity: str = Field(max_length=24)  # exact decimal text
    unit: str = Field(max_length=8)
    unit_price_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))


class OrderInstance(SQLModel, table=True):
    """Which instances an order paid for."""

    __tablename__ = "order_instance"

    order_id: str = Field(foreign_key="order.id", primary_key=True, max_length=16)
    instance_id: str = Field(foreign_key="instance.id", primary_key=True, max_length=16)


class ChargeShare(SQLModel, table=True):
    """One instance's share of one prepaid order line: what it paid for which kind of charge
    (and, for SOFTWARE, which listing earned it), over which part of the term.

    Refunds and provider reversals are computed from these rows, never from what the instance
    runs now. ``consumed_at`` marks a line the instance was rebuilt away from: it counts as
    fully used.
    """

    __tablename__ = "charge_share"
    __table_args__ = (Index("ix_charge_share_instance", "instance_id", "kind"),)

    id: str = Field(primary_key=True, max_length=20)
    instance_id: str = Field(foreign_key="instance.id", max_length=16)
    order_id: str = Field(foreign_key="order.id", max_length=16)
    kind: str = Field(max_length=20)
    listing_id: str | None = Field(default=None, foreign_key="listing.id", max_length=16)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    revenue_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    reversed_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    refunded_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    consumed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
