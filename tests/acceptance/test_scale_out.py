"""Several server processes acting as one: rate-limit buckets shared through Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.acceptance.conftest import Server, free_port, start_server, stop_server
from tests.conftest import fresh_database

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
    with fresh_database(tmp_path_factory) as url:
        data_dir = tmp_path_factory.mktemp("shared")
        env = {
            **os.environ,
            "BCC_IMAGES_DATABASE_URL": url,
            "BCC_IMAGES_DATA_DIR": str(data_dir),
            "BCC_IMAGES_LOG_LEVEL": "WARNING",
            "BCC_IMAGES_REDIS_URL": REDIS_URL,
            "BCC_IMAGES_RATE_LIMIT_POINTS": str(CAPACITY),
            "BCC_IMAGES_RATE_LIMIT_REFILL_PER_SECOND": "0.001",
            "BCC_IMAGES_RESPONSE_CACHE": "0",
        }
        port = free_port()
        process = start_server(env, Path(data_dir) / "server.log", port, workers=2)
        try:
            yield Server(url=f"http://127.0.0.1:{port}", env=env, process=process)
        finally:
            stop_server(process)


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
