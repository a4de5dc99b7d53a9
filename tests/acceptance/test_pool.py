"""More concurrent requests than pooled connections: requests wait for a connection without
blocking the event loop (a driver's wait for the pool would block it, and with it the
requests that would give a connection back, until the pool's timeout turns them into 500s).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.acceptance.conftest import Server, own_server

PAGE = """{ images(first: 50) { totalCount nodes { id name region { code name }
  os { type name } chargeRoot { osLicense listing { id title } } listing { id } } } }"""


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two worker processes, each with five pooled connections and no overflow."""
    settings = {
        "db_pool_size": 5,
        "db_max_overflow": 0,
        "response_cache": 0,
        "rate_limit_points": 1000000000,
        "rate_limit_refill_per_second": 1000000000,
    }
    with own_server(tmp_path_factory, "pool-data", settings, workers=2, admin="CUSTOMER") as server:
        yield server


def test_forty_concurrent_signed_in_requests_on_five_connections_each(small_pool: Server) -> None:
    def ask(_: int) -> int:
        assert small_pool.admin is not None
        response = httpx.post(
            f"{small_pool.url}/graphql",
            json={"query": PAGE},
            headers=small_pool.admin.headers,
            timeout=60,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(ask, range(200)))
    assert statuses == [200] * 200
