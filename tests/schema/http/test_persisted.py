"""Automatic persisted queries (Apollo's protocol) and HTTP caching of public answers (R133)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from schema.http.persisted import registration_limiter
from schema.limits.rate_limit import RateLimiter
from schema.limits.redis_limiter import NAMESPACE, RedisRateLimiter
from tests.factories import Factory

QUERY = "{ regions { code name } }"


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def get(client: TestClient, digest: str, **headers: str) -> Any:
    return client.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(digest))},
        headers={"Accept": "application/json", **headers},
    )


def test_an_unknown_hash_asks_for_the_document(app_client: TestClient) -> None:
    body = app_client.post(
        "/graphql", json={"extensions": persisted(sha("{ __typename } # never sent"))}
    ).json()
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_the_document_with_its_hash_registers_it(app_client: TestClient) -> None:
    query = "{ regions { code } } # registered"
    first = app_client.post(
        "/graphql", json={"query": query, "extensions": persisted(sha(query))}
    ).json()
    assert first["data"]["regions"]
    by_hash = app_client.post("/graphql", json={"extensions": persisted(sha(query))}).json()
    assert by_hash["data"] == first["data"]
    over_get = get(app_client, sha(query))
    assert over_get.status_code == 200
    assert over_get.json()["data"] == first["data"]


def test_a_wrong_hash_is_refused_and_nothing_is_kept(app_client: TestClient) -> None:
    query = "{ regions { name } } # mismatched"
    wrong = sha("something else")
    response = app_client.post("/graphql", json={"query": query, "extensions": persisted(wrong)})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    later = app_client.post("/graphql", json={"extensions": persisted(wrong)}).json()
    assert later["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_a_malformed_extension_is_a_bad_request(app_client: TestClient) -> None:
    response = app_client.post(
        "/graphql", json={"query": QUERY, "extensions": {"persistedQuery": {"version": 2}}}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_registered_documents_outlive_the_process(settings: Settings, engine: Engine) -> None:
    query = "{ regions { code copySupported } } # kept in the database"
    with TestClient(create_app(settings)) as one:
        one.post("/graphql", json={"query": query, "extensions": persisted(sha(query))})
    with TestClient(create_app(settings)) as two:
        body = two.post("/graphql", json={"extensions": persisted(sha(query))}).json()
    assert body["data"]["regions"]


def test_public_get_answers_may_be_cached(app_client: TestClient) -> None:
    app_client.post("/graphql", json={"query": QUERY, "extensions": persisted(sha(QUERY))})
    response = get(app_client, sha(QUERY))
    assert response.headers["cache-control"] == "public, max-age=60"
    vary = {v.strip() for v in response.headers["vary"].split(",")}
    assert {"Authorization", "Accept-Encoding"} <= vary
    etag = response.headers["etag"]
    assert etag.startswith('W/"catalogue-')
    again = get(app_client, sha(QUERY), **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_everything_else_is_private(app_client: TestClient, factory: Factory) -> None:
    tenant = factory.account()
    app_client.post("/graphql", json={"query": QUERY, "extensions": persisted(sha(QUERY))})
    signed_in = get(app_client, sha(QUERY), **tenant.headers)
    posted = app_client.post("/graphql", json={"query": QUERY})
    failed = app_client.get(
        "/graphql", params={"query": "{ nope }"}, headers={"Accept": "application/json"}
    )
    for response in (signed_in, posted, failed):
        assert response.headers["cache-control"] == "private, no-store"
        assert "etag" not in response.headers


def test_a_persisted_mutation_is_refused_over_get(app_client: TestClient) -> None:
    mutation = 'mutation { renameImage(input: {imageId: "m-00000000", name: "x"}) { userErrors { code } } }'
    app_client.post("/graphql", json={"query": mutation, "extensions": persisted(sha(mutation))})
    response = get(app_client, sha(mutation))
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


# -- what registration stores (R154) -------------------------------------------------------


def register(client: TestClient, query: str, **headers: str) -> Any:
    return client.post(
        "/graphql", json={"query": query, "extensions": persisted(sha(query))}, headers=headers
    )


def by_hash(client: TestClient, query: str, **headers: str) -> Any:
    return client.post(
        "/graphql", json={"extensions": persisted(sha(query))}, headers=headers
    ).json()


def not_found(body: dict[str, Any]) -> bool:
    return bool(body.get("errors")) and (
        body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    )


def test_a_document_that_does_not_parse_is_not_registered(app_client: TestClient) -> None:
    query = "{ regions { code } # never closed"
    body = register(app_client, query).json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert not_found(by_hash(app_client, query))


def test_a_document_over_the_limits_is_not_registered(app_client: TestClient) -> None:
    query = "query A { __typename } query B { " + "a: regions { code } " * 300 + "}"
    body = app_client.post(
        "/graphql",
        json={"query": query, "operationName": "A", "extensions": persisted(sha(query))},
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert not_found(by_hash(app_client, query))


def test_a_document_over_64_kib_is_not_registered(app_client: TestClient) -> None:
    query = "{ regions { code } } # " + "x" * (64 * 1024)
    body = register(app_client, query).json()
    assert body["data"]["regions"]  # it runs, as without a hash
    assert not_found(by_hash(app_client, query))


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x7f", "\x85"])
def test_a_persisted_document_with_a_control_character_is_refused(
    app_client: TestClient, character: str
) -> None:
    query = "{ regions { code } } # " + character + " " + str(ord(character))
    response = register(app_client, query)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"U+{ord(character):04X}" in error["message"]
    assert not_found(by_hash(app_client, query))


def test_an_anonymous_caller_registers_at_most_10_documents_a_minute(
    settings: Settings, engine: Engine
) -> None:
    queries = [f"{{ anonymous{i}: __typename }}" for i in range(12)]
    with TestClient(create_app(settings)) as client:
        answers = [register(client, q).json() for q in queries]
        later = [by_hash(client, q) for q in queries]
    # every request is answered: its document came with it
    assert all(a["data"] == {f"anonymous{i}": "Query"} for i, a in enumerate(answers))
    # but only the first 10 were kept
    assert [not_found(b) for b in later] == [False] * 10 + [True] * 2


def test_a_signed_in_caller_is_not_held_to_the_anonymous_rate(
    settings: Settings, engine: Engine, factory: Factory
) -> None:
    tenant = factory.account()
    queries = [f"{{ signedIn{i}: __typename }}" for i in range(12)]
    with TestClient(create_app(settings)) as client:
        for q in queries:
            register(client, q, **tenant.headers)
        later = [by_hash(client, q, **tenant.headers) for q in queries]
    assert not any(not_found(b) for b in later)


def test_the_table_keeps_the_most_recently_used_documents(
    settings: Settings, engine: Engine, factory: Factory
) -> None:
    tenant = factory.account()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM persisted_query"))
    small = settings.model_copy(update={"persisted_query_max_documents": 3})
    a, b, c, d = (f"{{ kept{name}: __typename }}" for name in "ABCD")
    with TestClient(create_app(small)) as client:
        for query in (a, b, c):
            register(client, query, **tenant.headers)
        assert not not_found(by_hash(client, a))  # A is used: B is now the least recent
        register(client, d, **tenant.headers)
    with engine.connect() as conn:
        kept = set(conn.execute(text("SELECT sha256 FROM persisted_query")).scalars())
    assert kept == {sha(a), sha(c), sha(d)}
    with TestClient(create_app(small)) as other:  # another process: only the table
        assert not_found(by_hash(other, b))
        assert not not_found(by_hash(other, a))


REDIS_URL = os.environ.get("BCC_IMAGES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_registrations_are_counted_in_their_own_buckets() -> None:
    alone = registration_limiter(Settings())
    assert isinstance(alone, RateLimiter)
    assert (alone.capacity, alone.refill) == (10, 10 / 60)
    shared = registration_limiter(Settings(redis_url=REDIS_URL))
    assert isinstance(shared, RedisRateLimiter)
    assert (shared.capacity, shared.refill) == (10, 10 / 60)
    assert shared.namespace != NAMESPACE  # not the buckets of cost points
    shared.close()


def test_with_redis_the_anonymous_rate_holds_across_processes(
    settings: Settings, engine: Engine
) -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL}")
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
    run = secrets.token_hex(4)
    address = (f"client-{run}", 50000)  # a bucket of this run's own
    queries = [f"{{ shared_{run}_{i}: __typename }}" for i in range(12)]
    # two processes' apps, one anonymous client registering six documents on each
    with (
        TestClient(create_app(shared), client=address) as one,
        TestClient(create_app(shared), client=address) as two,
    ):
        for i, query in enumerate(queries):
            register(one if i % 2 else two, query)
        later = [by_hash(one, q) for q in queries]
    assert sum(not not_found(b) for b in later) == 10
