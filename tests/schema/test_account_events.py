"""accountEvents in process (R179): signed in only; a malformed or foreign ``after`` is
refused with BAD_USER_INPUT; each event is charged to the token's bucket like any other
subscription's, and holds no database connection between events; a client resumes after an
event by its id."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from starlette.testclient import TestClient

from app.config import Settings
from app.database import read_session, write_session
from app.webhooks import outbox
from app.webhooks.models import AccountEvent
from app.webhooks.rules import WebhookEventType
from tests.factories import Factory, Tenant, gql
from tests.schema.limits.test_subscription_limits import _client, connect, receive

EVENTS = "subscription($after: ID) { accountEvents(after: $after) { id type data } }"
AT = datetime(2027, 1, 10, 12, tzinfo=UTC)


def _subscribe(ws: Any, variables: dict[str, Any]) -> None:
    payload = {"query": EVENTS, "variables": variables}
    ws.send_text(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


def _first(client: TestClient, tenant: Tenant | None, variables: dict[str, Any]) -> Any:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws, tenant)
        _subscribe(ws, variables)
        return receive(ws)


def _emit(engine: Engine, tenant: Tenant, n: int) -> str:
    """Record an event of the tenant's; returns its id."""
    with write_session(engine) as session:
        outbox.emit(
            session=session,
            account_ids=[tenant.id],
            event=WebhookEventType.OPERATION_FINISHED,
            data={"n": n},
            now=AT,
        )
    with read_session(engine) as session:
        newest = select(AccountEvent.id).where(AccountEvent.account_id == tenant.id)
        event_id = session.exec(newest.order_by(col(AccountEvent.seq).desc())).first()
        assert event_id is not None
        return event_id


def _error(message: dict[str, Any]) -> dict[str, Any]:
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    error: dict[str, Any] = errors[0]
    return error


def test_only_the_signed_in_and_only_after_their_own_events(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    mine, theirs = factory.account(), factory.account()
    anonymous = _error(_first(app_client, None, {}))
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"
    malformed = _error(_first(app_client, mine, {"after": "op-0000000000"}))
    assert malformed["extensions"]["code"] == "BAD_USER_INPUT"
    foreign = _error(_first(app_client, mine, {"after": _emit(engine, theirs, 1)}))
    assert foreign["extensions"]["code"] == "BAD_USER_INPUT"
    assert "has no event" in foreign["message"]


@pytest.fixture
def metered(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """A server whose buckets do not refill while the test runs."""
    yield from _client(settings, rate_limit_points=100, rate_limit_refill_per_second=0.0001)


def test_each_event_is_charged_and_resumed_after_by_its_id(
    metered: TestClient, factory: Factory, engine: Engine
) -> None:
    app_client = metered
    tenant = factory.account()
    start = _emit(engine, tenant, 1)
    before = gql(app_client, "{ __typename }", tenant=tenant)["extensions"]["cost"]["remaining"]
    with app_client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws, tenant)
        _subscribe(ws, {"after": start})
        _emit(engine, tenant, 2)
        _emit(engine, tenant, 3)
        first, second = receive(ws), receive(ws)
        # between events the subscription holds no database connection
        engine_of_app: Engine = app_client.app.state.engine  # type: ignore[attr-defined]
        deadline = time.monotonic() + 2  # (a read the last commit woke may be finishing)
        while engine_of_app.pool.checkedout() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)
        assert engine_of_app.pool.checkedout() == 0  # type: ignore[attr-defined]
    data = [m["payload"]["data"]["accountEvents"] for m in (first, second)]
    assert [(d["type"], d["data"]) for d in data] == [
        ("OPERATION_FINISHED", {"n": 2}),
        ("OPERATION_FINISHED", {"n": 3}),
    ]
    assert first["payload"]["extensions"]["cost"]["requested"] == 1
    after = gql(app_client, "{ __typename }", tenant=tenant)["extensions"]["cost"]["remaining"]
    assert before - after == 1 + 2 * 1 + 1  # the subscribe, two events, the probe
    again = _first(app_client, tenant, {"after": data[0]["id"]})
    assert again["payload"]["data"]["accountEvents"]["data"] == {"n": 3}
