"""A real server: `bcc-images serve` in a subprocess on its own database, driven over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import fresh_database
from tests.factories import Tenant
from tests.fixtures import (
    ACTION,
    CREATE,
    CREATE_IMAGE,
    launch,
)

ROOT = Path(__file__).resolve().parent.parent.parent

NEW_ACCOUNT = """mutation($n: String!, $r: Role!) { createAccount(input: {name: $n, role: $r}) {
  account { id } userErrors { code message } } }"""
TOKEN = """createApiToken(input: {accountId: $a}) { token apiToken { id } userErrors { code } }"""
NEW_TOKEN = f"mutation($a: ID!) {{ {TOKEN} }}"
NEW_TOKEN_AND_TOP_UP = f"""mutation($a: ID!, $b: Decimal!) {{ {TOKEN}
  topUpAccount(input: {{accountId: $a, amount: $b}}) {{ userErrors {{ code message }} }} }}"""


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running service and how to reach and administer it."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    admin: Tenant | None = field(default=None)

    def cli(self, *args: str) -> dict[str, Any]:
        """Run a `bcc-images` command against this server's database; return its JSON output."""
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def account(self, role: str = "CUSTOMER", balance: str | None = None) -> Tenant:
        """Create an account (with a token, and a top-up when a balance is given) as an
        operator would: through the admin API once the server has an administrator, else with
        the CLI (which made that administrator). The CLI costs a Python start-up of its own,
        about 1.5 s of CPU per account.
        """
        name = f"acc-test-{time.monotonic_ns()}"
        if self.admin is None:
            args = ["account", "create", "--name", name, "--role", role]
            out = self.cli(*args, *(["--balance", balance] if balance is not None else []))
            return Tenant(out["id"], out["token"], out["tokenId"])
        made = self.gql(NEW_ACCOUNT, {"n": name, "r": role}, self.admin)["data"]["createAccount"]
        assert made["userErrors"] == [], made["userErrors"]
        account_id = made["account"]["id"]
        if balance is None:
            given = self.gql(NEW_TOKEN, {"a": account_id}, self.admin)["data"]
        else:
            given = self.gql(NEW_TOKEN_AND_TOP_UP, {"a": account_id, "b": balance}, self.admin)
            given = given["data"]
            assert given["topUpAccount"]["userErrors"] == [], given["topUpAccount"]
        token = given["createApiToken"]
        assert token["userErrors"] == [], token["userErrors"]
        return Tenant(account_id, token["token"], token["apiToken"]["id"])

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        tenant: Tenant | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> httpx.Response:
        """POST a GraphQL request."""
        all_headers = dict(tenant.headers) if tenant else {}
        all_headers.update(headers or {})
        return httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=all_headers,
            timeout=timeout,
        )

    def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        tenant: Tenant | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """POST and return the JSON body, asserting HTTP 200 and no errors."""
        response = self.post(query, variables, tenant, timeout=timeout)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        return body

    def advance(self, seconds: int) -> str:
        """Advance the simulated clock (admin); returns the new time."""
        body = self.gql(
            "mutation($s: Int!) { advanceClock(input: {seconds: $s}) { now userErrors { code } } }",
            {"s": seconds},
            self.admin,
            # a month runs its ~750 hours of scheduled jobs before the answer (seconds on a
            # busy machine); the advance is an administrator's tool, not a console read
            timeout=180,
        )["data"]["advanceClock"]
        assert body["userErrors"] == []
        now: str = body["now"]
        return now

    def wait_operation(
        self, operation_id: str, tenant: Tenant, timeout: float = 30
    ) -> dict[str, Any]:
        """Let the clock run until the operation has finished; returns it."""
        query = "query($id: ID!) { operation(id: $id) { status progress error { code message } } }"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            operation: dict[str, Any] = self.gql(query, {"id": operation_id}, tenant)["data"][
                "operation"
            ]
            if operation["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return operation
            self.advance(5)
            time.sleep(0.3)
        raise AssertionError(f"operation {operation_id} did not finish")


def start_server(
    env: dict[str, str], log_path: Path, port: int, workers: int = 1
) -> subprocess.Popen[bytes]:
    """Start `bcc-images serve` and wait until /readyz answers."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not become ready: {log_path.read_text()[-2000:]}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server gracefully (SIGTERM), or kill it."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


#: operations that last one second of a simulated clock the tests may move
QUICK: dict[str, object] = {
    "operation_seconds": 1,
    "operation_seconds_per_gb": 0,
    "simulated_clock": 1,
}


def server_env(url: str, data_dir: Path, **settings: object) -> dict[str, str]:
    """A test server's environment: this database and data folder, warnings-only logs, and
    ``settings`` by name (``operation_seconds=1`` sets BCC_IMAGES_OPERATION_SECONDS=1).
    """
    env = {
        **os.environ,
        "BCC_IMAGES_DATABASE_URL": url,
        "BCC_IMAGES_DATA_DIR": str(data_dir),
        "BCC_IMAGES_LOG_LEVEL": "WARNING",
    }
    env.update({f"BCC_IMAGES_{name.upper()}": str(value) for name, value in settings.items()})
    return env


@contextmanager
def own_server(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    settings: Mapping[str, object],
    *,
    workers: int = 1,
    admin: str | None = "ADMIN",
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """A server of its own on a fresh database (``admin``: the role of ``server.admin``, an
    account made by the CLI; ``env``: more environment variables), stopped afterwards. Its
    log is kept apart from its data folder.
    """
    extra = dict(env or {})
    with fresh_database(tmp_path_factory) as url:
        env = {**server_env(url, tmp_path_factory.mktemp(name), **settings), **extra}
        log_path = tmp_path_factory.mktemp(f"{name}-log") / "server.log"
        port = free_port()
        process = start_server(env, log_path, port, workers=workers)
        server = Server(url=f"http://127.0.0.1:{port}", env=env, process=process, log_path=log_path)
        try:
            if admin is not None:
                server.admin = server.account(admin)
            yield server
        finally:
            stop_server(process)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the acceptance session, with an admin account made by the CLI."""
    # CI runs the import tests once more with objects in an S3 bucket (moto_server)
    store = {
        "object_store_url": os.environ.get("BCC_IMAGES_TEST_OBJECT_STORE_URL", ""),
        "s3_endpoint_url": os.environ.get("BCC_IMAGES_TEST_S3_ENDPOINT_URL", ""),
    }
    with own_server(tmp_path_factory, "server-data", {**QUICK, **store}) as server:
        yield server


#: a public image the default flavor (x86_64) launches
PUBLIC_IMAGE = """query($os: OsType!, $r: ID!) { images(first: 1, filter: {region: $r, osType: $os,
  generation: BCC, types: [PUBLIC], flavor: "bcc.g5.c2m8"}) { nodes { id } } }"""

BALANCE = "{ viewer { balance { amount } inArrears } }"


def image(server: Server, os_type: str = "LINUX", region: str = "bj") -> str:
    nodes = server.gql(PUBLIC_IMAGE, {"os": os_type, "r": region})["data"]["images"]["nodes"]
    image_id: str = nodes[0]["id"]
    return image_id


def balance(server: Server, tenant: Tenant) -> Decimal:
    return Decimal(server.gql(BALANCE, tenant=tenant)["data"]["viewer"]["balance"]["amount"])


def create(server: Server, tenant: Tenant, request: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = server.gql(CREATE, {"i": request}, tenant)["data"]["createInstances"]
    return payload


def running_instance(server: Server, tenant: Tenant, **overrides: Any) -> str:
    body = create(server, tenant, launch(image(server), **overrides))
    assert body["userErrors"] == [], body["userErrors"]
    server.wait_operation(body["operation"]["id"], tenant)
    instance_id: str = body["instances"][0]["id"]
    return instance_id


def make_image(server: Server, tenant: Tenant, **source: str) -> dict[str, Any]:
    body = server.gql(CREATE_IMAGE, {"i": {"name": "golden-web", **source}}, tenant)["data"]
    payload: dict[str, Any] = body["createImage"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


def port_of(server: Server) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


def from_address(server: Server, source: str) -> socket.socket:
    """A TCP connection to the server from ``source`` (a loopback address of the attacker)."""
    sock = socket.create_connection(
        ("127.0.0.1", port_of(server)), timeout=10, source_address=(source, 0)
    )
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def websocket(server: Server, source: str = "127.0.0.2") -> ClientConnection:
    """A graphql-transport-ws WebSocket opened from ``source`` (not yet initialised)."""
    url = server.url.replace("http://", "ws://") + "/graphql"
    return connect(
        url,
        sock=from_address(server, source),
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        open_timeout=10,
    )


def message(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    received: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return received


def initialised(ws: ClientConnection, payload: dict[str, Any] | None = None) -> ClientConnection:
    ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
    assert message(ws)["type"] == "connection_ack"
    return ws


def _ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


def _recv(ws: Any, timeout: float = 10) -> dict[str, Any]:
    """One protocol message; every one must be a text frame (standard clients refuse binary)."""
    frame = ws.recv(timeout=timeout)
    assert isinstance(frame, str), f"binary frame: {frame!r}"
    message: dict[str, Any] = json.loads(frame)
    return message


def act(
    server: Server, name: str, listing_id: str, tenant: Tenant | None, reason: str | None = None
) -> dict[str, Any]:
    body = server.gql(ACTION.format(name=name), {"id": listing_id, "reason": reason}, tenant)
    payload: dict[str, Any] = body["data"][name]
    return payload


def provider_image(server: Server, provider: Tenant) -> str:
    """The provider prepares a custom image from an instance (the product to sell)."""
    instance_id = running_instance(
        server, provider, systemDisk={"storageType": "CDS_SSD", "sizeGb": 40}
    )
    made = server.gql(
        CREATE_IMAGE, {"i": {"name": "acme-waf", "instanceId": instance_id}}, provider
    )["data"]["createImage"]
    server.wait_operation(made["operation"]["id"], provider)
    image_id: str = made["image"]["id"]
    return image_id
