"""Pure marketplace rules: plans (R68) and which plan a launch pays."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.billing.pricing import SoftwarePlan, Timing
from app.errors import DomainError, ErrorCode
from app.marketplace.rules import ListingKind, Plan, plan_problems, select_plan, text_problems

PRE, POST = Timing.PREPAID, Timing.POSTPAID
MARKET_PLANS = [Plan(PRE, 1, Decimal("300")), Plan(PRE, 12, Decimal("3000"))]


def _codes(problems: list[DomainError]) -> list[tuple[ErrorCode, tuple[str, ...] | None]]:
    return [(p.code, p.field) for p in problems]


@pytest.mark.parametrize(
    ("kind", "plans", "expected"),
    [
        (ListingKind.MARKET, MARKET_PLANS, []),
        (ListingKind.MARKET, [], [(ErrorCode.INVALID_INPUT, ("input", "plans"))]),
        (
            ListingKind.MARKET,
            [Plan(POST, None, Decimal("1"))],
            [(ErrorCode.MARKET_IMAGE_POSTPAID_UNSUPPORTED, ("input", "plans", "0", "timing"))],
        ),
        (
            ListingKind.MARKET,
            [Plan(PRE, 1, Decimal(0))],
            [(ErrorCode.INVALID_INPUT, ("input", "plans", "0", "price"))],
        ),
        (
            ListingKind.MARKET,
            [Plan(PRE, 10, Decimal(5))],
            [(ErrorCode.INVALID_TERM, ("input", "plans", "0", "months"))],
        ),
        (
            ListingKind.INTEGRATION,
            [Plan(POST, None, Decimal(0)), Plan(POST, None, Decimal("0.5"))],
            [(ErrorCode.INVALID_INPUT, ("input", "plans", "1"))],
        ),
        (
            ListingKind.INTEGRATION,
            [Plan(POST, 3, Decimal(1))],
            [(ErrorCode.INVALID_INPUT, ("input", "plans", "0", "months"))],
        ),
        (
            ListingKind.INTEGRATION,
            [Plan(POST, None, Decimal("0.0000001"))],
            [(ErrorCode.INVALID_INPUT, ("input", "plans", "0", "price"))],
        ),
        (ListingKind.INTEGRATION, [Plan(POST, None, Decimal(0)), Plan(PRE, 12, Decimal(99))], []),
    ],
    ids=[
        "ok",
        "none",
        "market-hourly",
        "market-free",
        "bad-term",
        "two-hourly",
        "hourly-months",
        "sub-micro",
        "integration-mix",
    ],
)
def test_plan_problems(kind: ListingKind, plans: list[Plan], expected: list[object]) -> None:
    assert _codes(plan_problems(kind, plans)) == expected


def test_market_launch_uses_the_plan_of_its_term() -> None:
    plan = select_plan(ListingKind.MARKET, "WAF", MARKET_PLANS, PRE, 12)
    assert plan == SoftwarePlan(PRE, 12, Decimal("3000"), "WAF, 12 months")


@pytest.mark.parametrize(
    ("timing", "months", "code"),
    [
        (POST, None, ErrorCode.MARKET_IMAGE_POSTPAID_UNSUPPORTED),
        (PRE, 3, ErrorCode.PLAN_TERM_NOT_OFFERED),
    ],
)
def test_market_refusals(timing: Timing, months: int | None, code: ErrorCode) -> None:
    with pytest.raises(DomainError) as caught:
        select_plan(ListingKind.MARKET, "WAF", MARKET_PLANS, timing, months)
    assert caught.value.code is code


def test_integration_free_hourly_and_prepaid() -> None:
    free = [Plan(POST, None, Decimal(0))]
    assert select_plan(ListingKind.INTEGRATION, "LAMP", free, POST, None) is None
    assert (
        select_plan(ListingKind.INTEGRATION, "LAMP", free, PRE, 6) is None
    )  # free whatever the billing
    hourly = [Plan(POST, None, Decimal("0.05")), Plan(PRE, 12, Decimal("300"))]
    assert select_plan(ListingKind.INTEGRATION, "DB", hourly, POST, None) == SoftwarePlan(
        POST, None, Decimal("0.05"), "DB, per hour"
    )
    assert select_plan(ListingKind.INTEGRATION, "DB", hourly, PRE, 12) == SoftwarePlan(
        PRE, 12, Decimal("300"), "DB, 12 months"
    )
    with pytest.raises(DomainError) as caught:
        select_plan(ListingKind.INTEGRATION, "DB", hourly, PRE, 1)
    assert caught.value.code is ErrorCode.PLAN_TERM_NOT_OFFERED


def test_text_limits() -> None:
    assert text_problems({"title": "ok", "summary": "", "category": "db", "version": "1"}) == []
    assert _codes(text_problems({"title": " ", "version": "v" * 41})) == [
        (ErrorCode.INVALID_INPUT, ("input", "title")),
        (ErrorCode.INVALID_INPUT, ("input", "version")),
    ]


@pytest.mark.parametrize(
    ("plan", "refused"),
    [
        (
            Plan(PRE, 1, Decimal("0.005")),
            "Prepaid plan prices are 0 to 1000000 CNY with at most 2 decimals.",
        ),
        (
            Plan(PRE, 1, Decimal("199.999")),
            "Prepaid plan prices are 0 to 1000000 CNY with at most 2 decimals.",
        ),
        (Plan(PRE, 1, Decimal("199.99")), None),
        (Plan(POST, None, Decimal("0.005")), None),
        (
            Plan(POST, None, Decimal("0.0000005")),
            "Hourly plan prices are 0 to 1000000 CNY with at most 6 decimals.",
        ),
    ],
)
def test_prepaid_plan_prices_are_to_the_fen_and_hourly_ones_to_six_places(
    plan: Plan, refused: str | None
) -> None:
    """R129 (issue 24): a prepaid price of 0.005 was accepted, and the provider was then
    credited 100 % of a line rounded up to 0.01."""
    problems = plan_problems(ListingKind.INTEGRATION, [plan])
    assert [(p.message, p.field) for p in problems] == (
        [] if refused is None else [(refused, ("input", "plans", "0", "price"))]
    )
