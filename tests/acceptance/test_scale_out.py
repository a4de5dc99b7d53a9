"""Several server processes acting as one: rate-limit buckets shared through Redis."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.acceptance.conftest import (
    Server,
    free_port,
    own_server,
    server_env,
    start_server,
    stop_server,
)
from tests.conftest import fresh_database

# timing-sensitive: CI runs this module by itself, never beside another suite
pytestmark = pytest.mark.alone

REDIS_URL = os.environ.get("BCC_IMAGES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CAPACITY = 200
QUERY = "{ regions { code } }"


def _redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip("Redis is not running at " + REDIS_URL)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`serve --workers 2` with the rate-limit buckets in Redis, nearly no refill."""
    _redis_or_skip()
    settings = {
        "redis_url": REDIS_URL,
        "rate_limit_points": CAPACITY,
        "rate_limit_refill_per_second": 0.001,
        "response_cache": 0,
    }
    with own_server(tmp_path_factory, "shared", settings, workers=2, admin=None) as server:
        yield server


def test_two_worker_processes_share_one_bucket_per_token(shared: Server) -> None:
    tenant = shared.account()
    first = shared.gql(QUERY, tenant=tenant)
    charged = first["extensions"]["cost"]["actual"]  # what was kept of what was reserved
    assert first["extensions"]["cost"]["remaining"] == CAPACITY - charged

    def ask(_: int) -> dict[str, Any]:
        # a new connection each time, so both processes answer some of them
        response = httpx.post(
            f"{shared.url}/graphql", json={"query": QUERY}, headers=tenant.headers, timeout=30
        )
        body: dict[str, Any] = response.json()
        return body

    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(ask, range(2 * CAPACITY // charged)))
    granted = 1 + sum(1 for b in bodies if "errors" not in b)
    refused = [b for b in bodies if "errors" in b]
    # one bucket for both processes: what they granted together fits in it (in-process
    # buckets would have let each process grant the whole capacity)
    assert granted * charged <= CAPACITY
    assert refused and refused[0]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


def test_an_unrelated_token_has_its_own_bucket(shared: Server) -> None:
    other = shared.account()
    body = shared.gql(QUERY, tenant=other)
    assert "errors" not in body


# --- events without polling ------------------------------------------------------------------

SUBSCRIBE = """subscription($id: ID!) { operationUpdated(id: $id) { id status progress } }"""


@pytest.fixture(scope="module")
def two_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, Server]]:
    """Two separate server processes on one PostgreSQL database: the first runs no worker and
    looks again only every 120 s, so what it tells its subscribers reaches it as events."""
    if not os.environ.get("BCC_IMAGES_TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("events between processes go through PostgreSQL's LISTEN/NOTIFY")
    with fresh_database(tmp_path_factory) as url:
        started = []
        try:
            for name, worker in (("listener", "0"), ("worker", "1")):
                data_dir = tmp_path_factory.mktemp(name)
                env = server_env(
                    url,
                    data_dir,
                    run_worker=worker,
                    operation_seconds=3,
                    operation_seconds_per_gb=0,
                    event_fallback_seconds=120,
                )
                port = free_port()
                process = start_server(env, Path(data_dir) / "server.log", port)
                started.append(Server(url=f"http://127.0.0.1:{port}", env=env, process=process))
            yield started[0], started[1]
        finally:
            for server in started:
                assert server.process is not None
                stop_server(server.process)


def test_a_subscriber_on_one_process_sees_a_change_made_by_another(
    two_servers: tuple[Server, Server],
) -> None:
    from websockets.sync.client import connect

    from tests.acceptance.conftest import _recv, _ws_url, create, image
    from tests.fixtures import launch

    listener, worker = two_servers
    tenant = worker.account(balance="500")
    operation_id = create(worker, tenant, launch(image(worker)))["operation"]["id"]
    with connect(_ws_url(listener), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {tenant.token}"}}
            )
        )
        assert _recv(ws)["type"] == "connection_ack"
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"id": operation_id}},
                }
            )
        )
        seen = []
        started = time.monotonic()
        while True:
            message = _recv(ws, timeout=30)
            if message["type"] != "next":
                break
            seen.append(message["payload"]["data"]["operationUpdated"]["status"])
        waited = time.monotonic() - started
    # the worker process finished it in about 3 s; the listener, which only looks again every
    # 120 s on its own, told its subscriber at once
    assert seen[-1] == "SUCCEEDED", seen
    assert waited < 30
