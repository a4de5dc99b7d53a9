"""Pure instance rules: refunds (R74), terms, launch checks (R50, R51)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.billing.pricing import Timing
from app.errors import ErrorCode
from app.instances.rules import (
    ImageFacts,
    LaunchRequest,
    add_months,
    batch_problems,
    image_problems,
    prorated_days,
    refund_minor,
)

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("months", "expected"),
    [
        (1, datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
        (12, datetime(2027, 1, 31, 12, 0, tzinfo=UTC)),
        (13, datetime(2027, 2, 28, 12, 0, tzinfo=UTC)),
    ],
)
def test_add_months_clamps_to_month_end(months: int, expected: datetime) -> None:
    assert add_months(T0, months) == expected


@pytest.mark.parametrize(
    ("paid", "term_days", "used", "refund"),
    [
        (30000, 30, timedelta(hours=1), 28500),  # 300 - 1 x 10 x 1.5 = 285.00
        (30000, 30, timedelta(days=1, seconds=1), 27000),  # 2 days used
        (30000, 30, timedelta(days=20), 0),  # 300 - 20 x 10 x 1.5 < 0
        (10000, 31, timedelta(hours=5), 9516),  # 100 - 100/31 x 1.5 = 95.161... -> 95.16
        (100, 3, timedelta(hours=1), 50),  # 1.00 - 1/3 x 1.5 = 0.50
    ],
    ids=["one_hour", "a_day_and_a_second", "floor_zero", "rounded_to_fen", "half_fen"],
)
def test_refund_formula(paid: int, term_days: int, used: timedelta, refund: int) -> None:
    assert refund_minor(paid, T0, T0 + timedelta(days=term_days), T0 + used) == refund


def test_prorated_days_round_up() -> None:
    assert prorated_days(T0, T0 + timedelta(days=3, hours=1)) == 4
    assert prorated_days(T0 + timedelta(days=5), T0) == 0


REQUEST = LaunchRequest(
    region="bj",
    count=1,
    storage_type="CDS_SSD",
    disk_gb=40,
    timing=Timing.POSTPAID,
    months=None,
    flavor_generation="BCC",
    flavor_offered=True,
)
IMAGE = ImageFacts("m-aaaaaaaa", "AVAILABLE", "bj", "BCC", "LINUX", 20, None)


def _codes(problems: list) -> list[tuple[ErrorCode, tuple[str, ...] | None]]:  # type: ignore[type-arg]
    return [(p.code, p.field) for p in problems]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"count": 0}, [(ErrorCode.INVALID_INPUT, ("input", "count"))]),
        ({"count": 101}, [(ErrorCode.INVALID_INPUT, ("input", "count"))]),
        ({"disk_gb": 2049}, [(ErrorCode.SYSTEM_DISK_TOO_LARGE, ("input", "systemDisk", "sizeGb"))]),
        (
            {"timing": Timing.PREPAID, "months": 10},
            [(ErrorCode.INVALID_TERM, ("input", "billing", "months"))],
        ),
        (
            {"timing": Timing.PREPAID, "months": None},
            [(ErrorCode.INVALID_TERM, ("input", "billing", "months"))],
        ),
        ({"months": 1}, [(ErrorCode.INVALID_INPUT, ("input", "billing", "months"))]),
    ],
)
def test_batch_problems(change: dict[str, object], expected: list[object]) -> None:
    from dataclasses import replace

    assert _codes(batch_problems(replace(REQUEST, **change))) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image_change", "request_change", "code"),
    [
        ({"status": "CREATING"}, {}, ErrorCode.IMAGE_NOT_AVAILABLE),
        ({"region": "gz"}, {}, ErrorCode.IMAGE_REGION_MISMATCH),
        ({"generation": "EBC"}, {}, ErrorCode.GENERATION_MISMATCH),
        (
            {"os_type": "WINDOWS", "min_disk_gb": 40},
            {"disk_gb": 39},
            ErrorCode.SYSTEM_DISK_TOO_SMALL,
        ),
        ({"min_disk_gb": 60}, {"disk_gb": 50}, ErrorCode.SYSTEM_DISK_TOO_SMALL),
        ({}, {"disk_gb": 9}, ErrorCode.SYSTEM_DISK_TOO_SMALL),
        (
            {"system_disk_kind": "CDS"},
            {"storage_type": "LOCAL_SSD"},
            ErrorCode.LOCAL_DISK_NOT_ALLOWED,
        ),
    ],
)
def test_image_problems(
    image_change: dict[str, object], request_change: dict[str, object], code: ErrorCode
) -> None:
    from dataclasses import replace

    problems = image_problems(replace(IMAGE, **image_change), replace(REQUEST, **request_change))  # type: ignore[arg-type]
    assert [p.code for p in problems] == [code]


def test_a_good_launch_has_no_problems() -> None:
    assert batch_problems(REQUEST) == []
    assert image_problems(IMAGE, REQUEST) == []
