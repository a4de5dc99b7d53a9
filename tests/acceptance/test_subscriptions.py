"""Subscriptions over graphql-transport-ws (API.md): a console follows an operation."""

from __future__ import annotations

import json
from typing import Any

from websockets.sync.client import connect

from tests.acceptance.conftest import Server, _recv, _ws_url, create, image
from tests.fixtures import launch

SUBSCRIBE = """subscription($id: ID!) { operationUpdated(id: $id) {
  id status progress targets { id ... on Instance { status } } } }"""


def _messages(ws: Any) -> list[dict[str, Any]]:
    received = []
    while True:
        message = _recv(ws, 30)
        received.append(message)
        if message["type"] in ("complete", "error"):
            return received


def test_operation_updates_until_it_finishes(server: Server) -> None:
    tenant = server.account(balance="500")
    body = create(server, tenant, launch(image(server)))
    operation_id = body["operation"]["id"]
    with connect(_ws_url(server), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {tenant.token}"}}
            )
        )
        assert _recv(ws)["type"] == "connection_ack"
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"id": operation_id}},
                }
            )
        )
        first = _recv(ws)
        assert first["type"] == "next"
        assert first["payload"]["data"]["operationUpdated"]["id"] == operation_id
        server.advance(60)
        rest = _messages(ws)
    updates = [first] + [m for m in rest if m["type"] == "next"]
    last = updates[-1]["payload"]["data"]["operationUpdated"]
    assert last["status"] == "SUCCEEDED"
    assert last["targets"] == [{"id": body["instances"][0]["id"], "status": "RUNNING"}]
    assert rest[-1]["type"] == "complete"


def test_a_bad_token_closes_the_connection(server: Server) -> None:
    with connect(_ws_url(server), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        )
        try:
            ws.recv(timeout=10)
            raised = False
        except Exception as exc:
            raised = "4403" in str(exc)
    assert raised


def test_another_tenants_operation_is_not_followed(server: Server) -> None:
    owner, other = server.account(balance="500"), server.account()
    operation_id = create(server, owner, launch(image(server)))["operation"]["id"]
    with connect(_ws_url(server), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {other.token}"}}
            )
        )
        assert _recv(ws)["type"] == "connection_ack"
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"id": operation_id}},
                }
            )
        )
        message = _recv(ws)
    assert message["type"] in ("error", "next")
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["message"] == f"There is no operation '{operation_id}'."
