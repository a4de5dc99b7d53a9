"""More concurrent requests than pooled connections: requests wait for a connection without
blocking the event loop (a driver's wait for the pool would block it, and with it the
requests that would give a connection back, until the pool's timeout turns them into 500s).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.acceptance.conftest import Server, free_port, start_server, stop_server
from tests.conftest import fresh_database

PAGE = """{ images(first: 50) { totalCount nodes { id name region { code name }
  os { type name } chargeRoot { osLicense listing { id title } } listing { id } } } }"""


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two worker processes, each with five pooled connections and no overflow."""
    with fresh_database(tmp_path_factory) as url:
        data_dir = tmp_path_factory.mktemp("pool-data")
        env = {
            **os.environ,
            "BCC_IMAGES_DATABASE_URL": url,
            "BCC_IMAGES_DATA_DIR": str(data_dir),
            "BCC_IMAGES_DB_POOL_SIZE": "5",
            "BCC_IMAGES_DB_MAX_OVERFLOW": "0",
            "BCC_IMAGES_RESPONSE_CACHE": "0",
            "BCC_IMAGES_RATE_LIMIT_POINTS": "1000000000",
            "BCC_IMAGES_RATE_LIMIT_REFILL_PER_SECOND": "1000000000",
            "BCC_IMAGES_LOG_LEVEL": "WARNING",
        }
        port = free_port()
        process = start_server(env, data_dir / "server.log", port, workers=2)
        try:
            server = Server(url=f"http://127.0.0.1:{port}", env=env, process=process)
            server.admin = server.account("CUSTOMER")
            yield server
        finally:
            stop_server(process)


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
