"""P7: anonymous catalogue answers are cached, never stale, never personal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from graphql.language.parser import Parser
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.platform.viewer import Role
from schema.http.answers import Answers
from tests.factories import Factory, custom_image, gql
from tests.fixtures import ACTION, CREATE_LISTING, StatementCounter, counting, listing_input

MARKET_IMAGES = '{ images(first: 100, filter: {types: [MARKET], region: "bj"}) { nodes { id } } }'


@pytest.fixture(scope="module")
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _counted(client: TestClient, query: str, **kwargs: Any) -> tuple[dict[str, Any], int]:
    with counting(client.app, StatementCounter()) as counter:
        body = gql(client, query, **kwargs)
    return body, counter.count


def _executed(client: TestClient, query: str, **kwargs: Any) -> bool:
    """Whether answering ``query`` ran it (rather than serving a kept answer)."""
    ran: list[bool] = []
    execute = Answers.execute

    async def counted(self: Answers, *args: Any) -> Any:
        ran.append(True)
        return await execute(self, *args)

    Answers.execute = counted  # type: ignore[method-assign, assignment]
    try:
        gql(client, query, **kwargs)
    finally:
        Answers.execute = execute  # type: ignore[method-assign]
    return bool(ran)


def test_a_repeated_anonymous_query_is_served_from_the_cache(client: TestClient) -> None:
    query = '{ regions { code zones { name } } flavors(region: "bj") { name } }'
    first, first_count = _counted(client, query)
    assert first_count > 1
    # an earlier test's commits may reach the board a moment later (PostgreSQL's NOTIFY, the
    # SQLite file's watcher) and empty it once more: wait for that to pass
    for _ in range(40):
        again, again_count = _counted(
            client, " ".join(query.split()) + "  "
        )  # same document, other spacing
        assert again["data"] == first["data"]
        if again_count == 0:
            break
        time.sleep(0.05)
    assert again_count == 0  # the versions come from the board (R163)
    assert again["extensions"]["cost"]["requested"] == first["extensions"]["cost"]["requested"]


def test_a_hit_runs_no_statement_and_parses_no_document(
    client: TestClient, factory: Factory, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P19: a cache hit is answered from the board's versions and the stored bytes."""
    parses: list[str] = []
    parse_document = Parser.parse_document

    def counted(parser: Parser) -> Any:
        parses.append("parse")
        return parse_document(parser)

    monkeypatch.setattr(Parser, "parse_document", counted)
    owner = factory.account()
    custom_image(engine, owner.id, name="p19")
    page = "{ images(first: 50) { nodes { id name type status region { code } } } }"
    for tenant in (None, owner):
        first, first_count = _counted(client, page, tenant=tenant)
        assert first_count >= 1, "the first answer is computed"
        # the setup's commits reach the board twice: at once, and from the SQLite file's
        # watcher a moment later (which empties it once more): wait for that to pass
        for _ in range(40):
            parses.clear()
            again, again_count = _counted(client, page, tenant=tenant)
            assert parses == [], "a hit parses no document"
            if again_count == 0:
                break
            time.sleep(0.05)
        assert again_count == 0, "a hit runs no SQL statement"
        assert again["data"] == first["data"]
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
    assert _executed(client, bad, expect_errors=True)
    assert _executed(client, bad, expect_errors=True)
    response = client.post(
        "/graphql",
        json={
            "query": 'mutation { revokeApiToken(input: {tokenId: "tok-x"}) { userErrors { code } } }'
        },
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- per viewer (R134, R140) -----------------------------------------------------------------

MINE = "{ viewer { id balance { amount } } images(first: 20, filter: {types: [CUSTOM]}) { nodes { id name } } }"
RENAME = """mutation($i: ID!, $n: String!) { renameImage(input: {imageId: $i, name: $n}) {
  userErrors { code } } }"""
REVOKE = """mutation($t: ID!) { revokeApiToken(input: {tokenId: $t}) { userErrors { code } } }"""


def test_a_signed_in_caller_repeats_a_query_from_its_own_cache(
    client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account(balance="10")
    custom_image(engine, owner.id, name="mine-1")
    first = gql(client, MINE, tenant=owner)
    assert not _executed(client, MINE, tenant=owner)  # served from its own cache
    assert gql(client, MINE, tenant=owner)["data"] == first["data"]
    other = factory.account()
    theirs = gql(client, MINE, tenant=other)["data"]
    assert theirs["viewer"]["id"] == other.id  # never someone else's answer
    assert theirs["images"]["nodes"] == []


def test_a_change_the_caller_makes_is_seen_at_once(
    client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    image = custom_image(engine, owner.id, name="before")
    assert gql(client, MINE, tenant=owner)["data"]["images"]["nodes"] == [
        {"id": image, "name": "before"}
    ]
    gql(client, MINE, tenant=owner)  # cached
    renamed = gql(client, RENAME, {"i": image, "n": "after"}, owner)
    assert renamed["data"]["renameImage"]["userErrors"] == []
    assert gql(client, MINE, tenant=owner)["data"]["images"]["nodes"] == [
        {"id": image, "name": "after"}
    ]


def test_a_change_made_behind_the_api_is_seen_at_once(
    client: TestClient, factory: Factory, engine: Engine
) -> None:
    """Any committed write (the worker, the scheduler, another process) moves the versions."""
    owner = factory.account()
    gql(client, MINE, tenant=owner)
    gql(client, MINE, tenant=owner)  # cached
    image = custom_image(engine, owner.id, name="made-elsewhere")
    assert gql(client, MINE, tenant=owner)["data"]["images"]["nodes"] == [
        {"id": image, "name": "made-elsewhere"}
    ]


def test_a_revoked_token_is_refused_at_once_though_it_was_cached(
    client: TestClient, factory: Factory
) -> None:
    owner = factory.account()
    assert gql(client, MINE, tenant=owner)["data"]["viewer"]["id"] == owner.id
    gql(client, MINE, tenant=owner)  # the token and the answer are both cached now
    revoked = gql(client, REVOKE, {"t": owner.token_id}, owner)
    assert revoked["data"]["revokeApiToken"]["userErrors"] == []
    response = client.post("/graphql", json={"query": MINE}, headers=owner.headers)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_administrators_are_never_served_from_the_cache(
    client: TestClient, factory: Factory
) -> None:
    admin = factory.account(Role.ADMIN)
    assert _executed(client, MINE, tenant=admin)
    assert _executed(client, MINE, tenant=admin)


def test_answers_that_move_with_time_alone_are_not_kept(
    client: TestClient, factory: Factory
) -> None:
    owner = factory.account()
    quote = """{ rebuildQuote(input: {instanceIds: ["i-Abcdefgh"], imageId: "m-Abcdefgh"}) {
      total { amount } userErrors { code } } }"""
    assert _executed(client, quote, tenant=owner)
    assert _executed(client, quote, tenant=owner)
    _executed(client, MINE, tenant=owner)
    assert not _executed(client, MINE, tenant=owner)  # what does not move with time is kept


def test_the_cache_is_bounded_by_bytes() -> None:
    from schema.http.response_cache import Entry, ResponseCache
    from schema.limits.memory import ByteBudgetLRU

    cache = ResponseCache(budget_bytes=10_000)
    for i in range(100):
        cache.put(f"k{i}", Entry(1, 0, b"x" * 1000, 1, 1))
    assert cache.entries.used <= 10_000
    assert cache.get("k99", 1) is not None and cache.get("k0", 1) is None
    assert cache.get("k99", 2) is None  # another catalogue version: gone
    lru: ByteBudgetLRU[str, bytes] = ByteBudgetLRU(10 * 1024 * 1024)
    lru.put("big", b"x", 2 * 1024 * 1024)  # over the 1 MB an entry may take
    assert lru.get("big") is None


SHARED_IMAGES = """{ images(first: 100, filter: {types: [SHARED]}) { nodes { id } } }"""
SHARE_WITH = """mutation($i: ShareImageInput!) { shareImage(input: $i) { userErrors { code } } }"""
DEPRECATE_AT = """mutation($i: DeprecateImageInput!) { deprecateImage(input: $i) {
  image { deprecation { state } } userErrors { code message } } }"""


def test_a_cached_answer_does_not_outlive_a_scheduled_deprecation(
    client: TestClient, factory: Factory, engine: Engine
) -> None:
    """R124: nothing is written when a scheduled deprecation takes effect, yet the answers
    cached before it are not served after it."""
    owner, friend = factory.account(), factory.account()
    image_id = custom_image(engine, owner.id)
    share = {"imageId": image_id, "accountIds": [friend.id]}
    assert gql(client, SHARE_WITH, {"i": share}, owner)["data"]["shareImage"]["userErrors"] == []
    soon = datetime.now(UTC) + timedelta(seconds=2)
    scheduled = gql(
        client, DEPRECATE_AT, {"i": {"imageId": image_id, "deprecateAt": soon.isoformat()}}, owner
    )
    assert scheduled["data"]["deprecateImage"]["image"]["deprecation"]["state"] == "SCHEDULED"

    def listed() -> tuple[bool, bool]:
        executed = _executed(client, SHARED_IMAGES, tenant=friend)
        body = gql(client, SHARED_IMAGES, tenant=friend)
        return image_id in {n["id"] for n in body["data"]["images"]["nodes"]}, executed

    assert listed()[0] is True  # the token's first use
    assert listed() == (True, False)  # served from the cache
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.3)
    assert listed() == (False, True)  # computed again: deprecated now
