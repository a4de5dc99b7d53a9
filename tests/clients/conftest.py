"""Fixtures for the real-client tests: servers, the clock, headless Chromium, Node."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from gql.transport.websockets import WebsocketsTransport
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.acceptance.conftest import Server, free_port, start_server, stop_server
from tests.conftest import fresh_database
from tests.factories import Tenant
from tests.fixtures import real_clock_env

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"

#: how Chromium runs here: no sandbox (root in a container), nothing fetched behind our back
CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1400,900",
)

#: a public Linux image the instances below can launch from (bcc.g5.c2m8 is x86_64: the seed's
#: arm64 images do not fit it, and which image comes first otherwise depends on seeded ids)
IMAGE = """query { images(first: 1, filter: {region: "bj", osType: LINUX, generation: BCC,
  types: [PUBLIC], flavor: "bcc.g5.c2m8"}) { nodes { id } } }"""
CREATE_INSTANCES = """mutation($i: CreateInstancesInput!) { createInstances(input: $i) {
  instances { id } operation { id status } userErrors { code message } } }"""
CREATE_IMAGE = """mutation($i: CreateImageInput!) { createImage(input: $i) {
  image { id status } operation { id } userErrors { code message } } }"""
INSTANCE = "query($id: ID!) { instance(id: $id) { status } }"
OPERATION = "query($id: ID!) { operation(id: $id) { status error { code message } } }"

#: how long an operation takes on the simulated clock
OPERATION_SECONDS = 60


def in_ci() -> bool:
    """Whether this is a CI run (CI=true), where a missing client is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(available: bool, what: str) -> None:
    """Skip a test whose client is not installed here; under CI fail instead."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{what} is missing; .ci/run must install it", pytrace=False)
    pytest.skip(f"{what} is not installed")


@contextmanager
def running_server(
    tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`bcc-images serve` as tests/acceptance starts it (simulated clock), on its own fresh
    database, with an admin account; plus ``extra_env``. Operations take a simulated minute,
    so that they finish only when a test moves the clock (the simulated clock also runs at
    real speed: with one-second operations a slow client could miss every update but the
    last)."""
    with fresh_database(tmp_path_factory) as url:
        data_dir = tmp_path_factory.mktemp("client-server-data")
        env = {
            **os.environ,
            "BCC_IMAGES_DATABASE_URL": url,
            "BCC_IMAGES_DATA_DIR": str(data_dir),
            "BCC_IMAGES_OPERATION_SECONDS": str(OPERATION_SECONDS),
            "BCC_IMAGES_OPERATION_SECONDS_PER_GB": "0",
            "BCC_IMAGES_SIMULATED_CLOCK": "1",
            "BCC_IMAGES_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        port = free_port()
        log_path = data_dir / "server.log"
        process = start_server(env, log_path, port)
        server = Server(url=f"http://127.0.0.1:{port}", env=env, process=process, log_path=log_path)
        try:
            server.admin = server.account("ADMIN")
            yield server
        finally:
            stop_server(process)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with the default settings for the real-client tests."""
    with running_server(tmp_path_factory) as running:
        yield running


def ws_url(server: Server) -> str:
    """The WebSocket URL of the GraphQL endpoint."""
    return server.url.replace("http://", "ws://", 1) + "/graphql"


@contextmanager
def ticking(server: Server, seconds: int = 10, every: float = 0.2) -> Iterator[None]:
    """Advance the simulated clock by ``seconds`` every ``every`` real seconds meanwhile (what
    a test does while a client is subscribed); an advance that failed fails the test."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                server.advance(seconds)
            except BaseException as exc:
                failures.append(exc)
                return
            stop.wait(every)

    thread = threading.Thread(target=run, name="clock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
    if failures:
        raise failures[0]


def public_image(server: Server) -> str:
    """A public Linux BCC image in region bj that bcc.g5.c2m8 launches from."""
    image_id: str = server.gql(IMAGE)["data"]["images"]["nodes"][0]["id"]
    return image_id


def create_instance(server: Server, tenant: Tenant) -> dict[str, Any]:
    """Start creating one postpaid instance; returns createInstances' payload (the operation
    is still PENDING or RUNNING: the simulated clock has not moved)."""
    request = {
        "region": "bj",
        "flavor": "bcc.g5.c2m8",
        "imageId": public_image(server),
        "count": 1,
        "systemDisk": {"storageType": "CDS_SSD", "sizeGb": 40},
        "billing": {"timing": "POSTPAID"},
    }
    payload: dict[str, Any] = server.gql(CREATE_INSTANCES, {"i": request}, tenant)["data"][
        "createInstances"
    ]
    assert payload["userErrors"] == [], payload
    assert payload["operation"]["status"] in ("PENDING", "RUNNING"), payload
    return payload


def wait_operation(
    server: Server, tenant: Tenant, operation_id: str, timeout: float = 30
) -> dict[str, Any]:
    """Move the clock until the operation has finished; returns it (status, error)."""
    deadline = time.monotonic() + timeout
    with ticking(server):
        while time.monotonic() < deadline:
            operation: dict[str, Any] = server.gql(OPERATION, {"id": operation_id}, tenant)["data"][
                "operation"
            ]
            if operation["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return operation
            time.sleep(0.1)
    raise AssertionError(f"operation {operation_id} did not finish in {timeout} s")


def running_instance(server: Server, tenant: Tenant) -> str:
    """An instance of the tenant's that is RUNNING (made over plain HTTP)."""
    payload = create_instance(server, tenant)
    done = wait_operation(server, tenant, payload["operation"]["id"])
    assert done["status"] == "SUCCEEDED", done
    instance_id: str = payload["instances"][0]["id"]
    status = server.gql(INSTANCE, {"id": instance_id}, tenant)["data"]["instance"]["status"]
    assert status == "RUNNING"
    return instance_id


def create_image(server: Server, tenant: Tenant, instance_id: str) -> dict[str, Any]:
    """Start capturing a custom image of the instance; returns createImage's payload."""
    variables = {"i": {"name": f"golden-{time.monotonic_ns()}", "instanceId": instance_id}}
    payload: dict[str, Any] = server.gql(CREATE_IMAGE, variables, tenant)["data"]["createImage"]
    assert payload["userErrors"] == [], payload
    assert payload["image"]["status"] == "CREATING", payload
    return payload


# -- headless Chromium -------------------------------------------------------------------


def chromium_paths() -> tuple[str | None, str | None]:
    """Debian's chromium and chromium-driver, if installed."""
    return shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium (Debian's packages, never a downloaded build) with a fresh profile
    and the DevTools performance log on, so tests can see every request a page made."""
    chromium, chromedriver = chromium_paths()
    require(chromium is not None and chromedriver is not None, "chromium / chromium-driver")
    assert chromium is not None
    assert chromedriver is not None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    log_path = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    service = Service(executable_path=chromedriver, log_output=str(log_path), env=real_clock_env())
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save a PNG of the page under tests/clients/artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), path
    return path


def browser_log(driver: webdriver.Chrome, kind: str) -> list[dict[str, Any]]:
    """Chrome's log entries of ``kind`` ("performance" or "browser") since the last call."""
    entries: list[dict[str, Any]] = driver.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


def websocket_transport(server: Server, tenant: Tenant) -> WebsocketsTransport:
    """gql's websockets transport speaking only graphql-transport-ws, authenticated the way
    GraphiQL's header editor does it: the Authorization header in connection_init."""
    return WebsocketsTransport(
        url=ws_url(server),
        init_payload={"Authorization": f"Bearer {tenant.token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        connect_timeout=10,
        ack_timeout=10,
        close_timeout=5,
    )
