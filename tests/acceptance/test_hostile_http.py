"""The HTTP edge under hostile or careless clients, over real sockets: uploads refused from the
headers, slow clients, untrusted forwarding headers, malformed bodies and expensive documents."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.acceptance.conftest import QUICK, Server, own_server
from tests.factories import Tenant

# timing-sensitive: CI runs this module by itself, never beside another suite
pytestmark = pytest.mark.alone

MiB = 1024 * 1024
UPLOAD_LIMIT = 2 * MiB
STORAGE_QUOTA = 3 * MiB
BOUNDARY = "hostile-boundary-7f3a"
UPLOAD = """mutation($f: Upload!) { uploadObject(input: {region: "bj", file: $f}) {
  object { key sizeBytes } userErrors { code field message } } }"""
GRAPHQL_RESPONSE = "application/graphql-response+json"


# -- the server under test ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with short deadlines, a 2 MiB upload limit and a 3 MiB storage quota."""
    settings = {
        **QUICK,
        "header_timeout_seconds": 1,
        "body_timeout_seconds": 1,
        "max_upload_bytes": UPLOAD_LIMIT,
        "storage_quota_bytes": STORAGE_QUOTA,
        "max_connections": 30,
        "rate_limit_points": 100000,
        "rate_limit_refill_per_second": 0.001,
    }
    with own_server(tmp_path_factory, "hostile-data", settings) as server:
        yield server


@pytest.fixture(scope="module")
def revoked_token(edge: Server) -> str:
    """The secret of a token that was valid and has been revoked (from the CLI)."""
    tenant = edge.account()
    edge.cli("token", "revoke", tenant.token_id)
    return tenant.token


def data_dir(server: Server) -> Path:
    return Path(server.env["BCC_IMAGES_DATA_DIR"])


def stored_files(server: Server) -> set[str]:
    """Every file under ``<data dir>/objects``, relative to it."""
    root = data_dir(server) / "objects"
    if not root.is_dir():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def partial_uploads(server: Server) -> list[str]:
    """Every file under ``<data dir>/tmp`` (partial uploads)."""
    root = data_dir(server) / "tmp"
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def auth_headers(auth: str, revoked: str) -> dict[str, str]:
    """Authorization for the three kinds of unauthenticated uploader."""
    if auth == "none":
        return {}
    if auth == "invalid":
        return {"Authorization": "Bearer not-a-real-token-0123456789"}
    return {"Authorization": f"Bearer {revoked}"}


# -- raw HTTP/1.1 over a socket ----------------------------------------------------------------


@dataclass
class RawResponse:
    """A response read off a socket; ``interim`` holds the 1xx statuses seen before it."""

    status: int
    headers: dict[str, str]
    body: bytes
    interim: list[int] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    def code(self) -> str:
        code: str = self.json()["errors"][0]["extensions"]["code"]
        return code


def parse_response(buffer: bytes) -> RawResponse | None:
    """The first final response in ``buffer``, or None while it is incomplete."""
    interim: list[int] = []
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head, rest = buffer[:end].decode("latin-1"), buffer[end + 4 :]
        status_line, *header_lines = head.split("\r\n")
        status = int(status_line.split(" ")[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            interim.append(status)
            buffer = rest
            continue
        length = int(headers.get("content-length", "0"))
        if len(rest) < length:
            return None
        return RawResponse(status, headers, rest[:length], interim)


def connect(server: Server) -> socket.socket:
    port = urlsplit(server.url).port
    assert port is not None
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def upload_head(length: int, headers: dict[str, str], expect_continue: bool = False) -> bytes:
    """The headers of a multipart upload declaring ``length`` bytes of body."""
    all_headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(length),
        **headers,
    }
    if expect_continue:
        all_headers["Expect"] = "100-continue"
    return request_head("POST", "/graphql", all_headers)


def upload_preamble() -> bytes:
    """The start of a genuine multipart upload body, up to the file's first byte."""
    operations = json.dumps({"query": UPLOAD, "variables": {"f": None}})
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
        '{"0": ["variables.f"]}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="0"; filename="big.img"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def read_response(sock: socket.socket, timeout: float) -> RawResponse | None:
    """Read until one final response is complete; None if none came within ``timeout``."""
    sock.settimeout(timeout)
    buffer = b""
    deadline = time.monotonic() + timeout
    while (response := parse_response(buffer)) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return None
        if not chunk:
            return None
        buffer += chunk
    return response


@dataclass
class Exchange:
    """What a client that kept sending its body saw."""

    response: RawResponse | None
    answered_after: float | None
    closed_after: float | None
    sent: int


def send_body_until_closed(
    sock: socket.socket, preamble: bytes, declared: int, seconds: float
) -> Exchange:
    """Keep sending body bytes (never more than the ``declared`` length) while reading, until
    the server has answered and closed the connection (or ``seconds`` have passed)."""
    sock.setblocking(False)
    start = time.monotonic()
    pending = preamble
    buffer = b""
    response: RawResponse | None = None
    answered_after: float | None = None
    sent = 0
    sending = True
    while (elapsed := time.monotonic() - start) < seconds:
        readable, writable, _ = select.select([sock], [sock] if sending else [], [], 0.05)
        if readable:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return Exchange(response, answered_after, elapsed, sent)
            buffer += chunk
            if response is None and (response := parse_response(buffer)) is not None:
                answered_after = elapsed
        if writable and sending:
            try:
                count = sock.send((pending or bytes(65536))[: declared - sent])
            except (BrokenPipeError, ConnectionResetError):
                sending = False
                continue
            except BlockingIOError:
                continue
            sent += count
            pending = pending[count:]
            sending = sent < declared
    return Exchange(response, answered_after, None, sent)


# -- helpers over httpx ------------------------------------------------------------------------


def post_raw(
    server: Server, content: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/graphql",
        content=content,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=30,
    )


def post_multipart(
    server: Server,
    tenant: Tenant,
    operations: dict[str, Any] | str,
    files_map: dict[str, Any] | str,
    data: bytes = b"hello, object store",
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/graphql",
        headers=tenant.headers,
        data={
            "operations": operations if isinstance(operations, str) else json.dumps(operations),
            "map": files_map if isinstance(files_map, str) else json.dumps(files_map),
        },
        files={"0": ("disk.img", data, "application/octet-stream")},
        timeout=30,
    )


def upload(server: Server, tenant: Tenant, data: bytes) -> dict[str, Any]:
    response = post_multipart(
        server, tenant, {"query": UPLOAD, "variables": {"f": None}}, {"0": ["variables.f"]}, data
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["uploadObject"]
    return payload


def assert_refusal(response: httpx.Response, status: int, code: str) -> None:
    """A refusal the application wrote: JSON errors with a code, at the given status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(("application/json", GRAPHQL_RESPONSE))
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == code, errors
    assert isinstance(errors[0]["message"], str)


def assert_raw_refusal(response: RawResponse | None, status: int, code: str) -> RawResponse:
    assert response is not None, "no response"
    assert response.status == status, (response.interim, response.status, response.body)
    assert response.headers["content-type"].startswith("application/json")
    assert response.code() == code, response.body
    return response


# -- 1. uploads refused from the headers alone -------------------------------------------------

AUTHS = ["none", "invalid", "revoked"]
DECLARED = [pytest.param(2_000_000, id="2MB"), pytest.param(500_000_000, id="500MB")]


@pytest.mark.parametrize("declared", DECLARED)
@pytest.mark.parametrize("auth", AUTHS)
def test_unauthenticated_upload_expecting_continue_is_refused_without_100_continue(
    edge: Server, revoked_token: str, auth: str, declared: int
) -> None:
    # given an upload's headers that ask the server whether to send the body
    with connect(edge) as sock:
        sock.sendall(upload_head(declared, auth_headers(auth, revoked_token), expect_continue=True))

        # when the client waits, sending no body at all
        response = read_response(sock, timeout=5)

    # then the answer is 401 UNAUTHENTICATED, and the server never invited the body
    refused = assert_raw_refusal(response, 401, "UNAUTHENTICATED")
    assert refused.interim == []


@pytest.mark.parametrize("declared", DECLARED)
@pytest.mark.parametrize("auth", AUTHS)
def test_unauthenticated_upload_that_keeps_sending_gets_401_and_is_closed(
    edge: Server, revoked_token: str, auth: str, declared: int
) -> None:
    # given an unauthenticated upload that declares a large body and starts sending it
    objects_before = stored_files(edge)
    with connect(edge) as sock:
        sock.sendall(upload_head(declared, auth_headers(auth, revoked_token)))

        # when the client keeps sending for as long as the connection lets it
        exchange = send_body_until_closed(sock, upload_preamble(), declared, seconds=10)

    # then it is answered 401 within a few seconds, and the connection is closed
    refused = assert_raw_refusal(exchange.response, 401, "UNAUTHENTICATED")
    assert refused.headers.get("connection") == "close"
    assert exchange.answered_after is not None and exchange.answered_after < 4, exchange
    assert exchange.closed_after is not None and exchange.closed_after < 6, exchange
    # and it kept nothing, not even a partial file
    assert partial_uploads(edge) == []
    assert stored_files(edge) == objects_before


# -- 2. upload size and storage quota --------------------------------------------------------


def test_small_authenticated_upload_is_stored(edge: Server) -> None:
    # given a customer
    tenant = edge.account()

    # when it uploads a small file
    payload = upload(edge, tenant, b"a small disk image")

    # then the object is stored under a new key
    assert payload["userErrors"] == []
    key = payload["object"]["key"]
    assert key.startswith("obj-")
    assert payload["object"]["sizeBytes"] == str(len(b"a small disk image"))
    assert f"bj/{key}" in stored_files(edge)


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param(UPLOAD_LIMIT + MiB // 2, id="limit-plus-half-MiB"),
        pytest.param(5 * UPLOAD_LIMIT, id="five-times-the-limit"),
    ],
)
def test_upload_declaring_more_than_the_upload_limit_is_refused_before_the_body(
    edge: Server, declared: int
) -> None:
    # given an authenticated upload declaring more than the 2 MiB upload limit
    tenant = edge.account()
    with connect(edge) as sock:
        sock.sendall(upload_head(declared, tenant.headers, expect_continue=True))

        # when the client waits for the server's go-ahead
        response = read_response(sock, timeout=5)

    # then it is refused with 413 UPLOAD_TOO_LARGE, without asking for the body
    refused = assert_raw_refusal(response, 413, "UPLOAD_TOO_LARGE")
    assert refused.interim == []


@pytest.mark.parametrize(
    "held",
    [
        pytest.param([2_000_000, 600_000], id="half-MB-left"),
        pytest.param([2_000_000], id="1.1MB-left"),
    ],
)
def test_upload_within_the_limit_but_over_the_remaining_quota_is_refused_before_the_body(
    edge: Server, held: list[int]
) -> None:
    # given a customer holding most of its 3 MiB storage quota
    tenant = edge.account()
    for size in held:
        assert upload(edge, tenant, bytes(size))["userErrors"] == []
    remaining = STORAGE_QUOTA - sum(held)
    assert remaining < 0.6 * UPLOAD_LIMIT  # far below the ~2 MiB file a 2 MiB body carries

    # when it declares an upload of exactly the upload limit (2 MiB)
    with connect(edge) as sock:
        sock.sendall(upload_head(UPLOAD_LIMIT, tenant.headers, expect_continue=True))
        response = read_response(sock, timeout=5)

    # then it is refused with 413 STORAGE_QUOTA_EXCEEDED, without asking for the body
    refused = assert_raw_refusal(response, 413, "STORAGE_QUOTA_EXCEEDED")
    assert refused.interim == []


# -- 3. slow clients --------------------------------------------------------------------------


def test_client_trickling_its_headers_is_disconnected(edge: Server) -> None:
    # given a request whose headers would take about 20 seconds at one byte per 0.3 s
    head = request_head("GET", "/healthz", {"Accept": "application/json", "X-Pad": "a" * 20})
    with connect(edge) as sock:
        start = time.monotonic()
        closed_after: float | None = None

        # when the client sends them one byte at a time
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
                readable, _, _ = select.select([sock], [], [], 0.3)
                if readable and sock.recv(65536) == b"":
                    closed_after = time.monotonic() - start
                    break
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - start
                break

    # then the server drops the connection at its 1-second header deadline
    assert closed_after is not None, "the server waited for the whole header"
    assert 0.5 < closed_after < 3.5


def test_client_that_stops_sending_its_body_gets_408(edge: Server) -> None:
    # given a request declaring 100 bytes of body
    head = request_head(
        "POST", "/graphql", {"Content-Type": "application/json", "Content-Length": "100"}
    )
    with connect(edge) as sock:
        start = time.monotonic()

        # when only 10 bytes arrive
        sock.sendall(head + b'{"query": ')
        response = read_response(sock, timeout=8)
        elapsed = time.monotonic() - start

    # then the server gives up after its body deadline with 408 REQUEST_TIMEOUT
    assert_raw_refusal(response, 408, "REQUEST_TIMEOUT")
    assert elapsed < 4


# -- 4. no Server header ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        pytest.param("GET", "/healthz", {}, id="healthz"),
        pytest.param("POST", "/graphql", {"json": {"query": "{ __typename }"}}, id="graphql"),
        pytest.param(
            "POST",
            "/graphql",
            {"json": {"query": "{ __typename }"}, "headers": {"Authorization": "Bearer nope"}},
            id="refused",
        ),
        pytest.param("GET", "/no-such-path", {}, id="not-found"),
    ],
)
def test_responses_carry_no_server_header(
    edge: Server, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    # when any request is answered
    response = httpx.request(method, f"{edge.url}{path}", timeout=10, **kwargs)

    # then the software behind it is not advertised
    assert "server" not in response.headers, response.headers


# -- 5. X-Forwarded-For is not trusted --------------------------------------------------------


def test_forwarded_for_header_does_not_get_a_fresh_rate_limit_bucket(edge: Server) -> None:
    # given an anonymous client that has spent points from 127.0.0.1
    query = "{ regions { code } }"
    first = edge.post(query)
    assert first.status_code == 200, first.text
    before = first.json()["extensions"]["cost"]["remaining"]

    # when it repeats the query claiming to be forwarded for another address
    second = edge.post(query, headers={"X-Forwarded-For": "203.0.113.9"})

    # then the points come out of the same bucket
    assert second.status_code == 200, second.text
    assert second.json()["extensions"]["cost"]["remaining"] < before


# -- 6. malformed bodies ----------------------------------------------------------------------

DEEP = 50_000
MALFORMED = [
    pytest.param(
        (
            '{"query": "query($v: String) { __typename }", "variables": {"v": '
            + "[" * DEEP
            + "]" * DEEP
            + "}}"
        ).encode(),
        id="variables-nested-50000-deep",
    ),
    pytest.param(
        b'{"query": "query($v: String) { __typename }", "variables": {"v": "\xff\xfe\xc3("}}',
        id="invalid-utf8",
    ),
    pytest.param(
        b'{"query": "query($v: String) { __typename }", "variables": {"v": "\\ud800"}}',
        id="lone-surrogate",
    ),
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_json_body_is_a_400_with_a_code(edge: Server, body: bytes) -> None:
    # when a body that is not valid JSON text (or too deep to parse) is posted
    response = post_raw(edge, body)

    # then it is refused as a bad request, in JSON, on an intact connection
    assert_refusal(response, 400, "BAD_REQUEST")


def test_json_number_for_a_decimal_is_refused_with_a_code(edge: Server) -> None:
    # given an admin topping up with a number instead of a Decimal string
    mutation = 'mutation { topUpAccount(input: {accountId: "acc-xxxxxxxx", amount: 1e300}) { userErrors { code } } }'

    # when it is sent by a GraphQL-over-HTTP client (which gets 4xx for invalid documents)
    response = edge.post(mutation, tenant=edge.admin, headers={"Accept": GRAPHQL_RESPONSE})

    # then the document is refused in validation, never executed
    assert_refusal(response, 400, "GRAPHQL_VALIDATION_FAILED")
    assert "data" not in response.json()


@pytest.mark.parametrize(
    ("operations", "files_map"),
    [
        pytest.param(
            {"query": UPLOAD, "variables": {"f": None}},
            {"0": ["variables.f.__proto__"]},
            id="map-to-proto",
        ),
        pytest.param(
            {"query": UPLOAD, "variables": {"f": None}},
            {"0": ["variables.nope"]},
            id="map-to-undeclared-variable",
        ),
        pytest.param(
            {"query": UPLOAD, "variables": {"f": None}}, {"0": ["query"]}, id="map-to-query"
        ),
        pytest.param(
            {"query": UPLOAD, "variables": {"f": None}}, '{"0": ["variables.f"', id="map-not-json"
        ),
        pytest.param('{"query": "mutation', {"0": ["variables.f"]}, id="operations-not-json"),
    ],
)
def test_malformed_multipart_request_is_a_400_with_a_code(
    edge: Server, operations: dict[str, Any] | str, files_map: dict[str, Any] | str
) -> None:
    # given a customer whose upload request is malformed
    tenant = edge.account()
    objects_before = stored_files(edge)

    # when it is posted
    response = post_multipart(edge, tenant, operations, files_map)

    # then it is refused as a bad request, and nothing is stored
    assert_refusal(response, 400, "BAD_REQUEST")
    assert stored_files(edge) == objects_before
    assert partial_uploads(edge) == []


TWO_FIELDS = """mutation($f: Upload!, $g: Upload!) {
  a: uploadObject(input: {region: "bj", file: $f}) { object { key } userErrors { code message } }
  b: uploadObject(input: {region: "bj", file: $g}) { object { key } userErrors { code message } }
}"""
ONE_VARIABLE_TWICE = """mutation($f: Upload!) {
  a: uploadObject(input: {region: "bj", file: $f}) { object { key } userErrors { code message } }
  b: uploadObject(input: {region: "bj", file: $f}) { object { key } userErrors { code message } }
}"""


@pytest.mark.parametrize(
    ("operations", "files_map"),
    [
        pytest.param(
            {"query": TWO_FIELDS, "variables": {"f": None, "g": None}},
            {"0": ["variables.f", "variables.g"]},
            id="one-file-mapped-to-two-variables",
        ),
        pytest.param(
            {"query": ONE_VARIABLE_TWICE, "variables": {"f": None}},
            {"0": ["variables.f"]},
            id="one-variable-used-twice",
        ),
    ],
)
def test_one_upload_used_by_two_fields_is_stored_once(
    edge: Server, operations: dict[str, Any], files_map: dict[str, Any]
) -> None:
    # given a customer sending one file for two uploadObject fields
    tenant = edge.account()
    objects_before = stored_files(edge)

    # when the request runs
    response = post_multipart(edge, tenant, operations, files_map)

    # then the first field stores it and the second says it was already stored
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    first, second = body["data"]["a"], body["data"]["b"]
    assert first["userErrors"] == []
    key = first["object"]["key"]
    assert key.startswith("obj-")
    assert second["object"] is None
    assert [e["code"] for e in second["userErrors"]] == ["INVALID_INPUT"]
    # and the one stored file is the object the client was told about
    assert stored_files(edge) - objects_before == {f"bj/{key}"}
    assert partial_uploads(edge) == []


# -- 7. operations a method may not carry ----------------------------------------------------


def test_subscription_over_post_is_not_supported(edge: Server) -> None:
    # when a subscription is posted over HTTP
    response = edge.post('subscription { operationUpdated(id: "op-0000000000") { id } }')

    # then it is refused: subscriptions are served over WebSocket
    assert_refusal(response, 400, "OPERATION_NOT_SUPPORTED")


def test_mutation_over_get_is_not_allowed(edge: Server) -> None:
    # when a mutation is sent with GET
    response = httpx.get(
        f"{edge.url}/graphql", params={"query": "mutation { __typename }"}, timeout=10
    )

    # then it is refused: mutations are sent with POST
    assert_refusal(response, 405, "METHOD_NOT_ALLOWED")


# -- 8. parse and validation errors ------------------------------------------------------------

#: GraphQL-over-HTTP: application/json answers request errors with 200, the new media type 400
ACCEPTS = [
    pytest.param("application/json", 200, id="json"),
    pytest.param(GRAPHQL_RESPONSE, 400, id="graphql-response"),
]


@pytest.mark.parametrize(("accept", "status"), ACCEPTS)
def test_parse_error_is_reported_with_its_cost(edge: Server, accept: str, status: int) -> None:
    # when a document that does not parse is posted
    response = edge.post("{ regions { code }", headers={"Accept": accept})

    # then it is refused as a parse failure, with the cost report
    assert_refusal(response, status, "GRAPHQL_PARSE_FAILED")
    assert "remaining" in response.json()["extensions"]["cost"]


@pytest.mark.parametrize(("accept", "status"), ACCEPTS)
def test_unknown_field_is_reported_with_its_cost(edge: Server, accept: str, status: int) -> None:
    # when a document asking for a field the schema lacks is posted
    response = edge.post("{ regions { code noSuchField } }", headers={"Accept": accept})

    # then it is refused as a validation failure, with the cost report
    assert_refusal(response, status, "GRAPHQL_VALIDATION_FAILED")
    assert "remaining" in response.json()["extensions"]["cost"]


# -- 9. fragment fan-out ------------------------------------------------------------------------


def fan_out_document(levels: int = 30) -> str:
    """Each fragment spreads the next twice: 2**levels selections once expanded."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return " ".join(
        ["query { ...F0 }", *fragments, f"fragment F{levels} on Query {{ __typename }}"]
    )


def test_fragment_fan_out_is_refused_quickly_while_health_checks_answer(edge: Server) -> None:
    # given the fan-out document and a health check sent at the same moment
    document = fan_out_document()
    start_together = threading.Barrier(2)

    def attack() -> tuple[httpx.Response, float]:
        start_together.wait()
        start = time.monotonic()
        response = edge.post(document)
        return response, time.monotonic() - start

    def health() -> httpx.Response:
        start_together.wait()
        return httpx.get(f"{edge.url}/healthz", timeout=10)

    # when both are sent
    with ThreadPoolExecutor(max_workers=2) as pool:
        attacked = pool.submit(attack)
        checked = pool.submit(health)
        response, elapsed = attacked.result(timeout=30)
        healthz = checked.result(timeout=30)

    # then the document is refused as too complex in well under a second
    assert_refusal(response, 200, "QUERY_TOO_COMPLEX")
    assert elapsed < 0.5
    # and the service stayed responsive
    assert healthz.status_code == 200
    assert healthz.json() == {"status": "ok"}
