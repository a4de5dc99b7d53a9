"""Request limits of API.md: depth, aliases, tokens, body size, cost and rate limiting."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.factories import Factory, gql


def test_cost_is_reported_on_every_response(app_client: TestClient) -> None:
    body = gql(app_client, "{ images(first: 10) { edges { node { id name } } } }")
    # images 1 + edges (1 + node (1 + id + name)) x 10
    assert body["extensions"]["cost"]["requested"] == 1 + 10 * 4
    assert body["extensions"]["cost"]["actual"] == 1 + 10 * 4
    assert body["extensions"]["cost"]["limit"] == 1000


def test_costly_query_is_refused_before_running(app_client: TestClient) -> None:
    # 1 + 100 x (edges 1 + node 1 + id, name, type 3 + os 1 + 2 + region 1 + 1) = 1001
    fields = "id name type os { name version } region { code }"
    query = "{ images(first: 100) { edges { node { " + fields + " } } } }"
    response = app_client.post("/graphql", json={"query": query})
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert body["errors"][0]["message"].startswith("Query cost 1001 exceeds the limit of 1000")
    assert "data" not in body


def test_deep_queries_are_refused(settings: Settings, engine: Engine) -> None:
    shallow = dataclasses.replace(settings, max_query_depth=3)
    with TestClient(create_app(shallow)) as client:
        assert "errors" not in gql(client, "{ regions { zones { name } } }")
        body = gql(client, "{ images { edges { node { region { code } } } } }", expect_errors=True)
    assert "exceeds maximum operation depth of 3" in body["errors"][0]["message"]


def test_too_many_aliases_are_refused(app_client: TestClient) -> None:
    query = "{ " + " ".join(f"a{i}: regions {{ id }}" for i in range(31)) + " }"
    body = gql(app_client, query, expect_errors=True)
    assert "aliases" in body["errors"][0]["message"]


def test_too_many_tokens_are_refused(app_client: TestClient) -> None:
    query = "{ regions { " + " ".join("id" for _ in range(5001)) + " } }"
    body = gql(app_client, query, expect_errors=True)
    assert "token" in body["errors"][0]["message"].lower()


def test_oversized_body_is_413(app_client: TestClient) -> None:
    payload = '{"query": "{ regions { id } }", "x": "' + "a" * (1024 * 1024) + '"}'
    response = app_client.post(
        "/graphql", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "body",
    [b"garbage", b"[1,2", b'{"query": 5}', b'{"variables": {}}', b"\xff\xfe"],
    ids=["text", "truncated", "non-string-query", "no-query", "binary"],
)
def test_garbage_bodies_get_4xx_not_500(app_client: TestClient, body: bytes) -> None:
    response = app_client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text


@pytest.fixture
def stingy_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    stingy = dataclasses.replace(settings, rate_limit_points=30, rate_limit_refill_per_second=0.001)
    with TestClient(create_app(stingy)) as client:
        yield client


def test_rate_limit_per_token(stingy_client: TestClient, factory: Factory) -> None:
    tenant, other = factory.account(), factory.account()
    query = "{ images(first: 5) { edges { node { id } } } }"  # cost 1 + 5 * 3 = 16
    first = gql(stingy_client, query, tenant=tenant)
    assert first["extensions"]["cost"]["remaining"] == 14
    response = stingy_client.post("/graphql", json={"query": query}, headers=tenant.headers)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "errors" not in gql(stingy_client, query, tenant=other)


def test_introspection_can_be_disabled(settings: Settings, engine: Engine) -> None:
    closed = dataclasses.replace(settings, introspection=False)
    with TestClient(create_app(closed)) as client:
        body = gql(client, "{ __schema { types { name } } }", expect_errors=True)
    assert "introspection" in body["errors"][0]["message"].lower()
