"""HTTP transport for real clients: CORS for consoles on other origins, gzip (API.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app

CONSOLE = "https://console.example.com"
PAGE = '{ images(first: 50, filter: {region: "bj"}) { nodes { id name os { name version } } } }'


@pytest.fixture(scope="module")
def cross_origin(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    allowed = settings.model_copy(update={"cors_origins": (CONSOLE,)})
    with TestClient(create_app(allowed)) as client:
        yield client


def test_a_console_on_an_allowed_origin_passes_the_preflight(cross_origin: TestClient) -> None:
    response = cross_origin.options(
        "/graphql",
        headers={
            "Origin": CONSOLE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == CONSOLE
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed
    assert "access-control-allow-credentials" not in response.headers  # tokens, not cookies


def test_an_allowed_origin_reads_the_answer(cross_origin: TestClient) -> None:
    response = cross_origin.post(
        "/graphql", json={"query": "{ regions { code } }"}, headers={"Origin": CONSOLE}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == CONSOLE


def test_another_origin_is_refused(cross_origin: TestClient) -> None:
    preflight = cross_origin.options(
        "/graphql",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    answer = cross_origin.post(
        "/graphql",
        json={"query": "{ regions { code } }"},
        headers={"Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in answer.headers


def test_no_origin_is_allowed_by_default(app_client: TestClient) -> None:
    response = app_client.post(
        "/graphql", json={"query": "{ regions { code } }"}, headers={"Origin": CONSOLE}
    )
    assert "access-control-allow-origin" not in response.headers


def test_large_answers_are_gzipped_when_accepted(app_client: TestClient) -> None:
    response = app_client.post(
        "/graphql", json={"query": PAGE}, headers={"Accept-Encoding": "gzip"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert response.json()["data"]["images"]["nodes"]  # httpx decompresses


def test_small_or_unaccepted_answers_are_not_compressed(app_client: TestClient) -> None:
    small = app_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Accept-Encoding": "gzip"}
    )
    assert "content-encoding" not in small.headers
    plain = app_client.post(
        "/graphql", json={"query": PAGE}, headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers
    assert plain.content.startswith(b'{"data"')  # plain JSON bytes
