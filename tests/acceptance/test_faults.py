"""Faults and edges over real sockets (R156, R157): every failure is GraphQL JSON with a code —
a database that goes away, connections cut under the server, bodies that cannot be parsed,
clients that leave mid-body — and the WebSocket keeps the same rules as HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text
from websockets.exceptions import ConnectionClosed

from tests.acceptance.conftest import (
    QUICK,
    Server,
    free_port,
    from_address,
    initialised,
    message,
    own_server,
    server_env,
    start_server,
    stop_server,
    websocket,
)
from tests.conftest import TEST_DATABASE_ENV, fresh_database

# timing-sensitive: CI runs this module by itself, never beside another suite
pytestmark = pytest.mark.alone

ON_POSTGRES = os.environ.get(TEST_DATABASE_ENV, "sqlite") != "sqlite"
REGIONS = "{ regions { code } }"


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {**QUICK, "rate_limit_points": 1_000_000, "rate_limit_refill_per_second": 1e6}
    with own_server(tmp_path_factory, "faults", settings) as server:
        yield server


def assert_coded(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["errors"][0]["extensions"]["code"] == code, body
    return body


# -- the database goes away -----------------------------------------------------------------


class TcpProxy:
    """A TCP relay to PostgreSQL that a test can cut (every connection reset) and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.open = True
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        self.open = False
        with self._lock:
            for sock in self._sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self._stop.set()
        self._listener.close()


@pytest.mark.skipif(not ON_POSTGRES, reason="a SQLite file cannot become unreachable")
def test_a_database_that_goes_away_is_answered_503_and_comes_back(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with fresh_database(tmp_path_factory) as url:
        parsed = make_url(url)
        proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
        try:
            via_proxy = parsed.set(port=proxy.port).render_as_string(hide_password=False)
            env = server_env(via_proxy, tmp_path_factory.mktemp("gone-data"), **QUICK)
            log_path = tmp_path_factory.mktemp("gone-log") / "server.log"
            port = free_port()
            process = start_server(env, log_path, port)
            base = f"http://127.0.0.1:{port}"
            try:
                assert httpx.post(f"{base}/graphql", json={"query": REGIONS}).status_code == 200
                # when the database can no longer be reached
                proxy.cut()
                response = httpx.post(f"{base}/graphql", json={"query": REGIONS}, timeout=30)
                # then requests are answered 503 with a code and Retry-After, in JSON
                body = assert_coded(response, 503, "SERVICE_UNAVAILABLE")
                assert "data" not in body or body["data"] is None
                assert int(response.headers["retry-after"]) >= 1
                ready = httpx.get(f"{base}/readyz", timeout=30)
                assert ready.status_code == 503
                assert ready.json()["status"] == "unavailable"
                assert ready.json()["checks"]["database"] == "unavailable"
                assert httpx.get(f"{base}/healthz").status_code == 200
                # and once it is back, so is the service
                proxy.restore()
                deadline = time.monotonic() + 10
                while True:
                    again = httpx.post(f"{base}/graphql", json={"query": REGIONS}, timeout=30)
                    if again.status_code == 200 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert again.status_code == 200, again.text
                logged = log_path.read_text()
                assert "Exception in ASGI application" not in logged
                assert "INTERNAL_SERVER_ERROR" not in logged
            finally:
                stop_server(process)
        finally:
            proxy.close()


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's connections can be terminated")
def test_connections_terminated_under_the_server_are_a_503_not_a_500(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with fresh_database(tmp_path_factory) as url:
        name = f"bcc-terminated-{free_port()}"
        env = server_env(f"{url}&application_name={name}", tmp_path_factory.mktemp("cut"), **QUICK)
        log_path = tmp_path_factory.mktemp("cut-log") / "server.log"
        port = free_port()
        process = start_server(env, log_path, port)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(5):  # warm the pool
                assert httpx.post(f"{base}/graphql", json={"query": REGIONS}).status_code == 200
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    killed = conn.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = :name"
                        ),
                        {"name": name},
                    ).scalar_one()
            finally:
                engine.dispose()
            assert killed >= 1
            statuses = []
            for _ in range(5):
                response = httpx.post(f"{base}/graphql", json={"query": REGIONS}, timeout=30)
                assert response.headers["content-type"].startswith("application/json")
                if response.status_code != 200:
                    assert_coded(response, 503, "SERVICE_UNAVAILABLE")
                    assert response.headers["retry-after"] == "1"
                statuses.append(response.status_code)
            assert statuses[-1] == 200
            assert set(statuses) <= {200, 503}
            assert "INTERNAL_SERVER_ERROR" not in log_path.read_text()
        finally:
            stop_server(process)


# -- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [40, 253, 600, 1023])
def test_deeply_nested_variables_are_a_400_with_a_code(faults: Server, depth: int) -> None:
    query = json.dumps("query($f: ImageFilter) { images(filter: $f) { totalCount } }")
    nested = "[" * depth + '"x"' + "]" * depth
    body = f'{{"query": {query}, "variables": {{"f": {{"region": {nested}}}}}}}'
    response = httpx.post(
        f"{faults.url}/graphql",
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert_coded(response, 400, "BAD_REQUEST")
    # and the connection is still good for the next request
    assert httpx.post(f"{faults.url}/graphql", json={"query": REGIONS}).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        pytest.param("multipart/form-data", b"--x\r\n", id="no-boundary"),
        pytest.param("multipart/form-data; boundary=zz", b"garbage", id="no-parts"),
        pytest.param(
            "multipart/form-data; boundary=zz",
            b'--zz\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}',
            id="truncated",
        ),
        pytest.param(
            "multipart/form-data; boundary=zz",
            b"--zz\r\nContent-Disposition: nonsense\r\n\r\nx\r\n--zz--\r\n",
            id="bad-disposition",
        ),
    ],
)
def test_malformed_multipart_is_a_json_400(
    faults: Server, content_type: str, content: bytes
) -> None:
    tenant = faults.account()
    response = httpx.post(
        f"{faults.url}/graphql",
        content=content,
        headers={**tenant.headers, "Content-Type": content_type},
    )
    assert_coded(response, 400, "BAD_REQUEST")


def test_a_client_leaving_mid_body_is_logged_as_such_not_as_a_500(faults: Server) -> None:
    assert faults.log_path is not None
    before = faults.log_path.read_text()
    with from_address(faults, "127.0.0.5") as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"query": "'
        )
        time.sleep(0.3)
    time.sleep(0.5)
    logged = faults.log_path.read_text()[len(before) :]
    assert "Exception in ASGI application" not in logged
    assert "status=500" not in logged and '"status": 500' not in logged


def test_malformed_http_is_answered_in_json(faults: Server) -> None:
    with from_address(faults, "127.0.0.5") as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost x\r\n\r\n")
        answer = b""
        sock.settimeout(5)
        with suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# -- the WebSocket keeps the HTTP rules ------------------------------------------------------


def subscribe(ws: Any, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
    payload = {"query": query, "variables": variables or {}}
    ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


def test_a_nul_in_a_subscription_argument_is_refused_with_a_code(faults: Server) -> None:
    with websocket(faults) as ws:
        initialised(ws)
        subscribe(
            ws,
            "1",
            "subscription($id: ID!) { imageUpdated(id: $id) { id } }",
            {"id": "m-aaaa\u0000aaa"},
        )
        first = message(ws)
        errors = first["payload"]["errors"] if first["type"] == "next" else first["payload"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", first
        assert "Internal" not in errors[0]["message"]


def test_mutations_are_refused_over_the_socket_which_stays_open(faults: Server) -> None:
    tenant = faults.account(balance="100")
    with websocket(faults) as ws:
        initialised(ws, {"Authorization": f"Bearer {tenant.token}"})
        subscribe(
            ws,
            "m",
            'mutation { tagResources(input: {resourceIds: ["m-aaaaaaaa"], tags: []}) '
            "{ userErrors { code } } }",
        )
        refused = message(ws)
        assert refused["type"] == "error", refused
        assert refused["id"] == "m"
        assert refused["payload"][0]["extensions"]["code"] == "OPERATION_NOT_SUPPORTED"
        # the socket is still open and answers a query
        subscribe(ws, "q", REGIONS)
        answered = message(ws)
        assert answered["type"] == "next", answered
        assert answered["payload"]["data"]["regions"]


def test_queries_over_the_socket_have_the_http_limits(faults: Server) -> None:
    with websocket(faults) as ws:
        initialised(ws)
        subscribe(
            ws,
            "q",
            "{ images(first: 100) { nodes { id region { code } os { name } chargeRoot { listing { id } } } } }"
            * 1,
        )
        answer = message(ws)
        assert answer["type"] == "next", answer
        assert message(ws) == {"id": "q", "type": "complete"}
        # a document over the cost limit is refused as over HTTP
        subscribe(
            ws,
            "big",
            "{ a: images(first: 500) { nodes { id region { code } } } b: images(first: 500) { nodes { id region { code } } } }",
        )
        refused = message(ws)
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", refused


def test_a_revoked_token_closes_its_sockets_within_two_seconds(faults: Server) -> None:
    tenant = faults.account()
    with websocket(faults) as ws:
        initialised(ws, {"Authorization": f"Bearer {tenant.token}"})
        faults.cli("token", "revoke", tenant.token_id)
        revoked_at = time.monotonic()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert time.monotonic() - revoked_at < 2.0
        assert ws.close_code == 4403


# -- budgets and optional parts ---------------------------------------------------------------


def test_no_free_connection_in_time_is_a_503_with_retry_after_never_a_500(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # given a process with one request slot that waits at most a tenth of a second for it
    settings = {
        **QUICK,
        "db_pool_size": 2,
        "db_max_overflow": 1,
        "db_wait_seconds": 0.1,
        "response_cache": 0,
        "rate_limit_points": 1_000_000,
        "rate_limit_refill_per_second": 1e6,
    }
    query = "{ images(first: 100) { nodes { id name region { code } os { name } } } }"
    with own_server(tmp_path_factory, "one-slot", settings, admin=None) as server:
        with ThreadPoolExecutor(max_workers=24) as pool:
            answers = list(
                pool.map(
                    lambda _: httpx.post(
                        f"{server.url}/graphql", json={"query": query}, timeout=30
                    ),
                    range(96),
                )
            )
        statuses = Counter(answer.status_code for answer in answers)
        # then every answer is either the page or a coded 503 the client may retry
        assert set(statuses) <= {200, 503}, statuses
        assert statuses[200] > 0
        for answer in answers:
            assert answer.headers["content-type"].startswith("application/json")
            if answer.status_code == 503:
                assert_coded(answer, 503, "SERVICE_UNAVAILABLE")
                assert answer.headers["retry-after"] == "1"
        assert server.log_path is not None
        assert "INTERNAL_SERVER_ERROR" not in server.log_path.read_text()


def test_redis_down_degrades_readiness_and_requests_are_still_answered(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = {**QUICK, "redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    with own_server(tmp_path_factory, "no-redis", settings, admin=None) as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["redis"] == "unavailable"
        assert ready.json()["checks"]["database"] == "ok"
        answered = httpx.post(f"{server.url}/graphql", json={"query": REGIONS}, timeout=30)
        assert answered.status_code == 200
        assert answered.json()["data"]["regions"]
