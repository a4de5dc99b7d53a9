"""A release racing a clock advance in another process is never charged past its release
(issue 24; R166: a mutation reads the service time after it holds its locks).

`serve --workers 2`; twenty times, a customer's postpaid instance is released while an
administrator advances the clock by a day, each request on a connection of its own so the two
processes share them. Before the fix, a release that read the time before it waited for the
settlement's locks was dated at the old time while usage had been settled a day further:
`releasedAt` a minute after creation, 23 hours charged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tests.acceptance.conftest import QUICK, Server, own_server, running_instance
from tests.factories import Tenant

pytestmark = pytest.mark.money

ROUNDS = 20
PRICE = Decimal("0.42")  # bcc.g5.c2m8, CNY per hour
RELEASE = """mutation($id: ID!) { releaseInstance(input: {instanceId: $id}) {
  instance { createdAt releasedAt } userErrors { code } } }"""
USAGE = """{ viewer { transactions(first: 100) { nodes { kind amount { amount } } } } }"""


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with own_server(tmp_path_factory, "release-race", QUICK, workers=2) as server:
        yield server


def _release(server: Server, tenant: Tenant, instance_id: str, delay: float) -> dict[str, Any]:
    time.sleep(delay)
    payload: dict[str, Any] = server.gql(RELEASE, {"id": instance_id}, tenant)["data"][
        "releaseInstance"
    ]
    return payload


def _charged(server: Server, tenant: Tenant) -> Decimal:
    nodes = server.gql(USAGE, tenant=tenant)["data"]["viewer"]["transactions"]["nodes"]
    return -sum((Decimal(n["amount"]["amount"]) for n in nodes if n["kind"] == "USAGE"), Decimal(0))


def test_a_release_racing_a_clock_advance_is_never_charged_past_it(two_workers: Server) -> None:
    server = two_workers
    for round_ in range(ROUNDS):
        tenant = server.account(balance="500")
        instance_id = running_instance(server, tenant)
        with ThreadPoolExecutor(max_workers=2) as pool:
            advanced = pool.submit(server.advance, 86400)
            # each round sends the release a little later into the advance (0 to 0.38 s),
            # so some find the clock moved and the day's settlements under way
            released = pool.submit(_release, server, tenant, instance_id, round_ * 0.02)
            advanced.result()
            payload = released.result()
        assert payload["userErrors"] == [], payload
        server.advance(3600)  # the hourly settlement after the release has run
        created = datetime.fromisoformat(payload["instance"]["createdAt"])
        released_at = datetime.fromisoformat(payload["instance"]["releasedAt"])
        minutes = math.floor((released_at - created) / timedelta(minutes=1))
        # what the instance ran, in whole minutes, rounded once (each hourly entry rounds its
        # carry half up, so the total may differ from it by less than a fen)
        most = (PRICE * minutes / 60).quantize(Decimal("0.01"), ROUND_HALF_UP) + Decimal("0.01")
        charged = _charged(server, tenant)
        assert charged <= most, (
            f"round {round_}: {charged} charged for {minutes} minutes up to its release"
        )
