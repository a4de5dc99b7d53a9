"""The npm `graphql-ws` client under Node (tests/clients/follow_operation.mjs), the client
JavaScript consoles use for subscriptions. `npm ci` in tests/clients installs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import Server
from tests.clients.conftest import HERE, create_instance, require, ticking, ws_url

pytestmark = pytest.mark.once  # no second database needed: CI runs these on SQLite only

SCRIPT = HERE / "follow_operation.mjs"
NODE_MODULES = HERE / "node_modules"


@pytest.fixture
def node() -> str:
    """The node binary, with graphql-ws and ws installed by `npm ci` (skipped without them,
    except under CI)."""
    binary = shutil.which("node")
    require(binary is not None, "node")
    assert binary is not None
    require((NODE_MODULES / "graphql-ws" / "package.json").is_file(), "tests/clients/node_modules")
    installed = json.loads((NODE_MODULES / "graphql-ws" / "package.json").read_text())
    locked = json.loads((HERE / "package-lock.json").read_text())
    assert installed["version"] == locked["packages"]["node_modules/graphql-ws"]["version"]
    return binary


def run_node(
    node: str, server: Server, token: str, operation_id: str, cwd: Path = HERE
) -> subprocess.Popen[str]:
    """Start the script; it prints one JSON line per `next` message."""
    return subprocess.Popen(
        [node, str(SCRIPT), ws_url(server), operation_id],
        cwd=cwd,
        env={**os.environ, "BCC_IMAGES_TOKEN": token, "BCC_IMAGES_TIMEOUT_MS": "60000"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 70) -> tuple[int, str, str]:
    """Wait for the script; kill it if it hangs."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"node did not exit: {out}\n{err}") from None
    return process.returncode, out, err


def test_graphql_ws_follows_an_operation_until_it_succeeds(node: str, server: Server) -> None:
    tenant = server.account(balance="500")
    created = create_instance(server, tenant)
    operation_id = created["operation"]["id"]

    process = run_node(node, server, tenant.token, operation_id)
    assert process.stdout is not None
    first_line = process.stdout.readline()  # the operation as it is now, before the clock moves
    with ticking(server):
        code, rest, err = finish(process)

    lines = [first_line, *rest.splitlines()]
    payloads: list[dict[str, Any]] = [json.loads(line) for line in lines if line.strip()]
    assert code == 0, f"exit {code}: {err}\n{lines}"
    updates = [payload["data"]["operationUpdated"] for payload in payloads]
    assert {update["id"] for update in updates} == {operation_id}
    assert updates[0]["status"] in ("PENDING", "RUNNING")
    assert updates[-1]["status"] == "SUCCEEDED"
    assert updates[-1]["targetIds"] == [created["instances"][0]["id"]]
    assert all("errors" not in payload for payload in payloads)


def test_graphql_ws_with_a_bad_token_is_refused(node: str, server: Server) -> None:
    """connection_init with a wrong token closes the connection (4403): graphql-ws reports it
    and the script exits 2 without any update."""
    tenant = server.account(balance="500")
    operation_id = create_instance(server, tenant)["operation"]["id"]

    code, out, err = finish(run_node(node, server, "not-a-token", operation_id), timeout=30)

    assert code == 2, (code, out, err)
    assert out == ""
    assert "4403" in err
