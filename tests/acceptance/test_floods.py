"""Floods over real sockets (R151): WebSockets, subscriptions, slow bodies and huge headers from
one attacker must leave every other client answered within a second, and give back what they
held when the attacker leaves.

The attacker connects from other loopback addresses (127.0.0.2 and up) than the victim
(127.0.0.1), as a different client on the internet would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection

from tests.acceptance.conftest import (
    QUICK,
    Server,
    from_address,
    initialised,
    message,
    own_server,
    websocket,
)

# timing-sensitive: CI runs this module by itself, never beside another suite
pytestmark = pytest.mark.alone

POOL = {"db_pool_size": 3, "db_max_overflow": 3}  # 4 request slots per process
VICTIM = "{ regions { code } }"
IMAGE = '{ images(first: 1, filter: {region: "bj", types: [PUBLIC]}) { nodes { id } } }'
FOLLOW = "subscription($id: ID!) { imageUpdated(id: $id) { id name region { code } } }"


@pytest.fixture(scope="module")
def flooded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a small connection pool and small socket budgets."""
    settings = {
        **QUICK,
        **POOL,
        "rate_limit_points": 1_000_000,
        "rate_limit_refill_per_second": 1_000_000,
        "max_websockets": 40,
        "max_websockets_per_client": 20,
        "websocket_init_seconds": 1,
        "websocket_idle_seconds": 2,
        "body_timeout_seconds": 3,
        "response_cache": 0,
        "max_connections": 60,
        "max_connections_per_client": 8,
        "header_timeout_seconds": 5,
    }
    with own_server(tmp_path_factory, "floods", settings) as server:
        yield server


def victim_seconds(server: Server, query: str = VICTIM) -> float:
    """How long another client (from 127.0.0.1) waits for an ordinary query's answer."""
    start = time.monotonic()
    response = httpx.post(f"{server.url}/graphql", json={"query": query}, timeout=30)
    elapsed = time.monotonic() - start
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    return elapsed


def health_seconds(server: Server) -> float:
    start = time.monotonic()
    response = httpx.get(f"{server.url}/healthz", timeout=30)
    assert response.status_code == 200, response.text
    return time.monotonic() - start


def assert_answered_quickly(server: Server) -> None:
    """/healthz and another client's ordinary query are answered within a second."""
    assert health_seconds(server) < 1.0
    assert victim_seconds(server) < 1.0


# -- subscriptions hold no database connection between events --------------------------------


def test_subscriptions_hold_no_connection_between_events(flooded: Server) -> None:
    # given a public image, and an attacker with more subscriptions than the pool has
    # connections (each on a socket of its own, from two addresses)
    image_id = flooded.gql(IMAGE)["data"]["images"]["nodes"][0]["id"]
    with ExitStack() as stack:
        for index in range(12):
            ws = stack.enter_context(websocket(flooded, f"127.0.0.{2 + index % 2}"))
            initialised(ws)
            ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": FOLLOW, "variables": {"id": image_id}},
                    }
                )
            )
            first = message(ws)
            assert first["type"] == "next", first
            assert first["payload"]["data"]["imageUpdated"]["region"] == {"code": "bj"}

        # then everyone else is still answered at once, however long they follow the image
        for _ in range(3):
            assert_answered_quickly(flooded)
    # and once the attacker has left, no connection is left inside a transaction
    assert_answered_quickly(flooded)
    if not flooded.env["BCC_IMAGES_DATABASE_URL"].startswith("sqlite"):
        assert idle_in_transaction(flooded) == 0


def idle_in_transaction(server: Server) -> int:
    """Connections to the server's database left open inside a transaction (PostgreSQL)."""
    engine = create_engine(server.env["BCC_IMAGES_DATABASE_URL"])
    try:
        deadline = time.monotonic() + 5
        while True:
            with engine.connect() as conn:
                count = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE state = "
                        "'idle in transaction' AND pid <> pg_backend_pid() "
                        "AND datname = current_database()"
                    )
                ).scalar_one()
            if count == 0 or time.monotonic() > deadline:
                return int(count)
            time.sleep(0.2)
    finally:
        engine.dispose()


def test_many_subscriptions_on_one_socket_leave_others_answered(flooded: Server) -> None:
    image_id = flooded.gql(IMAGE)["data"]["images"]["nodes"][0]["id"]
    with websocket(flooded) as ws:
        initialised(ws)
        for index in range(20):
            payload = {"query": FOLLOW, "variables": {"id": image_id}}
            ws.send(json.dumps({"id": str(index), "type": "subscribe", "payload": payload}))
        seen = {message(ws)["id"] for _ in range(20)}
        assert len(seen) == 20
        assert_answered_quickly(flooded)


# -- socket budgets ---------------------------------------------------------------------------


def test_idle_websockets_cannot_starve_http(flooded: Server) -> None:
    # given an attacker opening as many sockets as it can from several addresses, without
    # ever sending connection_init
    with ExitStack() as stack:
        opened: list[ClientConnection] = []
        refused: list[int] = []
        for index in range(60):
            try:
                opened.append(stack.enter_context(websocket(flooded, f"127.0.0.{2 + index % 4}")))
            except InvalidStatus as exc:
                refused.append(exc.response.status_code)
        # then the process keeps its budget (40 sockets) and refuses the rest with 503
        assert len(opened) == 40
        assert refused == [503] * 20
        # and HTTP is answered meanwhile
        assert_answered_quickly(flooded)
        # and sockets that never initialise are closed after the init deadline (1 s here)
        time.sleep(1.5)
        for ws in opened:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=2)
            assert ws.close_code == 4408
    # and once they are gone, new sockets are admitted again
    with websocket(flooded, "127.0.0.2") as ws:
        initialised(ws)


def test_one_address_gets_at_most_its_share_of_websockets(flooded: Server) -> None:
    with ExitStack() as stack:
        for _ in range(20):
            initialised(stack.enter_context(websocket(flooded, "127.0.0.9")))
        with pytest.raises(InvalidStatus) as refused:
            stack.enter_context(websocket(flooded, "127.0.0.9"))
        assert refused.value.response.status_code == 503
        assert b"TOO_MANY_CONNECTIONS" in refused.value.response.body
        # another address still gets one
        with websocket(flooded, "127.0.0.10") as other:
            initialised(other)


def test_a_signed_in_socket_counts_against_its_account_not_its_address(flooded: Server) -> None:
    tenant = flooded.account()
    auth = {"Authorization": f"Bearer {tenant.token}"}
    with ExitStack() as stack:
        # twenty sockets of one account from one address, and then some anonymous ones
        for _ in range(20):
            initialised(stack.enter_context(websocket(flooded, "127.0.0.11")), auth)
        for _ in range(5):
            initialised(stack.enter_context(websocket(flooded, "127.0.0.11")))
        # the account's twenty-first is closed when it signs in
        extra = stack.enter_context(websocket(flooded, "127.0.0.12"))
        extra.send(json.dumps({"type": "connection_init", "payload": auth}))
        with pytest.raises(ConnectionClosed):
            extra.recv(timeout=5)
        assert extra.close_code == 4429


def test_a_socket_without_subscriptions_is_closed_when_idle(flooded: Server) -> None:
    with websocket(flooded) as ws:
        initialised(ws)
        start = time.monotonic()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        # closed after the idle period (2 s here), normally
        assert 1.5 < time.monotonic() - start < 5
        assert ws.close_code == 1000


# -- bodies and headers ---------------------------------------------------------------------


def slow_body(server: Server, source: str, stop: threading.Event) -> None:
    """Declare a 100,000-byte JSON body and send it one byte every half second."""
    try:
        sock = from_address(server, source)
    except OSError:
        return
    with sock:
        head = (
            "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n"
        )
        try:
            sock.sendall(head.encode())
            while not stop.wait(0.5):
                sock.sendall(b" ")
        except OSError:
            return


def test_slow_bodies_do_not_block_other_requests(flooded: Server) -> None:
    # given many more slow senders than the process has request slots
    stop = threading.Event()
    threads = [
        threading.Thread(target=slow_body, args=(flooded, f"127.0.0.{2 + i % 8}", stop))
        for i in range(24)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        # then others are answered at once
        assert_answered_quickly(flooded)
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def test_a_body_has_a_total_deadline(flooded: Server) -> None:
    # given a client that keeps sending its body a byte at a time, never pausing long enough
    # for the per-chunk timeout
    with from_address(flooded, "127.0.0.3") as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n"
        )
        start = time.monotonic()
        answer = b""
        sock.settimeout(0.3)
        while time.monotonic() - start < 15 and b"\r\n\r\n" not in answer:
            try:
                sock.sendall(b" ")
            except OSError:
                break
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
        elapsed = time.monotonic() - start
        sock.settimeout(5)
        with suppress(OSError):
            while b'"extensions"' not in answer and (chunk := sock.recv(65536)):
                answer += chunk
    # then it is answered 408 with a code once the whole body's deadline (3 s here) passes
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"REQUEST_TIMEOUT"' in answer
    assert elapsed < 6


def test_headers_over_16_kib_are_refused_with_431(flooded: Server) -> None:
    with from_address(flooded, "127.0.0.4") as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        answer = b""
        try:
            while sent < 4 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b'"REQUEST_HEADER_FIELDS_TOO_LARGE"' in answer
    assert sent < 4 * 1024 * 1024  # refused long before the attacker was done


def test_many_headers_adding_up_to_over_16_kib_are_refused(flooded: Server) -> None:
    headers = {f"x-h{i}": "v" * 1000 for i in range(20)}
    response = httpx.post(
        f"{flooded.url}/graphql", json={"query": VICTIM}, headers=headers, timeout=10
    )
    assert response.status_code == 431
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    # a request with ordinary headers is still served
    assert victim_seconds(flooded) < 1.0


def run_in_threads(count: int, action: Callable[[int], Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(action, range(count)))


def test_one_client_cannot_take_every_http_connection(flooded: Server) -> None:
    # given an attacker holding idle connections from one address, more than its share
    with ExitStack() as stack:
        held = [stack.enter_context(from_address(flooded, "127.0.0.20")) for _ in range(12)]
        time.sleep(0.3)
        # then the connections past its share (8 here) are answered 503 with a code at once
        refused = []
        for sock in held:
            sock.settimeout(0.2)
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            refused.append(answer)
        assert len(refused) == 4
        for answer in refused:
            assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
            assert b'"TOO_MANY_CONNECTIONS"' in answer
        # and everyone else is answered meanwhile
        assert_answered_quickly(flooded)
        # and a connection within its share still works
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        held[0].settimeout(5)
        assert held[0].recv(65536).startswith(b"HTTP/1.1 200")


def test_a_full_http_connection_budget_leaves_sockets_of_its_own_to_websockets(
    flooded: Server,
) -> None:
    # given the process's HTTP connections all held (eight addresses at their share)
    with ExitStack() as stack:
        for index in range(60):
            stack.enter_context(from_address(flooded, f"127.0.1.{index // 8}"))
        # then a WebSocket is still admitted and answered
        with websocket(flooded, "127.0.2.1") as ws:
            initialised(ws)
