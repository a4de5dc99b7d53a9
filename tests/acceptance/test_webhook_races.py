"""The webhook limits hold when several server processes race for them (issue 26; R176,
R199): `serve --workers 3`, each request on a connection of its own so the processes share
them. An account with 9 endpoints of its 10 has 6 more asked for at once; an account that sent
9 test deliveries this minute sends 6 more at once (to 6 endpoints), under a limit of 10 a
minute. Each limit counts under the account's row lock, so exactly one of each race wins, on
SQLite and on PostgreSQL.

On PostgreSQL the racers are lined up first: the test holds the simulated clock's row, which
every mutation reads under a shared lock before anything else, and lets go once they wait
for it (one per process: a process runs one mutation at a time), so they count at the same
moment. Without the account lock, 3 endpoints and 3 deliveries got through (one a process).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.acceptance.conftest import QUICK, Server, own_server

pytestmark = pytest.mark.alone

RACERS = 6
CREATE = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  endpoint { id } userErrors { code } } }"""
TEST = """mutation($id: ID!) { sendTestWebhook(input: {endpointId: $id}) {
  delivery { id } userErrors { code } } }"""
COUNT = "{ webhookEndpoints { id } }"
# a documentation address: deliveries to it are refused at the attempt, nothing is sent
URL = "https://203.0.113.10/hooks"


@pytest.fixture(scope="module")
def three_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with own_server(tmp_path_factory, "webhook-races", QUICK, workers=3) as server:
        yield server


@contextlib.contextmanager
def _lined_up(server: Server) -> Iterator[None]:
    """On PostgreSQL, hold the clock's row while the block sends its racers, and let go a
    second later (when they all wait for it); elsewhere, nothing."""
    url = server.env["BCC_IMAGES_DATABASE_URL"]
    if not url.startswith("postgresql"):
        yield
        return
    server.advance(1)  # the clock's row exists from the first advance
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT 1 FROM clock_state WHERE id = 1 FOR UPDATE"))
            yield
            time.sleep(1)
    finally:
        engine.dispose()


def _race(server: Server, calls: list[tuple[str, dict[str, Any]]], tenant: Any) -> list[Any]:
    def one(call: tuple[str, dict[str, Any]]) -> Any:
        document, variables = call
        data = server.gql(document, variables, tenant)["data"]
        [payload] = data.values()
        return payload

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        with _lined_up(server):
            racing = [pool.submit(one, call) for call in calls]
        return [r.result() for r in racing]


def test_racing_for_the_last_endpoint_leaves_one_winner(three_workers: Server) -> None:
    tenant = three_workers.account()
    create = (CREATE, {"i": {"url": URL, "events": ["SALE_CREATED"]}})
    for _ in range(9):
        assert three_workers.gql(*create, tenant)["data"]["createWebhookEndpoint"]["endpoint"]
    made = _race(three_workers, [create] * RACERS, tenant)
    codes = sorted(tuple(e["code"] for e in m["userErrors"]) for m in made)
    assert codes == [()] + [("WEBHOOK_ENDPOINT_QUOTA_EXCEEDED",)] * (RACERS - 1)
    endpoints = three_workers.gql(COUNT, tenant=tenant)["data"]["webhookEndpoints"]
    assert len(endpoints) == 10


def test_racing_for_the_last_test_delivery_of_the_minute_leaves_one_winner(
    three_workers: Server,
) -> None:
    tenant = three_workers.account()
    endpoints = []
    for _ in range(RACERS):  # a test delivery locks its endpoint: racers on one would queue
        made = three_workers.gql(CREATE, {"i": {"url": URL, "events": ["SALE_CREATED"]}}, tenant)
        endpoints.append(made["data"]["createWebhookEndpoint"]["endpoint"]["id"])
    for _ in range(9):
        sent = three_workers.gql(TEST, {"id": endpoints[0]}, tenant)["data"]["sendTestWebhook"]
        assert sent["userErrors"] == []
    sent = _race(three_workers, [(TEST, {"id": e}) for e in endpoints], tenant)
    codes = sorted(tuple(e["code"] for e in s["userErrors"]) for s in sent)
    assert codes == [()] + [("WEBHOOK_RATE_LIMITED",)] * (RACERS - 1)
