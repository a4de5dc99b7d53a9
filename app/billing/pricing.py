"""What instances cost (SPEC §6.1, R71): pure functions over Decimal rates.

Units: rates are CNY per hour or per month with at most 6 decimals; each line's amount is
quantity x unit price rounded once to the fen, half up (app.money.round_fen); a total is the
sum of rounded lines. POSTPAID lines cover one hour of the whole batch, PREPAID lines the whole
term; marketplace plan prices are never discounted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from app.money import round_fen, round_rate

PREPAID_TERMS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 24, 36})


class ChargeKind(enum.Enum):
    """Line item kinds (R71)."""

    COMPUTE = "COMPUTE"
    SYSTEM_DISK = "SYSTEM_DISK"
    WINDOWS_LICENSE = "WINDOWS_LICENSE"
    SOFTWARE = "SOFTWARE"


class ChargeUnit(enum.Enum):
    """What one unit of a line's quantity is."""

    HOUR = "HOUR"
    DAY = "DAY"
    MONTH = "MONTH"
    TERM = "TERM"


class Timing(enum.Enum):
    """PREPAID (a term paid up front) or POSTPAID (hourly usage)."""

    PREPAID = "PREPAID"
    POSTPAID = "POSTPAID"


@dataclass(frozen=True)
class Rate:
    """A price per hour and per month, in CNY."""

    per_hour: Decimal
    per_month: Decimal


@dataclass(frozen=True)
class SoftwarePlan:
    """A listing's plan: PREPAID with months and a price per instance per term, or POSTPAID
    with a price per instance-hour; a zero price is free.
    """

    timing: Timing
    months: int | None
    price: Decimal
    title: str = "software"


@dataclass(frozen=True)
class PriceInput:
    """Everything a quote depends on, already looked up."""

    flavor_name: str
    vcpus: int
    generation: str
    flavor_rate: Rate
    storage_type: str
    disk_gb: int
    disk_rate: Rate | None  # None for LOCAL_SSD (included in the flavor)
    windows: bool
    windows_rate: Rate
    software: SoftwarePlan | None
    timing: Timing
    months: int | None
    count: int
    term_discount: Decimal  # 1 for terms without a discount
    free_disk_gb: int = 40


@dataclass(frozen=True)
class ChargeLine:
    """quantity x unit_price = amount (rounded once to the fen)."""

    kind: ChargeKind
    description: str
    quantity: Decimal
    unit: ChargeUnit
    unit_price: Decimal
    amount: Decimal


def _line(
    kind: ChargeKind, description: str, quantity: int, unit: ChargeUnit, unit_price: Decimal
) -> ChargeLine:
    q = Decimal(quantity)
    return ChargeLine(kind, description, q, unit, unit_price, round_fen(q * unit_price))


def quote_lines(p: PriceInput) -> list[ChargeLine]:
    """Return the charge lines of a batch of ``count`` identical instances."""
    prepaid = p.timing is Timing.PREPAID
    months = p.months or 0
    per = months if prepaid else 1  # unit-periods per instance
    unit = ChargeUnit.MONTH if prepaid else ChargeUnit.HOUR
    discount = p.term_discount if prepaid else Decimal(1)
    lines = [
        _line(
            ChargeKind.COMPUTE,
            f"{p.flavor_name} x {p.count}" + (f", {months} months" if prepaid else ", per hour"),
            p.count * per,
            unit,
            round_rate((p.flavor_rate.per_month if prepaid else p.flavor_rate.per_hour) * discount),
        )
    ]
    extra_gb = max(0, p.disk_gb - p.free_disk_gb)
    if p.disk_rate is not None and extra_gb > 0:
        rate = p.disk_rate.per_month if prepaid else p.disk_rate.per_hour
        lines.append(
            _line(
                ChargeKind.SYSTEM_DISK,
                f"{p.storage_type} system disk, {extra_gb} GB above {p.free_disk_gb} GB",
                extra_gb * p.count * per,
                unit,
                round_rate(rate * discount),
            )
        )
    if p.windows and p.generation == "BCC":
        rate = p.windows_rate.per_month if prepaid else p.windows_rate.per_hour
        lines.append(
            _line(
                ChargeKind.WINDOWS_LICENSE,
                f"Windows Server licence, {p.vcpus} vCPUs",
                p.vcpus * p.count * per,
                unit,
                rate,
            )
        )
    if p.software is not None and p.software.price > 0:
        plan = p.software
        plan_unit = ChargeUnit.TERM if plan.timing is Timing.PREPAID else ChargeUnit.HOUR
        lines.append(_line(ChargeKind.SOFTWARE, plan.title, p.count, plan_unit, plan.price))
    return lines


def total(lines: list[ChargeLine]) -> Decimal:
    """Sum of the (already rounded) line amounts."""
    return sum((line.amount for line in lines), Decimal("0.00"))


def hourly_rates(lines: list[ChargeLine], count: int) -> dict[ChargeKind, int]:
    """Exact postpaid rates of ONE instance, line by line, in millionths of a CNY per hour
    (unrounded).
    """
    rates = {}
    for line in lines:
        micros = line.quantity * line.unit_price / count * 1_000_000
        if micros != micros.to_integral_value():
            raise ValueError("an hourly rate is not a whole number of millionths")
        rates[line.kind] = int(micros)
    return rates


def prorated(line: ChargeLine, remaining_days: int, term_days: int) -> ChargeLine:
    """A prepaid line for one instance's whole term, charged for the days left (R72).

    unit price = the line's exact term amount / term days (6 places, half up);
    amount = remaining days x unit price, rounded once to the fen.
    """
    per_day = round_rate(line.quantity * line.unit_price / Decimal(term_days))
    days = Decimal(remaining_days)
    return ChargeLine(
        line.kind,
        f"{line.description}; {remaining_days} of {term_days} days left in the term",
        days,
        ChargeUnit.DAY,
        per_day,
        round_fen(days * per_day),
    )
