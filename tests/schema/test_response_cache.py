"""P7: anonymous catalogue answers are cached, never stale, never personal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from starlette.testclient import TestClient

from app.accounts.rules import Role
from app.config import Settings
from app.main import create_app
from tests.acceptance.test_marketplace import ACTION, CREATE_LISTING, listing_input
from tests.factories import Factory, custom_image, gql
from tests.schema.test_query_counts import StatementCounter

MARKET_IMAGES = '{ images(first: 100, filter: {types: [MARKET], region: "bj"}) { nodes { id } } }'


@pytest.fixture(scope="module")
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _counted(client: TestClient, query: str, **kwargs: Any) -> tuple[dict[str, Any], int]:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    counter = StatementCounter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        body = gql(client, query, **kwargs)
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return body, counter.count


def test_a_repeated_anonymous_query_is_served_from_the_cache(client: TestClient) -> None:
    query = '{ regions { code zones { name } } flavors(region: "bj") { name } }'
    first, first_count = _counted(client, query)
    again, again_count = _counted(
        client, " ".join(query.split()) + "  "
    )  # same document, other spacing
    assert again["data"] == first["data"]
    assert first_count > 1
    assert again_count == 1  # only the catalogue version check
    assert again["extensions"]["cost"]["requested"] == first["extensions"]["cost"]["requested"]


def test_a_published_listing_is_visible_at_once(
    client: TestClient, factory: Factory, engine: Engine
) -> None:
    before = {n["id"] for n in gql(client, MARKET_IMAGES)["data"]["images"]["nodes"]}
    gql(client, MARKET_IMAGES)  # cached now
    provider = factory.account(Role.PROVIDER)
    source = custom_image(engine, provider.id)
    listing = gql(client, CREATE_LISTING, {"i": listing_input(source)}, provider)["data"][
        "createListing"
    ]["listing"]
    gql(client, ACTION.format(name="submitListing"), {"id": listing["id"]}, provider)
    approved = gql(
        client,
        ACTION.format(name="approveListing"),
        {"id": listing["id"]},
        factory.account(Role.ADMIN),
    )
    new_image = approved["data"]["approveListing"]["listing"]["images"][0]["id"]
    after = {n["id"] for n in gql(client, MARKET_IMAGES)["data"]["images"]["nodes"]}
    assert after == before | {new_image}
    gql(client, ACTION.format(name="delistListing"), {"id": listing["id"]}, provider)
    status = (
        '{ images(first: 100, filter: {types: [MARKET], region: "bj"}) { nodes { id status } } }'
    )
    statuses = {n["id"]: n["status"] for n in gql(client, status)["data"]["images"]["nodes"]}
    assert statuses[new_image] == "NOT_AVAILABLE"


def test_authenticated_answers_are_never_cached(
    client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    query = "{ images(first: 100, filter: {types: [CUSTOM]}) { nodes { id } } }"
    assert gql(client, query, tenant=owner)["data"]["images"]["nodes"] == []
    image_id = custom_image(engine, owner.id)
    assert gql(client, query, tenant=owner)["data"]["images"]["nodes"] == [{"id": image_id}]
    assert gql(client, query)["data"]["images"]["nodes"] == []  # anonymous: still nothing custom


def test_errors_and_mutations_are_not_cached(client: TestClient) -> None:
    bad = "{ images(first: 101) { totalCount } }"
    assert _counted(client, bad, expect_errors=True)[1] >= 1
    _, count = _counted(client, bad, expect_errors=True)
    assert count >= 1
    response = client.post(
        "/graphql",
        json={
            "query": 'mutation { revokeApiToken(input: {tokenId: "tok-x"}) { userErrors { code } } }'
        },
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
