"""app.money: the one rounding rule and the integer representations."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.money import (
    USAGE_UNITS_PER_FEN,
    from_minor,
    parse_amount,
    rate_from_int,
    rate_to_int,
    round_fen,
    settle_units,
    to_minor,
)


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [
        ("0.005", "0.01"),
        ("0.004999", "0.00"),
        ("1.115", "1.12"),
        ("2.225", "2.23"),
        ("-0.005", "-0.01"),
        ("10", "10.00"),
    ],
    ids=["half_up", "below_half", "half_up_odd", "half_up_even", "negative_half", "integer"],
)
def test_round_fen_is_half_up(amount: str, rounded: str) -> None:
    assert str(round_fen(Decimal(amount))) == rounded


def test_minor_units_round_trip() -> None:
    assert to_minor(Decimal("12.30")) == 1230
    assert from_minor(1230) == Decimal("12.30")
    assert str(from_minor(-5)) == "-0.05"


def test_to_minor_refuses_sub_fen_amounts() -> None:
    with pytest.raises(ValueError, match="more precision than a fen"):
        to_minor(Decimal("0.001"))


@pytest.mark.parametrize(
    ("rate", "shown"),
    [("0.420000", "0.42"), ("0.000417", "0.000417"), ("211.68", "211.68"), ("3", "3.00")],
)
def test_rates_keep_up_to_six_places(rate: str, shown: str) -> None:
    assert str(rate_from_int(rate_to_int(Decimal(rate)))) == shown


def test_rate_with_seven_places_is_refused() -> None:
    with pytest.raises(ValueError, match="more than 6 decimal places"):
        rate_to_int(Decimal("0.0000001"))


@pytest.mark.parametrize("text", ["abc", "1.234", "NaN", "Infinity", ""])
def test_parse_amount_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a decimal amount|not a finite amount|two decimal"):
        parse_amount(text)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_settling_usage_rounds_each_amount_once_half_away_from_zero(units: int) -> None:
    """settle_units (integer arithmetic) is round_fen of the exact CNY amount (R167)."""
    fen, carried = settle_units(units)
    exact = Decimal(units) / (USAGE_UNITS_PER_FEN * 100)
    assert from_minor(fen) == round_fen(exact)
    assert fen * USAGE_UNITS_PER_FEN + carried == units
    assert 2 * abs(carried) <= USAGE_UNITS_PER_FEN


def test_half_a_fen_is_rounded_away_from_zero() -> None:
    half = USAGE_UNITS_PER_FEN // 2
    assert settle_units(half) == (1, -half)
    assert settle_units(-half) == (-1, half)
    assert settle_units(half - 1) == (0, half - 1)
