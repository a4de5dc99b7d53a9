"""Automatic persisted queries (Apollo's protocol) and HTTP caching of public answers (R133)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
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
