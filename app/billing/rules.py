"""Billing vocabulary and the pure refund rules (R74, R126)."""

from __future__ import annotations

import enum
import math
from datetime import datetime, timedelta
from decimal import Decimal

from app.money import from_minor, proportion_minor, round_fen, to_minor

#: a refund keeps one and a half times the days used
REFUND_PENALTY = Decimal("1.5")
DAY = timedelta(days=1)


class TransactionKind(enum.Enum):
    """What moved an account's balance (one ledger entry)."""

    TOP_UP = "TOP_UP"
    ORDER = "ORDER"
    USAGE = "USAGE"
    REFUND = "REFUND"
    PROVIDER_REVENUE = "PROVIDER_REVENUE"
    PROVIDER_REVERSAL = "PROVIDER_REVERSAL"


class OrderKind(enum.Enum):
    """What an order paid for."""

    NEW_INSTANCES = "NEW_INSTANCES"
    REBUILD = "REBUILD"


def covered_days(starts_at: datetime, ends_at: datetime) -> int:
    """Days a prepaid line covers, rounded up (at least 1)."""
    return max(1, math.ceil((ends_at - starts_at) / DAY))


def used_days(starts_at: datetime, now: datetime) -> int:
    """Days of a line used by ``now``, rounded up."""
    return max(0, math.ceil((now - starts_at) / DAY))


def line_refund_minor(
    amount_minor: int, starts_at: datetime, ends_at: datetime, now: datetime
) -> int:
    """What releasing an instance refunds of one line it paid for, in fen:
    max(0, line - usedDays x line / termDays x 1.5), rounded once to the fen, half up.
    """
    if amount_minor <= 0 or now >= ends_at:
        return 0
    line = from_minor(amount_minor)
    term = covered_days(starts_at, ends_at)
    refund = line - Decimal(used_days(starts_at, now)) * line / Decimal(term) * REFUND_PENALTY
    return to_minor(round_fen(refund)) if refund > 0 else 0


def reversal_minor(
    revenue_minor: int, reversed_minor: int, refund_minor: int, amount_minor: int
) -> int:
    """Provider revenue taken back when a SOFTWARE line is refunded: the line's revenue in the
    refund's proportion, rounded once, never more than what is left of the credit.
    """
    if amount_minor <= 0 or refund_minor <= 0 or revenue_minor <= 0:
        return 0
    due = proportion_minor(revenue_minor, refund_minor, amount_minor)
    return max(0, min(due, revenue_minor - reversed_minor))
