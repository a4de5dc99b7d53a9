"""Marketplace rules (pure): listing text, plans, states, and which plan a launch uses."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.billing.pricing import PREPAID_TERMS, SoftwarePlan, Timing
from app.errors import DomainError, ErrorCode

MAX_PLANS = 12
MAX_PLAN_PRICE = Decimal("1000000")
TEXT_LIMITS = {"title": 100, "summary": 2000, "category": 40, "version": 40}


class ListingKind(enum.Enum):
    """MARKET (third-party software, prepaid only) or INTEGRATION (service integration)."""

    MARKET = "MARKET"
    INTEGRATION = "INTEGRATION"


class ListingStatus(enum.Enum):
    """Listing lifecycle (R66)."""

    DRAFT = "DRAFT"
    PENDING_REVIEW = "PENDING_REVIEW"
    PUBLISHED = "PUBLISHED"
    REJECTED = "REJECTED"
    DELISTED = "DELISTED"


EDITABLE = frozenset({ListingStatus.DRAFT, ListingStatus.REJECTED})


@dataclass(frozen=True)
class Plan:
    """A listing plan: PREPAID for ``months`` at ``price`` per instance, or POSTPAID at
    ``price`` per instance-hour; price 0 is free.
    """

    timing: Timing
    months: int | None
    price: Decimal


def _plan_field(index: int, name: str | None = None) -> tuple[str, ...]:
    path = ("input", "plans", str(index))
    return (*path, name) if name else path


def price_problem(plan: Plan) -> str | None:
    """What is wrong with a plan's price: 0 to 1,000,000 CNY, with at most 2 decimals for a
    prepaid plan (a price paid once, to the fen) and 6 for an hourly one (R129).
    """
    places = 2 if plan.timing is Timing.PREPAID else 6
    if (
        not plan.price.is_finite()
        or not 0 <= plan.price <= MAX_PLAN_PRICE
        or plan.price != plan.price.quantize(Decimal(1).scaleb(-places))
    ):
        kind = "Prepaid" if plan.timing is Timing.PREPAID else "Hourly"
        return f"{kind} plan prices are 0 to 1000000 CNY with at most {places} decimals."
    return None


def plan_problems(kind: ListingKind, plans: Sequence[Plan]) -> list[DomainError]:
    """Check a listing's plans (R68): MARKET prepaid only, terms from the allowed set, no
    duplicates, prices 0 to 1,000,000 (prepaid to the fen, hourly with at most 6 decimals;
    MARKET prices above 0).
    """
    problems: list[DomainError] = []
    if not plans:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT, "A listing needs at least one plan.", ("input", "plans")
            )
        )
    if len(plans) > MAX_PLANS:
        problems.append(
            DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_PLANS} plans.", ("input", "plans"))
        )
    seen: set[tuple[Timing, int | None]] = set()
    for index, plan in enumerate(plans):
        problem = price_problem(plan)
        if problem is not None:
            problems.append(
                DomainError(ErrorCode.INVALID_INPUT, problem, _plan_field(index, "price"))
            )
        if plan.timing is Timing.PREPAID and plan.months not in PREPAID_TERMS:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_TERM,
                    "Prepaid plans are for 1-9, 12, 24 or 36 months.",
                    _plan_field(index, "months"),
                )
            )
        if plan.timing is Timing.POSTPAID and plan.months is not None:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_INPUT,
                    "Hourly and free plans take no months.",
                    _plan_field(index, "months"),
                )
            )
        if kind is ListingKind.MARKET and plan.timing is not Timing.PREPAID:
            problems.append(
                DomainError(
                    ErrorCode.MARKET_IMAGE_POSTPAID_UNSUPPORTED,
                    "MARKET listings have prepaid plans only.",
                    _plan_field(index, "timing"),
                )
            )
        if kind is ListingKind.MARKET and plan.price <= 0:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_INPUT,
                    "MARKET plans have a price above 0.",
                    _plan_field(index, "price"),
                )
            )
        key = (plan.timing, plan.months)
        if key in seen:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_INPUT, "Two plans for the same term.", _plan_field(index)
                )
            )
        seen.add(key)
    return problems


def text_problems(values: dict[str, str | None]) -> list[DomainError]:
    """Title, category and version are 1 to N characters; the summary may be empty."""
    problems = []
    for name, value in values.items():
        if value is None:
            continue
        limit = TEXT_LIMITS[name]
        lowest = 0 if name == "summary" else 1
        if not lowest <= len(value.strip()) <= limit or len(value) > limit:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"{name} is {lowest} to {limit} characters.",
                    ("input", name),
                )
            )
    return problems


def select_plan(
    kind: ListingKind, title: str, plans: Sequence[Plan], timing: Timing, months: int | None
) -> SoftwarePlan | None:
    """The plan a launch (or rebuild) with this billing uses; None when it is free (R68).

    Raises:
        DomainError: MARKET_IMAGE_POSTPAID_UNSUPPORTED, PLAN_TERM_NOT_OFFERED.
    """
    billing = ("input", "billing")
    if kind is ListingKind.MARKET and timing is Timing.POSTPAID:
        raise DomainError(
            ErrorCode.MARKET_IMAGE_POSTPAID_UNSUPPORTED,
            f"{title} is a marketplace image: it is sold prepaid only.",
            (*billing, "timing"),
        )
    if timing is Timing.PREPAID:
        match = next((p for p in plans if p.timing is Timing.PREPAID and p.months == months), None)
    else:
        match = next((p for p in plans if p.timing is Timing.POSTPAID), None)
    if match is None:
        free = next((p for p in plans if p.price == 0 and p.timing is Timing.POSTPAID), None)
        if free is not None and kind is ListingKind.INTEGRATION:
            return None
        offered = sorted(p.months for p in plans if p.timing is Timing.PREPAID and p.months)
        terms = ", ".join(str(m) for m in offered) or "none"
        raise DomainError(
            ErrorCode.PLAN_TERM_NOT_OFFERED,
            f"{title} is not offered for this billing; prepaid terms offered: {terms} months.",
            (*billing, "months" if timing is Timing.PREPAID else "timing"),
        )
    if match.price == 0:
        return None
    label = f"{title}, {match.months} months" if match.months else f"{title}, per hour"
    return SoftwarePlan(timing=match.timing, months=match.months, price=match.price, title=label)
