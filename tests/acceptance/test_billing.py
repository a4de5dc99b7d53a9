"""Instances and charges over real HTTP with the simulated clock (R50-R53, R60-R63, R71-R75)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from tests.acceptance.conftest import ROOT, Server, balance, create, image
from tests.factories import Tenant
from tests.fixtures import CREATE, QUOTE, launch


def quote(server: Server, request: dict[str, Any], tenant: Tenant | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = server.gql(QUOTE, {"i": request}, tenant)["data"]["priceQuote"]
    return payload


def test_linux_and_windows_quotes(server: Server) -> None:
    linux = quote(server, launch(image(server), count=4))
    windows = quote(server, launch(image(server, "WINDOWS"), count=4))
    assert [line["kind"] for line in linux["lines"]] == ["COMPUTE"]
    assert [line["kind"] for line in windows["lines"]] == ["COMPUTE", "WINDOWS_LICENSE"]
    assert windows["lines"][1]["quantity"] == "8"  # 2 vCPUs x 4 instances
    assert windows["lines"][0] == linux["lines"][0]


def test_prepaid_order_charges_the_quote_once_even_when_retried(server: Server) -> None:
    tenant = server.account(balance="5000")
    request = launch(
        image(server, "WINDOWS"),
        count=3,
        systemDisk={"storageType": "CDS_PREMIUM", "sizeGb": 80},
        billing={"timing": "PREPAID", "months": 3},
        clientToken="order-42",
    )
    expected = quote(server, request, tenant)
    first = create(server, tenant, request)
    retry = create(server, tenant, request)
    assert first["order"]["lines"] == expected["lines"]
    assert first["order"]["total"]["amount"] == expected["total"]["amount"]
    assert retry["order"]["id"] == first["order"]["id"]
    assert balance(server, tenant) == Decimal("5000") - Decimal(expected["total"]["amount"])
    result = server.wait_operation(first["operation"]["id"], tenant)
    assert result["status"] == "SUCCEEDED"
    orders = server.gql("{ viewer { orders(first: 5) { totalCount } } }", tenant=tenant)
    assert orders["data"]["viewer"]["orders"]["totalCount"] == 1


def test_insufficient_balance_changes_nothing(server: Server) -> None:
    tenant = server.account(balance="10")
    request = launch(image(server), billing={"timing": "PREPAID", "months": 1})
    body = create(server, tenant, request)
    assert body["userErrors"][0]["code"] == "INSUFFICIENT_BALANCE"
    assert balance(server, tenant) == Decimal("10.00")
    listed = server.gql("{ instances { totalCount } operations { totalCount } }", tenant=tenant)
    assert listed["data"] == {"instances": {"totalCount": 0}, "operations": {"totalCount": 0}}


def test_parallel_orders_never_overspend(server: Server) -> None:
    request = launch(image(server), billing={"timing": "PREPAID", "months": 1})
    price = Decimal(quote(server, request)["total"]["amount"])
    tenant = server.account(balance=str(price * 5 + price / 2))

    def order(_: int) -> dict[str, Any]:
        response = httpx.post(
            f"{server.url}/graphql",
            json={"query": CREATE, "variables": {"i": request}},
            headers=tenant.headers,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()["data"]["createInstances"]
        return payload

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(order, range(20)))
    succeeded = [r for r in results if not r["userErrors"]]
    refused = [r for r in results if r["userErrors"]]
    assert len(succeeded) == 5
    assert {r["userErrors"][0]["code"] for r in refused} == {"INSUFFICIENT_BALANCE"}
    remaining = balance(server, tenant)
    assert remaining == price / 2
    assert remaining >= 0


def test_two_hours_of_postpaid_cost_twice_the_hourly_quote(server: Server) -> None:
    tenant = server.account(balance="1000")
    request = launch(
        image(server, "WINDOWS"), count=2, systemDisk={"storageType": "CDS_SSD", "sizeGb": 60}
    )
    hourly = Decimal(quote(server, request, tenant)["total"]["amount"])
    body = create(server, tenant, request)
    assert body["userErrors"] == []
    server.advance(2 * 3600)
    settled = server.gql(
        "mutation { settleUsage(input: {}) { transactions { kind amount { amount } } userErrors { code } } }",
        tenant=server.admin,
    )
    assert settled["data"]["settleUsage"]["userErrors"] == []
    spent = Decimal("1000") - balance(server, tenant)
    assert abs(spent - 2 * hourly) <= Decimal("0.01"), (spent, hourly)
    server.gql("mutation { settleUsage(input: {}) { transactions { id } } }", tenant=server.admin)
    assert Decimal("1000") - balance(server, tenant) == spent  # settling again charges nothing


def test_arrears_stop_postpaid_instances_until_top_up(server: Server) -> None:
    tenant = server.account(balance="100")
    request = launch(image(server), flavor="bcc.g5.c16m64")  # 3.36 CNY per hour
    body = create(server, tenant, request)
    instance_id = body["instances"][0]["id"]
    server.wait_operation(body["operation"]["id"], tenant)
    server.advance(31 * 3600)
    server.gql("mutation { settleUsage(input: {}) { transactions { id } } }", tenant=server.admin)
    state = server.gql(
        "query($id: ID!) { instance(id: $id) { status statusReason } viewer { inArrears } }",
        {"id": instance_id},
        tenant,
    )["data"]
    assert state == {
        "instance": {"status": "STOPPED", "statusReason": "ARREARS"},
        "viewer": {"inArrears": True},
    }
    refused = create(server, tenant, launch(image(server)))
    assert refused["userErrors"][0]["code"] == "ACCOUNT_IN_ARREARS"
    server.gql(
        'mutation($a: ID!) { topUpAccount(input: {accountId: $a, amount: "200"}) { userErrors { code } } }',
        {"a": tenant.id},
        server.admin,
    )
    after = server.gql(
        "query($id: ID!) { instance(id: $id) { status statusReason } }", {"id": instance_id}, tenant
    )
    assert after["data"]["instance"] == {"status": "RUNNING", "statusReason": None}


def test_refund_on_release(server: Server) -> None:
    tenant = server.account(balance="3000")
    request = launch(image(server), billing={"timing": "PREPAID", "months": 2})
    body = create(server, tenant, request)
    paid = Decimal(body["order"]["total"]["amount"])
    instance_id = body["instances"][0]["id"]
    server.wait_operation(body["operation"]["id"], tenant)
    server.advance(3 * 24 * 3600 + 60)  # 3 days and a minute: 4 days used, rounded up
    info = server.gql(
        "query($id: ID!) { instance(id: $id) { createdAt expiresAt } }", {"id": instance_id}, tenant
    )["data"]["instance"]
    term_days = (
        datetime.fromisoformat(info["expiresAt"]) - datetime.fromisoformat(info["createdAt"])
    ).days
    released = server.gql(
        "mutation($id: ID!) { releaseInstance(input: {instanceId: $id}) { refund { amount } userErrors { code } } }",
        {"id": instance_id},
        tenant,
    )["data"]["releaseInstance"]
    used_days = 4
    expected = (paid - used_days * (paid / term_days) * Decimal("1.5")).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    assert Decimal(released["refund"]["amount"]) == expected
    ledger = server.gql(
        "{ viewer { transactions(first: 1) { nodes { kind amount { amount } reference } } } }",
        tenant=tenant,
    )["data"]["viewer"]["transactions"]["nodes"]
    assert ledger == [
        {"kind": "REFUND", "amount": {"amount": str(expected)}, "reference": instance_id}
    ]


def test_advance_clock_moves_time_and_refuses_nonsense(server: Server) -> None:
    before = datetime.fromisoformat(server.advance(1))
    after = datetime.fromisoformat(server.advance(3600))
    assert 3600 <= (after - before).total_seconds() < 3700
    bad = server.gql(
        "mutation { advanceClock(input: {seconds: -5}) { now userErrors { code field } } }",
        tenant=server.admin,
    )["data"]["advanceClock"]
    assert bad == {
        "now": None,
        "userErrors": [{"code": "INVALID_INPUT", "field": ["input", "seconds"]}],
    }


def test_cli_settles_up_to_a_time(server: Server) -> None:
    out = server.cli("settle")
    assert out["until"]
    assert isinstance(out["transactions"], list)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "settle", "--until", "2999-01-01T00:00:00+00:00"],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert "may not be later than now" in done.stderr
