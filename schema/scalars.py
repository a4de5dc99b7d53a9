"""Scalars with strict input rules."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, NewType

from graphql import IntValueNode, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition, scalar

#: a plain ASCII decimal: digits, optionally a point and 1 to 6 more digits (no sign, exponent,
#: spaces, underscores or other scripts' digits)
DECIMAL_TEXT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?", re.ASCII)


def parse_decimal(value: Any) -> Decimal:
    """A Decimal input: a JSON string of ASCII digits with at most 6 decimals."""
    if not isinstance(value, str) or DECIMAL_TEXT.fullmatch(value) is None:
        raise ValueError(
            'Decimal values are strings of digits with at most 6 decimals, such as "12.30".'
        )
    return Decimal(value)


def parse_decimal_literal(node: ValueNode, variables: Any = None) -> Decimal:
    """A Decimal written in the document: a string literal only."""
    if not isinstance(node, StringValueNode):
        raise ValueError('Decimal values are quoted strings, such as "12.30".')
    return parse_decimal(node.value)


DECIMAL: ScalarDefinition = scalar(
    name="Decimal",
    description=(
        'An exact decimal number as a string of ASCII digits, such as "12.30" (amounts of '
        "money have at most 2 decimals, hourly rates at most 6); never a JSON number."
    ),
    serialize=str,
    parse_value=parse_decimal,
    parse_literal=parse_decimal_literal,
)

BigInt = NewType("BigInt", int)
#: the largest value a BigInt carries (signed 64 bits)
BIGINT_MAX = 2**63 - 1


def parse_bigint(value: Any) -> int:
    """A BigInt input: a JSON integer or a string of ASCII digits, within 64 bits."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("BigInt values are integers, or strings of digits.")
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value, re.ASCII) is None:
        raise ValueError("BigInt values are integers, or strings of digits.")
    number = int(value)
    if not -BIGINT_MAX - 1 <= number <= BIGINT_MAX:
        raise ValueError("BigInt values fit in 64 bits.")
    return number


def parse_bigint_literal(node: ValueNode, variables: Any = None) -> int:
    """A BigInt written in the document: an Int or a string literal."""
    if not isinstance(node, StringValueNode | IntValueNode):
        raise ValueError("BigInt values are integers, or strings of digits.")
    return parse_bigint(node.value if isinstance(node, StringValueNode) else int(node.value))


BIGINT: ScalarDefinition = scalar(
    name="BigInt",
    description=(
        "An integer of up to 64 bits, such as a size in bytes, written as a string of digits "
        '("196768") so that every client reads it exactly; accepted as a string or an Int.'
    ),
    serialize=str,
    parse_value=parse_bigint,
    parse_literal=parse_bigint_literal,
)

#: the scalar map of the schema's configuration
SCALARS: dict[object, ScalarDefinition] = {Decimal: DECIMAL, BigInt: BIGINT}
