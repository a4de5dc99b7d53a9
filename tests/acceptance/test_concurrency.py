"""Concurrent writers on one account, several server processes (R75): no internal errors,
never overspent, the balance always the sum of the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import Server, own_server
from tests.fixtures import launch

IMAGE = (
    '{ images(first: 1, filter: {region: "bj", osType: LINUX, generation: BCC, types: [PUBLIC], '
    'flavor: "bcc.g5.c2m8"}) { nodes { id } } }'
)
QUOTE = "query($i: CreateInstancesInput!) { priceQuote(input: $i) { total { amount } } }"
CREATE = """mutation($i: CreateInstancesInput!) { createInstances(input: $i) {
  order { total { amount } } userErrors { code message } } }"""
LEDGER = """{ viewer { balance { amount } transactions(first: 100) { nodes { amount { amount } } }
  orders(first: 100) { nodes { id } } } }"""


@pytest.fixture(scope="module")
def workers3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`serve --workers 3` on a fresh database."""
    settings = {"rate_limit_points": 1000000}
    with own_server(tmp_path_factory, "workers3", settings, workers=3, admin=None) as server:
        yield server


def test_twenty_concurrent_orders_with_distinct_tokens(workers3: Server) -> None:
    server = workers3
    image_id = server.gql(IMAGE)["data"]["images"]["nodes"][0]["id"]
    request = launch(image_id, billing={"timing": "PREPAID", "months": 1})
    price = Decimal(server.gql(QUOTE, {"i": request})["data"]["priceQuote"]["total"]["amount"])
    tenant = server.account(balance=str(price * 5))

    def order(index: int) -> dict[str, Any]:
        response = httpx.post(
            f"{server.url}/graphql",
            json={"query": CREATE, "variables": {"i": {**request, "clientToken": f"o-{index}"}}},
            headers=tenant.headers,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    with ThreadPoolExecutor(max_workers=20) as pool:
        bodies = list(pool.map(order, range(20)))
    assert [b for b in bodies if "errors" in b] == []
    payloads = [b["data"]["createInstances"] for b in bodies]
    accepted = [p for p in payloads if not p["userErrors"]]
    refused = {e["code"] for p in payloads for e in p["userErrors"]}
    assert len(accepted) == 5
    assert refused == {"INSUFFICIENT_BALANCE"}
    viewer = server.gql(LEDGER, tenant=tenant)["data"]["viewer"]
    ledger = sum(Decimal(t["amount"]["amount"]) for t in viewer["transactions"]["nodes"])
    assert Decimal(viewer["balance"]["amount"]) == ledger == Decimal("0.00")
    assert len(viewer["orders"]["nodes"]) == 5
    assert server.log_path is not None
    log = server.log_path.read_text()
    assert "unexpected error" not in log


def _requests_counted(server: Server) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("bcc_images_graphql_requests_total{")
    )


def test_metrics_count_the_requests_of_every_worker_process(workers3: Server) -> None:
    """prometheus-client's multiprocess mode: /metrics, answered by any one of the three
    processes, counts the requests all of them served."""
    before = _requests_counted(workers3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: workers3.gql(IMAGE), range(60)))
    assert _requests_counted(workers3) - before == 60
