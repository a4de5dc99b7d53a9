"""Subscriptions are metered like requests (API.md Limits, R131): each event is charged to the
token's bucket, at most 20 per connection, errors carry codes, frames are text."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.main import create_app
from tests.factories import Factory, Tenant, gql
from tests.fixtures import launch

SUBSCRIBE = "subscription($id: ID!) { operationUpdated(id: $id) { id status targets { id } } }"
CREATE = """mutation($i: CreateInstancesInput!) { createInstances(input: $i) {
  operation { id } userErrors { code } } }"""
PUBLIC_IMAGE = (
    '{ images(first: 1, filter: {region: "bj", osType: LINUX, generation: BCC, types: [PUBLIC], '
    'flavor: "bcc.g5.c2m8"})'
    " { nodes { id } } }"
)


def _client(settings: Settings, **changes: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update=changes))) as client:
        yield client


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    yield from _client(settings, rate_limit_points=100, rate_limit_refill_per_second=0.0001)


def receive(ws: Any) -> dict[str, Any]:
    """One protocol message, which must be a text frame."""
    message = ws.receive()
    assert "text" in message and message.get("bytes") is None, message
    parsed: dict[str, Any] = json.loads(message["text"])
    return parsed


def connect(ws: Any, tenant: Tenant | None) -> None:
    payload = {"Authorization": f"Bearer {tenant.token}"} if tenant else {}
    ws.send_text(json.dumps({"type": "connection_init", "payload": payload}))
    assert receive(ws)["type"] == "connection_ack"


def subscribe(ws: Any, sub_id: str, operation_id: str) -> None:
    ws.send_text(
        json.dumps(
            {
                "id": sub_id,
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": {"id": operation_id}},
            }
        )
    )


def start_operation(client: TestClient, tenant: Tenant) -> str:
    image_id = gql(client, PUBLIC_IMAGE)["data"]["images"]["nodes"][0]["id"]
    body = gql(client, CREATE, {"i": launch(image_id)}, tenant)["data"]["createInstances"]
    assert body["userErrors"] == []
    operation_id: str = body["operation"]["id"]
    return operation_id


def test_an_anonymous_subscription_is_unauthenticated(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws, None)
        subscribe(ws, "1", "op-0000000000")
        message = receive(ws)
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_each_event_is_charged_to_the_tokens_bucket(client: TestClient, factory: Factory) -> None:
    tenant = factory.account(balance="500")
    operation_id = start_operation(client, tenant)
    before = gql(client, "{ __typename }", tenant=tenant)["extensions"]["cost"]["remaining"]
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws, tenant)
        subscribe(ws, "1", operation_id)
        event = receive(ws)
    assert event["type"] == "next"
    # the operation (1) and its one target (1)
    assert event["payload"]["extensions"]["cost"]["requested"] == 2
    after = gql(client, "{ __typename }", tenant=tenant)["extensions"]["cost"]["remaining"]
    # the subscribe itself costs 1, the event 2, the probe query 1
    assert before - after == 1 + 2 + 1


def test_events_wait_for_the_bucket_instead_of_being_lost(
    settings: Settings, engine: Engine, app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="500")
    operation_id = start_operation(app_client, tenant)
    app_client.app.state.worker.tick()  # type: ignore[attr-defined]  # the operation finishes
    for client in _client(settings, rate_limit_points=3, rate_limit_refill_per_second=2.0):
        gql(client, "{ __typename } ", tenant=tenant)  # 1 of 3 points
        gql(client, "{ __typename }  ", tenant=tenant)  # 2 of 3
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            connect(ws, tenant)
            started = time.monotonic()
            subscribe(ws, "1", operation_id)
            event = receive(ws)
            waited = time.monotonic() - started
            assert receive(ws)["type"] == "complete"
    assert event["payload"]["data"]["operationUpdated"]["status"] == "SUCCEEDED"
    assert waited >= 0.4  # the subscribe took the last point; 2 more come at 2 per second


def test_at_most_20_subscriptions_per_connection(
    client: TestClient, app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="500")
    operation_id = start_operation(app_client, tenant)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws, tenant)
        for index in range(20):
            subscribe(ws, str(index), operation_id)
        for _ in range(20):
            assert receive(ws)["type"] == "next"
        subscribe(ws, "21", operation_id)
        refused = receive(ws)
    assert refused["type"] == "error" and refused["id"] == "21"
    assert refused["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"


def test_a_bad_token_closes_the_connection(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_text(
            json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        )
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 4403
