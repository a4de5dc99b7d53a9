"""Operations survive restarts and run exactly once across server processes (R60, R61)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.acceptance.conftest import Server, free_port, server_env, start_server, stop_server
from tests.conftest import fresh_database
from tests.fixtures import CREATE, launch

# timing-sensitive: CI runs this module by itself, never beside another suite
pytestmark = pytest.mark.alone

IMAGE = '{ images(first: 1, filter: {region: "bj", osType: LINUX, generation: BCC, types: [PUBLIC], flavor: "bcc.g5.c2m8"}) { nodes { id } } }'


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], str]]:
    """Environment for servers sharing one fresh database (real clock, short leases)."""
    with fresh_database(tmp_path_factory) as url:
        data_dir = tmp_path_factory.mktemp("cluster")
        env = server_env(
            url,
            data_dir,
            operation_seconds=2,
            operation_seconds_per_gb=0,
            # a worker renews every 0.2 s; 5 s leaves room for SQLite lock waits under coverage
            operation_lease_seconds=5,
            worker_tick_seconds=0.2,
            rate_limit_points=1000000,
        )
        yield env, str(data_dir)


def _operations(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, status, attempts, claimed_by FROM operation ORDER BY id")
            )
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def _wait_all_finished(url: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _operations(url)
        if len(rows) == count and all(r["status"] == "SUCCEEDED" for r in rows):
            return rows
        time.sleep(0.5)
    raise AssertionError(f"operations did not finish: {_operations(url)}")


def test_a_crash_during_an_operation_still_finishes_it_once(
    cluster: tuple[dict[str, str], str],
) -> None:
    env, data_dir = cluster
    port = free_port()
    log = Path(data_dir) / "server.log"
    process = start_server(env, log, port)
    server = Server(url=f"http://127.0.0.1:{port}", env=env, process=process)
    try:
        tenant = server.account(balance="1000")
        image_id = server.gql(IMAGE)["data"]["images"]["nodes"][0]["id"]
        request = launch(image_id, count=3, billing={"timing": "PREPAID", "months": 1})
        body = server.gql(CREATE, {"i": request}, tenant)["data"]["createInstances"]
        assert body["userErrors"] == []
        time.sleep(0.5)  # the worker has claimed it
        process.send_signal(signal.SIGKILL)  # a crash: no lease released
        process.wait()
        process = start_server(env, log, port)
        server.process = process
        rows = _wait_all_finished(env["BCC_IMAGES_DATABASE_URL"], 1)
        assert rows[0]["attempts"] == 2  # claimed again after the dead worker's lease ran out
        states = server.gql(
            "{ instances(first: 10) { nodes { status } } viewer { orders { totalCount } "
            "transactions(first: 10) { nodes { kind } } } }",
            tenant=tenant,
        )["data"]
        assert [n["status"] for n in states["instances"]["nodes"]] == ["RUNNING"] * 3
        assert states["viewer"]["orders"]["totalCount"] == 1
        assert [t["kind"] for t in states["viewer"]["transactions"]["nodes"]] == ["ORDER", "TOP_UP"]
    finally:
        stop_server(process)


def test_two_servers_on_one_database_run_each_operation_exactly_once(
    cluster: tuple[dict[str, str], str],
) -> None:
    env, data_dir = cluster
    ports = [free_port(), free_port()]
    processes = [
        start_server(env, Path(data_dir) / f"server{i}.log", port) for i, port in enumerate(ports)
    ]
    try:
        servers = [Server(url=f"http://127.0.0.1:{p}", env=env) for p in ports]
        tenant = servers[0].account(balance="100000")
        image_id = servers[0].gql(IMAGE)["data"]["images"]["nodes"][0]["id"]
        request = launch(image_id, billing={"timing": "PREPAID", "months": 1})

        def create(i: int) -> str:
            body = servers[i % 2].gql(CREATE, {"i": request}, tenant)["data"]["createInstances"]
            assert body["userErrors"] == []
            operation_id: str = body["operation"]["id"]
            return operation_id

        with ThreadPoolExecutor(max_workers=8) as pool:
            created = list(pool.map(create, range(50)))
        rows = _wait_all_finished(env["BCC_IMAGES_DATABASE_URL"], 50)
        assert sorted(r["id"] for r in rows) == sorted(created)
        assert {r["attempts"] for r in rows} == {1}  # no operation was taken over or run twice
        workers = {r["claimed_by"] for r in rows}
        assert 1 <= len(workers) <= 2
        running = servers[1].gql(
            "{ instances(first: 100, filter: {status: RUNNING}) { totalCount } }", tenant=tenant
        )
        assert running["data"]["instances"]["totalCount"] == 50
    finally:
        for process in processes:
            stop_server(process)
