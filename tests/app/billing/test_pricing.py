"""Pricing (SPEC §6.1, R71): every line kind, term discounts, the disk threshold, rounding."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.billing.pricing import (
    PREPAID_TERMS,
    ChargeKind,
    ChargeUnit,
    PriceInput,
    Rate,
    SoftwarePlan,
    Timing,
    hourly_rates,
    quote_lines,
    total,
)

D = Decimal
BASE = PriceInput(
    flavor_name="bcc.g5.c2m8",
    vcpus=2,
    generation="BCC",
    flavor_rate=Rate(D("0.42"), D("211.68")),
    storage_type="CDS_SSD",
    disk_gb=40,
    disk_rate=Rate(D("0.001389"), D("1.00")),
    windows=False,
    windows_rate=Rate(D("0.03"), D("15.00")),
    software=None,
    timing=Timing.POSTPAID,
    months=None,
    count=1,
    term_discount=D(1),
)


def _by_kind(p: PriceInput) -> dict[ChargeKind, tuple[D, ChargeUnit, D, D]]:
    return {x.kind: (x.quantity, x.unit, x.unit_price, x.amount) for x in quote_lines(p)}


def test_postpaid_linux_is_compute_only_at_40_gb() -> None:
    assert _by_kind(BASE) == {ChargeKind.COMPUTE: (D(1), ChargeUnit.HOUR, D("0.42"), D("0.42"))}


@pytest.mark.parametrize(
    ("disk_gb", "expected"),
    [(40, None), (41, D(1)), (100, D(60))],
    ids=["at_threshold", "one_above", "sixty_above"],
)
def test_system_disk_counts_only_gb_above_40(disk_gb: int, expected: D | None) -> None:
    lines = _by_kind(replace(BASE, disk_gb=disk_gb, count=3))
    if expected is None:
        assert ChargeKind.SYSTEM_DISK not in lines
    else:
        quantity, unit, price, _ = lines[ChargeKind.SYSTEM_DISK]
        assert (quantity, unit, price) == (expected * 3, ChargeUnit.HOUR, D("0.001389"))


def test_local_ssd_is_included_in_the_flavor() -> None:
    lines = _by_kind(replace(BASE, storage_type="LOCAL_SSD", disk_rate=None, disk_gb=200))
    assert set(lines) == {ChargeKind.COMPUTE}


def test_windows_licence_is_per_vcpu_and_count() -> None:
    lines = _by_kind(replace(BASE, windows=True, count=5))
    assert lines[ChargeKind.WINDOWS_LICENSE] == (D(10), ChargeUnit.HOUR, D("0.03"), D("0.30"))


def test_ebc_brings_its_own_windows_licence() -> None:
    assert ChargeKind.WINDOWS_LICENSE not in _by_kind(replace(BASE, windows=True, generation="EBC"))


@pytest.mark.parametrize(
    ("months", "discount", "compute_price"),
    [(1, D(1), D("211.68")), (12, D("0.83"), D("175.6944")), (36, D("0.50"), D("105.84"))],
)
def test_prepaid_discounts_compute_and_disk_not_licence(
    months: int, discount: D, compute_price: D
) -> None:
    p = replace(
        BASE,
        timing=Timing.PREPAID,
        months=months,
        term_discount=discount,
        windows=True,
        disk_gb=50,
        count=2,
    )
    lines = _by_kind(p)
    assert lines[ChargeKind.COMPUTE][:3] == (D(2 * months), ChargeUnit.MONTH, compute_price)
    assert lines[ChargeKind.SYSTEM_DISK][:3] == (
        D(20 * months),
        ChargeUnit.MONTH,
        D("1.00") * discount,
    )
    assert lines[ChargeKind.WINDOWS_LICENSE][:3] == (D(4 * months), ChargeUnit.MONTH, D("15.00"))


def test_software_plans_are_never_discounted() -> None:
    plan = SoftwarePlan(Timing.PREPAID, 12, D("999.99"), "Acme WAF, 12 months")
    p = replace(
        BASE, timing=Timing.PREPAID, months=12, term_discount=D("0.83"), software=plan, count=2
    )
    assert _by_kind(p)[ChargeKind.SOFTWARE] == (D(2), ChargeUnit.TERM, D("999.99"), D("1999.98"))


def test_hourly_software_plan_and_free_plan() -> None:
    hourly = SoftwarePlan(Timing.POSTPAID, None, D("0.05"))
    assert _by_kind(replace(BASE, software=hourly, count=3))[ChargeKind.SOFTWARE] == (
        D(3),
        ChargeUnit.HOUR,
        D("0.05"),
        D("0.15"),
    )
    free = SoftwarePlan(Timing.POSTPAID, None, D(0))
    assert ChargeKind.SOFTWARE not in _by_kind(replace(BASE, software=free))


@pytest.mark.parametrize(
    ("rate", "count", "amount"),
    [
        ("0.005", 1, "0.01"),
        ("0.004999", 1, "0.00"),
        ("0.000417", 12, "0.01"),
        ("0.0015", 3, "0.00"),
    ],
    ids=["half_fen_up", "below_half", "many_small", "below_half_sum"],
)
def test_each_line_is_rounded_once_half_up(rate: str, count: int, amount: str) -> None:
    p = replace(BASE, flavor_rate=Rate(D(rate), D(0)), count=count)
    assert quote_lines(p)[0].amount == D(amount)


def test_hourly_rate_of_one_instance_is_exact() -> None:
    p = replace(BASE, windows=True, disk_gb=60, count=4)
    # 0.42 + 20 x 0.001389 + 2 x 0.03 = 0.50778 CNY per hour per instance, line by line
    assert hourly_rates(quote_lines(p), 4) == {
        ChargeKind.COMPUTE: 420_000,
        ChargeKind.SYSTEM_DISK: 27_780,
        ChargeKind.WINDOWS_LICENSE: 60_000,
    }


money_rates = st.decimals(min_value=D("0"), max_value=D("500"), places=6, allow_nan=False)


@given(
    count=st.integers(1, 100),
    disk=st.integers(10, 2048),
    windows=st.booleans(),
    prepaid=st.booleans(),
    months=st.sampled_from(sorted(PREPAID_TERMS)),
    hour=money_rates,
    month=st.decimals(min_value=D("0"), max_value=D("50000"), places=2),
)
def test_total_is_the_sum_of_rounded_lines_and_scales_with_count(
    count: int, disk: int, windows: bool, prepaid: bool, months: int, hour: D, month: D
) -> None:
    p = replace(
        BASE,
        count=count,
        disk_gb=disk,
        windows=windows,
        timing=Timing.PREPAID if prepaid else Timing.POSTPAID,
        months=months if prepaid else None,
        term_discount={12: D("0.83"), 24: D("0.70"), 36: D("0.50")}.get(months, D(1))
        if prepaid
        else D(1),
        flavor_rate=Rate(hour, month),
    )
    lines = quote_lines(p)
    assert total(lines) == sum(line.amount for line in lines)
    for line in lines:
        assert line.amount == line.amount.quantize(D("0.01"))
        assert abs(line.amount - line.quantity * line.unit_price) <= D("0.005")
        assert line.unit_price == line.unit_price.quantize(D("0.000001"))
