"""The Python `gql` client: queries over HTTP, subscriptions over graphql-transport-ws."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport
from gql.transport.websockets import WebsocketsTransport
from graphql import GraphQLObjectType

from tests.acceptance.conftest import Server
from tests.clients.conftest import (
    create_image,
    create_instance,
    running_instance,
    ticking,
    websocket_transport,
    ws_url,
)
from tests.factories import Tenant

pytestmark = pytest.mark.once  # no second database needed: CI runs these on SQLite only

OPERATION_UPDATED = gql(
    """subscription Follow($id: ID!) {
      operationUpdated(id: $id) { id kind status progress targetIds }
    }"""
)
IMAGE_UPDATED = gql(
    """subscription Watch($id: ID!) {
      imageUpdated(id: $id) { id name status progress type }
    }"""
)


async def follow(
    server: Server,
    tenant: Tenant,
    document: GraphQLRequest,
    variables: dict[str, Any],
    done: Callable[[dict[str, Any]], bool],
) -> tuple[list[dict[str, Any]], str | None]:
    """Subscribe with gql, advance the clock while subscribed, and collect every result until
    ``done`` says so (or the server completes the subscription); also return the subprotocol
    the server chose."""
    transport = websocket_transport(server, tenant)
    results: list[dict[str, Any]] = []
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        subscription = session.subscribe(GraphQLRequest(document, variable_values=variables))
        first = await asyncio.wait_for(anext(subscription), timeout=15)
        results.append(first)
        if not done(first):
            with ticking(server):

                async def rest() -> None:
                    async for result in subscription:
                        results.append(result)
                        if done(result):
                            return

                await asyncio.wait_for(rest(), timeout=60)
        await subscription.aclose()
    return results, transport.subprotocol


def test_gql_follows_an_operation_until_it_succeeds(server: Server) -> None:
    tenant = server.account(balance="500")
    created = create_instance(server, tenant)
    operation_id = created["operation"]["id"]
    instance_id = created["instances"][0]["id"]

    results, subprotocol = asyncio.run(
        follow(
            server,
            tenant,
            OPERATION_UPDATED,
            {"id": operation_id},
            lambda result: result["operationUpdated"]["status"] == "SUCCEEDED",
        )
    )

    assert subprotocol == "graphql-transport-ws"
    updates = [result["operationUpdated"] for result in results]
    assert {update["id"] for update in updates} == {operation_id}
    assert updates[0]["status"] in ("PENDING", "RUNNING")
    assert updates[-1]["status"] == "SUCCEEDED"
    assert updates[-1]["progress"] == 100
    assert updates[-1]["targetIds"] == [instance_id]
    assert all(update["kind"] == updates[0]["kind"] for update in updates)


def test_gql_follows_a_custom_image_until_it_is_available(server: Server) -> None:
    tenant = server.account(balance="500")
    instance_id = running_instance(server, tenant)
    created = create_image(server, tenant, instance_id)
    image_id = created["image"]["id"]

    results, subprotocol = asyncio.run(
        follow(
            server,
            tenant,
            IMAGE_UPDATED,
            {"id": image_id},
            lambda result: result["imageUpdated"]["status"] == "AVAILABLE",
        )
    )

    assert subprotocol == "graphql-transport-ws"
    updates = [result["imageUpdated"] for result in results]
    assert {update["id"] for update in updates} == {image_id}
    assert updates[0]["status"] == "CREATING"
    assert updates[-1]["status"] == "AVAILABLE"
    assert updates[-1]["type"] == "CUSTOM"
    assert updates[-1]["name"].startswith("golden-")


def test_gql_subscription_errors_reach_the_client(server: Server) -> None:
    """Another tenant's operation is not found: gql raises the GraphQL error it was sent."""
    owner, other = server.account(balance="500"), server.account()
    operation_id = create_instance(server, owner)["operation"]["id"]

    async def attempt() -> str:
        transport = websocket_transport(server, other)
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            try:
                async for _ in session.subscribe(
                    GraphQLRequest(OPERATION_UPDATED, variable_values={"id": operation_id})
                ):
                    return "an update"
            except TransportQueryError as exc:
                return str(exc)
        return "completed"

    message = asyncio.run(asyncio.wait_for(attempt(), timeout=30))
    assert f"There is no operation '{operation_id}'." in message


def test_gql_authenticates_by_the_handshake_header_too(server: Server) -> None:
    """A client that sets headers on the WebSocket handshake instead of connection_init."""
    tenant = server.account(balance="500")
    operation_id = create_instance(server, tenant)["operation"]["id"]

    async def first_update() -> dict[str, Any]:
        transport = WebsocketsTransport(
            url=ws_url(server),
            headers=tenant.headers,
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            request = GraphQLRequest(OPERATION_UPDATED, variable_values={"id": operation_id})
            async for result in session.subscribe(request):
                update: dict[str, Any] = result
                return update
        raise AssertionError("no update")

    result = asyncio.run(asyncio.wait_for(first_update(), timeout=30))
    assert result["operationUpdated"]["id"] == operation_id


def test_gql_queries_over_http_with_the_bearer_token(server: Server) -> None:
    """gql fetches the schema by introspection, validates the query against it locally and
    sends it with the Authorization header."""
    tenant = server.account(balance="500")
    transport = HTTPXTransport(url=f"{server.url}/graphql", headers=tenant.headers, timeout=30)
    with Client(transport=transport, fetch_schema_from_transport=True) as session:
        result = session.execute(
            gql("query Me { viewer { id balance { amount } } regions { code } }")
        )
        schema = session.client.schema
    assert result["viewer"]["id"] == tenant.id
    assert result["viewer"]["balance"]["amount"] in ("500", "500.00")
    assert "bj" in {region["code"] for region in result["regions"]}
    assert schema is not None
    subscription = schema.subscription_type
    assert isinstance(subscription, GraphQLObjectType)
    assert {"operationUpdated", "imageUpdated"} <= set(subscription.fields)
