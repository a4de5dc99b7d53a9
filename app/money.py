"""Money: Decimal in Python, integer minor units in the database; the one place that rounds."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CURRENCY = "CNY"
FEN = Decimal("0.01")
RATE_SCALE = 1_000_000  # rates are stored as integers with 6 decimal places


def round_fen(amount: Decimal) -> Decimal:
    """Round an amount in CNY to the fen (0.01) with ROUND_HALF_UP; the only rounding of charges."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def to_minor(amount: Decimal) -> int:
    """Convert a CNY amount with at most 2 decimals to integer fen; refuses sub-fen precision."""
    minor = amount * 100
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} has more precision than a fen")
    return int(minor)


def from_minor(minor: int) -> Decimal:
    """Convert integer fen to a CNY Decimal with two places."""
    return (Decimal(minor) / 100).quantize(FEN)


def rate_to_int(rate: Decimal) -> int:
    """Store a rate (at most 6 decimals) as an integer of millionths."""
    scaled = rate * RATE_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"rate {rate} has more than 6 decimal places")
    return int(scaled)


def rate_from_int(stored: int) -> Decimal:
    """Read a rate stored as millionths: 2 to 6 places, no trailing zeros past the second."""
    exact = Decimal(stored) / RATE_SCALE
    places = max(2, -exact.normalize().as_tuple().exponent)  # type: ignore[operator]
    return exact.quantize(Decimal(1).scaleb(-places))


def parse_amount(text: str) -> Decimal:
    """Parse a user-given CNY amount: a finite decimal with at most two places."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"{text!r} is not a decimal amount") from exc
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite amount")
    if value != value.quantize(FEN, rounding=ROUND_HALF_UP):
        raise ValueError(f"{text!r} has more than two decimal places")
    return value.quantize(FEN)


@dataclass(frozen=True)
class Money:
    """An amount of a currency; amounts are exact Decimals."""

    amount: Decimal
    currency: str = CURRENCY

    @classmethod
    def from_minor(cls, minor: int, currency: str = CURRENCY) -> Money:
        """Build from integer minor units (fen)."""
        return cls(from_minor(minor), currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError("cannot add amounts of different currencies")
        return Money(self.amount + other.amount, self.currency)
