"""GraphiQL, served by GET /graphql, in headless Chromium: it loads with no internet, runs
queries, sends the headers typed in its header editor, and follows a subscription."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.acceptance.conftest import Server
from tests.clients.conftest import browser_log, create_instance, screenshot, ticking

pytestmark = pytest.mark.once  # no second database needed: CI runs these on SQLite only

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RESULT = ".result-window .CodeMirror"
#: the variables and headers editors share the editor-tools pane; the shown one is not .hidden
TOOL_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"

#: schemes of requests a page makes without the network
LOCAL_SCHEMES = {"data", "blob", "about"}


def open_graphiql(driver: webdriver.Chrome, server: Server) -> None:
    """Load GraphiQL from the server with nothing persisted (GraphiQL keeps headers, tabs and
    queries in localStorage) and wait until its editors are up."""
    driver.execute_cdp_cmd(
        "Storage.clearDataForOrigin", {"origin": server.url, "storageTypes": "all"}
    )
    browser_log(driver, "performance")  # forget earlier pages' requests
    browser_log(driver, "browser")
    driver.get(f"{server.url}/graphql")
    try:
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script(
                "return Boolean(document.querySelector(arguments[0])?.CodeMirror)"
                " && Boolean(document.querySelector(arguments[1])?.CodeMirror)",
                QUERY_EDITOR,
                RESULT,
            )
        )
    except TimeoutException:
        console = [entry["message"] for entry in browser_log(driver, "browser")]
        raise AssertionError(f"GraphiQL did not start; console: {console}") from None


def set_editor(driver: webdriver.Chrome, selector: str, text: str) -> None:
    """Replace an editor's text through its CodeMirror instance (what typing ends in, without
    the auto-closing brackets that make typed text unpredictable); GraphiQL sees the change."""
    value = driver.execute_script(
        "const cm = document.querySelector(arguments[0]).CodeMirror;"
        "cm.setValue(arguments[1]); cm.focus(); cm.setCursor(cm.lineCount(), 0);"
        "return cm.getValue();",
        selector,
        text,
    )
    assert value == text


def wait_until_parsed(driver: webdriver.Chrome, text: str) -> None:
    """GraphiQL parses the query 100 ms after the last change, then the page puts it in the
    URL (?q=, for sharing): wait for that, as running it earlier runs the previous document."""
    WebDriverWait(driver, 10, poll_frequency=0.05).until(
        lambda d: d.execute_script(
            "return new URLSearchParams(location.search).get('q') === arguments[0]", text
        )
    )


def set_query(driver: webdriver.Chrome, text: str) -> None:
    """Replace the query and wait until GraphiQL has parsed it."""
    set_editor(driver, QUERY_EDITOR, text)
    wait_until_parsed(driver, text)


def type_query(driver: webdriver.Chrome, text: str) -> None:
    """Type the query as a person would: click into the editor, select all, type over it
    (the editor closes brackets as they are typed and types over the closing ones, so a
    query typed with its closing brackets ends up as typed)."""
    driver.find_element(By.CSS_SELECTOR, QUERY_EDITOR).click()
    field = driver.find_element(By.CSS_SELECTOR, f"{QUERY_EDITOR} textarea")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)
    assert editor_text(driver, QUERY_EDITOR) == text
    wait_until_parsed(driver, text)


def editor_text(driver: webdriver.Chrome, selector: str) -> str:
    """The text in one of GraphiQL's editors."""
    text: str = driver.execute_script(
        "return document.querySelector(arguments[0]).CodeMirror.getValue()", selector
    )
    return text


def run(driver: webdriver.Chrome) -> None:
    """Press GraphiQL's run button."""
    driver.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()


def wait_for_result(
    driver: webdriver.Chrome, check: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> dict[str, Any]:
    """Wait until the result pane shows JSON that ``check`` accepts; return it."""
    seen: list[str] = []

    def shown(d: webdriver.Chrome) -> dict[str, Any] | Literal[False]:
        text = editor_text(d, RESULT)
        seen.append(text)
        try:
            body: dict[str, Any] = json.loads(text)
        except ValueError:
            return False
        return body if check(body) else False

    try:
        result: dict[str, Any] = WebDriverWait(driver, timeout, poll_frequency=0.1).until(shown)
    except Exception as exc:
        raise AssertionError(f"result pane never matched; last shown: {seen[-1:]}") from exc
    return result


def requests_made(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """Requests and WebSocket events from the DevTools performance log since the last call."""
    events = []
    for entry in browser_log(driver, "performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"].startswith("Network."):
            events.append(message)
    return events


def off_server(urls: list[str], server: Server) -> list[str]:
    """The URLs among ``urls`` that are neither local (data:, blob:) nor on the server."""
    host = urlsplit(server.url).netloc
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).netloc != host
    ]


def test_graphiql_loads_offline_and_runs_a_query(browser: webdriver.Chrome, server: Server) -> None:
    open_graphiql(browser, server)
    assert browser.title == "Strawberry GraphiQL"

    # every script and stylesheet comes from the server itself
    assets: list[str] = browser.execute_script(
        "return [...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
    )
    assert any(url.endswith("/static/graphiql/graphiql.min.js") for url in assets), assets
    assert off_server(assets, server) == []

    set_query(browser, "query Regions {\n  regions {\n    code\n    name\n  }\n}")
    run(browser)
    body = wait_for_result(browser, lambda b: "data" in b)
    assert "bj" in {region["code"] for region in body["data"]["regions"]}
    shot = screenshot(browser, "graphiql.png")
    assert shot.stat().st_size > 10_000

    # the schema GraphiQL introspected (within the server's depth and cost limits) is browsable
    browser.find_element(By.CSS_SELECTOR, "[aria-label='Show Documentation Explorer']").click()
    WebDriverWait(browser, 10).until(
        lambda d: (
            "subscription: Subscription"
            in d.find_element(By.CSS_SELECTOR, ".graphiql-doc-explorer").text
        )
    )

    # nothing went anywhere but the server: the page, its assets, the introspection, the query
    events = requests_made(browser)
    urls = [
        e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"
    ]
    assert f"{server.url}/static/graphiql/graphiql.min.js" in urls
    assert off_server(urls, server) == []
    failed = [e["params"] for e in events if e["method"] == "Network.loadingFailed"]
    assert failed == []
    errors = [entry for entry in browser_log(browser, "browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_graphiql_sends_the_headers_typed_in_its_header_editor(
    browser: webdriver.Chrome, server: Server
) -> None:
    tenant = server.account()
    open_graphiql(browser, server)
    type_query(browser, "{ viewer { id } }")
    run(browser)
    anonymous = wait_for_result(browser, lambda b: "data" in b or "errors" in b)
    assert anonymous.get("data", {}).get("viewer") is None

    browser.find_element(By.XPATH, "//button[normalize-space()='Headers']").click()
    set_editor(
        browser, TOOL_EDITOR, json.dumps({"Authorization": f"Bearer {tenant.token}"}, indent=2)
    )
    run(browser)
    body = wait_for_result(browser, lambda b: bool((b.get("data") or {}).get("viewer")))
    assert body["data"]["viewer"]["id"] == tenant.id
    assert "errors" not in body


def test_graphiql_follows_a_subscription(browser: webdriver.Chrome, server: Server) -> None:
    tenant = server.account(balance="500")
    created = create_instance(server, tenant)
    operation_id = created["operation"]["id"]
    open_graphiql(browser, server)
    browser.find_element(By.XPATH, "//button[normalize-space()='Headers']").click()
    set_editor(
        browser, TOOL_EDITOR, json.dumps({"Authorization": f"Bearer {tenant.token}"}, indent=2)
    )
    set_query(
        browser,
        "subscription Follow {\n"
        f'  operationUpdated(id: "{operation_id}") {{\n'
        "    id\n    status\n    progress\n  }\n}",
    )
    run(browser)

    def status(body: dict[str, Any]) -> str | None:
        update = (body.get("data") or {}).get("operationUpdated") or {}
        value: str | None = update.get("status")
        return value

    first = wait_for_result(browser, lambda b: status(b) is not None)
    assert first["data"]["operationUpdated"]["id"] == operation_id
    assert status(first) in ("PENDING", "RUNNING")
    with ticking(server):
        last = wait_for_result(browser, lambda b: status(b) == "SUCCEEDED", timeout=60)
    assert last["data"]["operationUpdated"]["progress"] == 100
    screenshot(browser, "graphiql-subscription.png")

    # GraphiQL used the server's WebSocket, and every frame it got was a text frame
    events = requests_made(browser)
    sockets = [e["params"]["url"] for e in events if e["method"] == "Network.webSocketCreated"]
    assert sockets == [server.url.replace("http://", "ws://") + "/graphql"]
    frames = [
        e["params"]["response"] for e in events if e["method"] == "Network.webSocketFrameReceived"
    ]
    assert frames, "no WebSocket frame received"
    assert {frame["opcode"] for frame in frames} == {1}, "binary WebSocket frames"
    types = [json.loads(frame["payloadData"])["type"] for frame in frames]
    assert types[0] == "connection_ack"
    assert "next" in types
