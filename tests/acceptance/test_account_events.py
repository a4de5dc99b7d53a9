"""accountEvents with gql over graphql-transport-ws (issue 26; R179, R199): each account
receives its own events and nobody else's, in order; a client that reconnects with ``after``
receives what it missed, filtered by type.

A subscription hears of events from when the server opened it, and graphql-transport-ws says
nothing when that is; so a stream is first brought up by repeating a change (an unshare and a
share) until its first event arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from tests.acceptance.conftest import Server, make_image, running_instance
from tests.clients.conftest import websocket_transport
from tests.factories import Tenant
from tests.fixtures import SHARE, UNSHARE

EVENTS = """subscription($types: [WebhookEventType!], $after: ID) {
  accountEvents(types: $types, after: $after) { id type timestamp data } }"""
IMAGE_CHANGE = (
    """mutation($id: ID!) {{ {name}(input: {{imageId: $id}}) {{ userErrors {{ code }} }} }}"""
)


async def _next(stream: AsyncIterator[dict[str, Any]], seconds: float = 20) -> dict[str, Any]:
    answer = await asyncio.wait_for(anext(stream), timeout=seconds)
    event: dict[str, Any] = answer["accountEvents"]
    return event


async def _first(stream: AsyncIterator[dict[str, Any]], trigger: Callable[[], None]) -> Any:
    """The stream's first event, repeating ``trigger`` until the server has opened it."""
    waiting = asyncio.ensure_future(_next(stream, seconds=120))
    for _ in range(10):
        await asyncio.to_thread(trigger)
        done, _ = await asyncio.wait({waiting}, timeout=3)
        if done:
            return waiting.result()
    waiting.cancel()
    raise AssertionError("the subscription never received an event")


def test_each_account_hears_its_own_events_in_order_and_resumes_after_the_last(
    server: Server,
) -> None:
    owner = server.account(balance="1000")
    friend, stranger = server.account(), server.account()
    made = make_image(server, owner, instanceId=running_instance(server, owner))
    server.wait_operation(made["operation"]["id"], owner)
    image_id = made["image"]["id"]

    def ok(document: str, variables: dict[str, Any]) -> None:
        data = server.gql(document, variables, owner)["data"]
        assert all(v["userErrors"] == [] for v in data.values()), data

    def toggle(tenant: Tenant) -> Callable[[], None]:
        def again() -> None:
            shared = {"i": {"imageId": image_id, "accountIds": [tenant.id]}}
            ok(UNSHARE, shared)
            ok(SHARE, shared)

        return again

    def change(name: str) -> Callable[[], None]:
        return lambda: ok(IMAGE_CHANGE.format(name=name), {"id": image_id})

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        async with (
            Client(
                transport=websocket_transport(server, friend), fetch_schema_from_transport=False
            ) as mine,
            Client(
                transport=websocket_transport(server, stranger), fetch_schema_from_transport=False
            ) as theirs,
        ):
            friends = mine.subscribe(GraphQLRequest(EVENTS))
            strangers = theirs.subscribe(GraphQLRequest(EVENTS))
            heard = await _first(friends, toggle(friend))
            await friends.aclose()  # the friend goes away
            seen = [await _first(strangers, toggle(stranger))]
            await asyncio.to_thread(
                ok, UNSHARE, {"i": {"imageId": image_id, "accountIds": [stranger.id]}}
            )
            await asyncio.to_thread(
                change("deprecateImage")
            )  # heard by the friend, not the stranger
            await asyncio.to_thread(
                ok, SHARE, {"i": {"imageId": image_id, "accountIds": [stranger.id]}}
            )
            await asyncio.to_thread(change("disableImage"))
            while seen[-1]["type"] != "IMAGE_DISABLED":
                seen.append(await _next(strangers))
            await strangers.aclose()
        # back with the last event it handled: what it missed, of the types it asks for
        async with Client(
            transport=websocket_transport(server, friend), fetch_schema_from_transport=False
        ) as mine:
            wanted = {"after": heard["id"], "types": ["IMAGE_DEPRECATED", "IMAGE_DISABLED"]}
            friends = mine.subscribe(GraphQLRequest(EVENTS, variable_values=wanted))
            missed = [await _next(friends), await _next(friends)]
            await friends.aclose()
        return heard, seen, missed

    heard, seen, missed = asyncio.run(scenario())
    assert heard["type"] == "IMAGE_SHARED_WITH_ME"
    assert heard["data"]["image"]["id"] == image_id and heard["id"].startswith("evt-")
    # the stranger's shares (the last one after the deprecation), then the disabling: never
    # the deprecation, which happened while the image was not shared with it
    *shares, disabled = seen
    assert len(shares) >= 2 and {e["type"] for e in shares} == {"IMAGE_SHARED_WITH_ME"}
    assert disabled == {**disabled, "type": "IMAGE_DISABLED", "data": {"image": {"id": image_id}}}
    assert [e["type"] for e in missed] == ["IMAGE_DEPRECATED", "IMAGE_DISABLED"]
    assert missed[0]["data"]["image"]["deprecation"]["state"] == "DEPRECATED"
    assert missed[0]["timestamp"] <= missed[1]["timestamp"]
    assert len({e["id"] for e in [heard, *seen, *missed]}) == len(seen) + 3

    async def resume_as_stranger() -> str:
        async with Client(
            transport=websocket_transport(server, stranger), fetch_schema_from_transport=False
        ) as theirs:
            stream = theirs.subscribe(
                GraphQLRequest(EVENTS, variable_values={"after": heard["id"]})
            )
            try:
                await _next(stream)
            except TransportQueryError as exc:
                return str(exc.errors)
        return ""

    refused = asyncio.run(resume_as_stranger())  # another account's event id is no place to start
    assert "BAD_USER_INPUT" in refused and "has no event" in refused
