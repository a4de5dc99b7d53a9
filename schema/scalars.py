"""Scalars with strict input rules."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from graphql import StringValueNode, ValueNode
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

#: the scalar map of the schema's configuration
SCALARS: dict[object, ScalarDefinition] = {Decimal: DECIMAL}
