"""R163, R202: cached answers are checked against versions each process keeps (no database
round trip), and a write in one process reaches a cached read in another within 200 ms:
PostgreSQL tells every process by NOTIFY, a SQLite file by its data_version. Two servers
on one database; whatever one writes, the other stops serving what it kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.acceptance.conftest import Server, free_port, server_env, start_server, stop_server
from tests.conftest import fresh_database
from tests.factories import Tenant

# timing-sensitive: CI runs this module by itself, never beside another suite
pytestmark = pytest.mark.alone

BALANCE = "{ viewer { balance { amount } } }"
TOP_UP = """mutation($i: TopUpAccountInput!) { topUpAccount(input: $i) {
  userErrors { code } } }"""
REVOKE = """mutation($t: ID!) { revokeApiToken(input: {tokenId: $t}) { userErrors { code } } }"""
#: what R202 allows between a commit in one process and a cached read in another seeing it
WITHIN_SECONDS = 0.2


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two servers (separate processes) on one database, each with its response cache."""
    with fresh_database(tmp_path_factory) as url:
        env = server_env(url, tmp_path_factory.mktemp("pair"))
        servers, processes = [], []
        try:
            for name in ("a", "b"):
                port = free_port()
                log = tmp_path_factory.mktemp(f"pair-{name}") / "server.log"
                processes.append(start_server(env, log, port))
                servers.append(Server(url=f"http://127.0.0.1:{port}", env=env))
            servers[0].admin = servers[0].account("ADMIN")
            yield servers[0], servers[1]
        finally:
            for process in processes:
                stop_server(process)


def _seen_within(check: Callable[[], bool]) -> float:
    """How long until ``check()`` holds (asked as fast as the server answers), or inf."""
    started = time.monotonic()
    while time.monotonic() - started < 5:
        if check():
            return time.monotonic() - started
    return float("inf")


def _cached(server: Server, tenant: Tenant) -> str:
    """The tenant's balance, asked until the answer is a kept one."""
    first = server.gql(BALANCE, tenant=tenant)["data"]["viewer"]["balance"]["amount"]
    assert server.gql(BALANCE, tenant=tenant)["data"]["viewer"]["balance"]["amount"] == first
    return str(first)


def test_a_write_in_one_process_reaches_a_cached_read_in_another(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    assert a.admin is not None
    tenant = a.account(balance="10")
    assert _cached(b, tenant) == "10.00"
    top_up = {"i": {"accountId": tenant.id, "amount": "5"}}
    assert a.gql(TOP_UP, top_up, a.admin)["data"]["topUpAccount"]["userErrors"] == []
    took = _seen_within(
        lambda: b.gql(BALANCE, tenant=tenant)["data"]["viewer"]["balance"]["amount"] == "15.00"
    )
    assert took <= WITHIN_SECONDS, f"the other process saw the top-up after {took:.3f} s"


def test_a_token_revoked_in_one_process_is_refused_by_another(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    assert a.admin is not None
    tenant = a.account(balance="1")
    _cached(b, tenant)  # the token and the answer are kept by b
    revoked = a.gql(REVOKE, {"t": tenant.token_id}, a.admin)
    assert revoked["data"]["revokeApiToken"]["userErrors"] == []
    took = _seen_within(lambda: b.post(BALANCE, tenant=tenant).status_code == 401)
    assert took <= WITHIN_SECONDS, f"the other process refused the token after {took:.3f} s"
