"""Parsed documents and their validation (R140, R152): validation results are kept by the
document's shape (its tokens, without comments or layout), not only its text, and the cache of
parsed documents holds what it really retains within its byte budget.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from graphql import GraphQLError, GraphQLSchema, validate
from sqlalchemy import Engine
from starlette.testclient import TestClient

import schema.limits.documents
from app.config import Settings
from app.main import create_app

MiB = 1024 * 1024


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times graphql-core's validation ran (one entry per run)."""
    runs: list[int] = []

    def counted(schema: GraphQLSchema, document: Any, rules: Any) -> list[GraphQLError]:
        runs.append(1)
        return validate(schema, document, rules)

    monkeypatch.setattr(schema.limits.documents, "validate", counted)
    return runs


def test_equivalent_documents_are_validated_once(
    app_client: TestClient, validations: list[int]
) -> None:
    # given one document written four ways: comments, spacing and commas differ
    texts = [
        "{ regions { code } once: __typename } #1",
        "{ regions { code } once: __typename } #2",
        "{regions{code}once:__typename}",
        "{\n  regions {\n    code,\n  }\n  once: __typename\n}\n# a comment",
    ]

    # when each is sent
    answers = [app_client.post("/graphql", json={"query": t}).json() for t in texts]

    # then each is answered, and validated once in all
    assert all("errors" not in a for a in answers)
    assert all(a["data"] == answers[0]["data"] for a in answers)
    assert len(validations) == 1


def test_errors_of_an_equivalent_document_point_into_its_own_text(
    app_client: TestClient, validations: list[int]
) -> None:
    first = app_client.post("/graphql", json={"query": "{ regions { nope1 } }"}).json()
    second = app_client.post(
        "/graphql", json={"query": "# moved\n\n{\n  regions {\n      nope1 } }"}
    ).json()
    assert first["errors"][0]["message"] == second["errors"][0]["message"]
    assert first["errors"][0]["locations"] == [{"line": 1, "column": 13}]
    assert second["errors"][0]["locations"] == [{"line": 5, "column": 7}]
    assert second["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert len(validations) == 1


#: what 50 requests leave allocated besides the cache is about 40 KB (log records, buffers)
TOLERANCE = 256 * 1024


@pytest.fixture
def app_with_budget(settings: Settings, engine: Engine) -> Iterator[Callable[[int], TestClient]]:
    """Apps whose parsed-document cache has the given budget (and no response cache)."""
    with ExitStack() as stack:

        def make(budget: int) -> TestClient:
            small = settings.model_copy(
                update={"document_cache_bytes": budget, "response_cache": False}
            )
            client = stack.enter_context(TestClient(create_app(small)))
            client.post("/graphql", json={"query": "{ warm: __typename }"})
            return client

        yield make


def retained(send: Callable[[], None]) -> int:
    """Bytes still allocated after ``send`` (traced from its start)."""
    gc.collect()
    tracemalloc.start()
    try:
        send()
        gc.collect()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_refused_documents_stay_within_the_budget(
    app_with_budget: Callable[[int], TestClient],
) -> None:
    # given an app whose cache holds 4 MiB, and 20 documents of 4,990 selections each, each
    # with its own comment (about 2.8 MB each once parsed)
    client = app_with_budget(4 * MiB)

    def send() -> None:
        for i in range(20):
            query = "{ " + "a " * 4990 + "} #" + str(i)
            body = client.post("/graphql", json={"query": query}).json()
            assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"

    # then what stays allocated is within the cache's budget
    assert retained(send) < 4 * MiB + TOLERANCE


def test_kept_documents_stay_within_the_budget(
    app_with_budget: Callable[[int], TestClient],
) -> None:
    # given an app whose cache holds 1 MiB, and 40 distinct documents that pass every limit
    # (150 selections in 900 characters, about 75 KB each once parsed)
    client = app_with_budget(1 * MiB)
    region = "id " * 30 + "code " * 30 + "name " * 30 + "zones { " + "name " * 30 + "} "
    region += "__typename " * 30

    def send() -> None:
        for i in range(40):
            query = "{ regions { " + region + "} } #" + str(i)
            body = client.post("/graphql", json={"query": query}).json()
            assert "errors" not in body, body["errors"]

    # then what stays allocated is within the cache's budget
    assert retained(send) < 1 * MiB + TOLERANCE
