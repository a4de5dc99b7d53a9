"""Money: Decimal in Python, integer minor units in the database; the one place that rounds."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CURRENCY = "CNY"
FEN = Decimal("0.01")
RATE_SCALE = 1_000_000  # rates are stored as integers with 6 decimal places


def round_fen(amount: Decimal) -> Decimal:
    """Round an amount in CNY to the fen (0.01) with ROUND_HALF_UP; the only rounding of charges."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def money_json(minor: int) -> dict[str, str]:
    """Fen as a GraphQL client reads a Money value: ``{"amount": "12.34", "currency": "CNY"}``."""
    return {"amount": str(from_minor(minor)), "currency": CURRENCY}


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
    return display_rate(Decimal(stored) / RATE_SCALE)


def display_rate(rate: Decimal) -> Decimal:
    """Show a rate with 2 to 6 decimal places, without trailing zeros past the second."""
    places = min(6, max(2, -rate.normalize().as_tuple().exponent))  # type: ignore[operator]
    return rate.quantize(Decimal(1).scaleb(-places))


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


#: postpaid usage is counted exactly in units of 1/60,000,000 CNY: a rate in millionths of
#: a CNY per hour times whole minutes is an integer number of these units
USAGE_UNITS_PER_FEN = 600_000


def usage_units(minutes: int, hourly_micros: int) -> int:
    """Exact usage of ``minutes`` at an hourly rate given in millionths of a CNY."""
    return minutes * hourly_micros


def settle_units(units: int) -> tuple[int, int]:
    """Charge accrued usage: (fen, carried units), rounding once, half away from zero (as
    ROUND_HALF_UP does); nothing is lost. Integer arithmetic: settlement calls it for every
    charge line of every instance each hour.
    """
    whole, rest = divmod(abs(units), USAGE_UNITS_PER_FEN)
    if 2 * rest >= USAGE_UNITS_PER_FEN:
        whole += 1
    fen = whole if units >= 0 else -whole
    return fen, units - fen * USAGE_UNITS_PER_FEN


def round_rate(rate: Decimal) -> Decimal:
    """Quantize an effective unit price (e.g. after a term discount) to 6 places, half up."""
    return rate.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def allocate(total_minor: int, parts: int) -> list[int]:
    """Split fen into ``parts`` shares that differ by at most one fen and sum to the total."""
    base, extra = divmod(total_minor, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def split_micro(amount: Decimal, share_micros: int) -> Decimal:
    """``amount`` x share (a factor stored in millionths), rounded once to the fen, half up."""
    return round_fen(amount * Decimal(share_micros) / RATE_SCALE)


def proportion_minor(amount_minor: int, part: int, whole: int) -> int:
    """Amount x part / whole in fen, rounded once, half up (e.g. reversing revenue pro rata)."""
    return to_minor(round_fen(from_minor(amount_minor) * Decimal(part) / Decimal(whole)))
