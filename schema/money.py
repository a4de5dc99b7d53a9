"""Money as a decimal string with a currency code: never a float."""

from __future__ import annotations

import enum
from decimal import Decimal

import strawberry

from app.money import from_minor, rate_from_int


@strawberry.enum(description="ISO 4217 currency code.")
class CurrencyCode(enum.Enum):
    CNY = "CNY"


@strawberry.type(
    description='An amount of money: a decimal string such as "12.30" and its currency.'
)
class Money:
    amount: Decimal = strawberry.field(description="Exact decimal amount, serialized as a string.")
    currency: CurrencyCode = strawberry.field(description="Currency of the amount.")

    @classmethod
    def of_minor(cls, minor: int) -> Money:
        """Build from integer fen."""
        return cls(amount=from_minor(minor), currency=CurrencyCode.CNY)

    @classmethod
    def of_rate(cls, micros: int) -> Money:
        """Build from a rate stored in millionths (up to 6 decimals)."""
        return cls(amount=rate_from_int(micros), currency=CurrencyCode.CNY)
