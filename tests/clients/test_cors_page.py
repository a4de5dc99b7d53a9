"""A page on a second origin calls the API with a bearer token from headless Chromium: allowed
when BCC_IMAGES_CORS_ORIGINS lists the page's origin, refused by the browser otherwise."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.acceptance.conftest import Server
from tests.clients.conftest import HERE, browser_log, running_server, screenshot

pytestmark = pytest.mark.once  # no second database needed: CI runs these on SQLite only

PAGE = (HERE / "console.html").read_bytes()


class PageHandler(BaseHTTPRequestHandler):
    """Serves console.html at / and nothing else."""

    def do_GET(self) -> None:
        """The page, or 404."""
        if self.path.split("?")[0] not in ("/", "/console.html"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def page_site() -> Iterator[str]:
    """Serve the page on a free port of 127.0.0.1 in a thread; yields its origin."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=httpd.serve_forever, name="page-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def allowed_origin() -> Iterator[str]:
    """The console's site, whose origin the API lists."""
    with page_site() as origin:
        yield origin


@pytest.fixture(scope="module")
def other_origin() -> Iterator[str]:
    """Another site with the same page, whose origin the API does not list."""
    with page_site() as origin:
        yield origin


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory, allowed_origin: str) -> Iterator[Server]:
    """The API started with BCC_IMAGES_CORS_ORIGINS=<the console's origin>."""
    with running_server(tmp_path_factory, {"BCC_IMAGES_CORS_ORIGINS": allowed_origin}) as server:
        yield server


def call_from_page(
    driver: webdriver.Chrome, origin: str, server: Server, token: str
) -> dict[str, tuple[str, str]]:
    """Open the console on ``origin``, type the API's address and the token, press the button;
    returns what the page shows for HTTP and WebSocket: (state, text)."""
    browser_log(driver, "browser")  # forget earlier pages' console messages
    driver.get(f"{origin}/")
    driver.find_element(By.ID, "api").send_keys(server.url)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "go").click()

    def settled(d: webdriver.Chrome) -> dict[str, tuple[str, str]] | Literal[False]:
        shown = {
            name: (
                d.find_element(By.ID, name).get_attribute("data-state") or "",
                d.find_element(By.ID, name).text,
            )
            for name in ("http", "ws")
        }
        return False if any(state in ("idle", "pending") for state, _ in shown.values()) else shown

    result: dict[str, tuple[str, str]] = WebDriverWait(driver, 20, poll_frequency=0.1).until(
        settled
    )
    return result


def test_a_listed_origin_calls_the_api_with_a_token(
    browser: webdriver.Chrome, cors_server: Server, allowed_origin: str
) -> None:
    tenant = cors_server.account()

    shown = call_from_page(browser, allowed_origin, cors_server, tenant.token)

    http_state, http_text = shown["http"]
    assert http_state == "answered", http_text
    body = json.loads(http_text)
    assert body["data"]["viewer"]["id"] == tenant.id
    ws_state, ws_text = shown["ws"]
    assert ws_state == "answered", ws_text
    assert json.loads(ws_text)["type"] == "connection_ack"
    screenshot(browser, "cors-allowed.png")


def test_the_preflight_allows_the_listed_origin_only(
    cors_server: Server, allowed_origin: str, other_origin: str
) -> None:
    """What the browser asked before the POST above (Authorization and a JSON body make the
    request non-simple), and what it gets for an origin not listed."""

    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{cors_server.url}/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
            timeout=10,
        )

    allowed = preflight(allowed_origin)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == allowed_origin
    allowed_headers = allowed.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in allowed.headers

    refused = preflight(other_origin)
    assert "access-control-allow-origin" not in refused.headers


def test_an_origin_not_listed_is_refused_by_the_browser(
    browser: webdriver.Chrome, cors_server: Server, other_origin: str
) -> None:
    tenant = cors_server.account()

    shown = call_from_page(browser, other_origin, cors_server, tenant.token)

    http_state, http_text = shown["http"]
    assert http_state == "failed", http_text
    assert "Failed to fetch" in http_text
    console = " ".join(entry["message"] for entry in browser_log(browser, "browser"))
    assert "blocked by CORS policy" in console, console
    ws_state, ws_text = shown["ws"]
    assert ws_state == "failed", ws_text
    assert tenant.id not in http_text + ws_text
    screenshot(browser, "cors-refused.png")
