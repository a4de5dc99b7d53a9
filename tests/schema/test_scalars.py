"""Scalars with strict input rules: Decimal (money and rates) and BigInt (byte sizes)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from graphql import IntValueNode, StringValueNode

from schema.scalars import parse_bigint, parse_bigint_literal, parse_decimal


@pytest.mark.parametrize(
    ("text", "value"), [("12.30", "12.30"), ("0", "0"), ("0.000001", "0.000001")]
)
def test_plain_decimal_strings_are_accepted(text: str, value: str) -> None:
    assert parse_decimal(text) == Decimal(value)


@pytest.mark.parametrize(
    "bad",
    ["-5", "+5", "1E2", "1.", ".5", " 5", "1_000", "\u0661", "NaN", "1.0000001", 5, 5.0, None],
)
def test_anything_else_is_not_a_decimal(bad: object) -> None:
    with pytest.raises(ValueError, match="Decimal"):
        parse_decimal(bad)


@pytest.mark.parametrize(
    ("given", "value"), [("196768", 196768), (196768, 196768), ("-1", -1), (2**63 - 1, 2**63 - 1)]
)
def test_bigints_are_read_from_strings_or_integers(given: object, value: int) -> None:
    assert parse_bigint(given) == value


@pytest.mark.parametrize("bad", ["1.5", "", "0x10", " 1", 2**63, True, 1.0, None, "9" * 20])
def test_anything_else_is_not_a_bigint(bad: object) -> None:
    with pytest.raises(ValueError, match="BigInt"):
        parse_bigint(bad)


def test_bigint_literals_are_ints_or_strings() -> None:
    assert parse_bigint_literal(IntValueNode(value="42")) == 42
    assert parse_bigint_literal(StringValueNode(value="42")) == 42
