"""R163: a repeated POST is answered by its bytes, before the JSON or the document is parsed,
with the same status, headers and bytes as a cached answer served the ordinary way, the
bucket charged alike, and never to another caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from schema.http.answers import Answers
from schema.http.view import GraphQLView
from tests.factories import Factory, Tenant, custom_image

PAGE = {"query": "{ images(first: 5) { nodes { id name type } pageInfo { endCursor } } }"}
REMAINING = re.compile(rb'"remaining":-?[0-9]+')
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture(scope="module")
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


class Seen:
    """What answering a request took: JSON bodies decoded and operations executed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.decoded = 0
        self.executed = 0
        decode, execute = GraphQLView.decode_json, Answers.execute

        def decoded(view: GraphQLView, data: str | bytes) -> object:
            self.decoded += 1
            return decode(view, data)

        async def executed(answers: Answers, *args: Any) -> Any:
            self.executed += 1
            return await execute(answers, *args)

        monkeypatch.setattr(GraphQLView, "decode_json", decoded)
        monkeypatch.setattr(Answers, "execute", executed)

    def reset(self) -> None:
        self.decoded = self.executed = 0


def _post(
    client: TestClient, body: bytes, tenant: Tenant | None = None, accept: str | None = None
) -> Any:
    headers = {"Content-Type": "application/json"}
    if tenant is not None:
        headers.update(tenant.headers)
    if accept is not None:
        headers["Accept"] = accept
    return client.post("/graphql", content=body, headers=headers)


@pytest.mark.parametrize("accept", [None, GRAPHQL_RESPONSE])
@pytest.mark.parametrize("signed_in", [False, True])
def test_a_repeated_body_is_answered_by_its_bytes_as_the_cache_would(
    client: TestClient,
    factory: Factory,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    signed_in: bool,
    accept: str | None,
) -> None:
    tenant = factory.account() if signed_in else None
    if tenant is not None:
        custom_image(engine, tenant.id, name="kept")
    seen = Seen(monkeypatch)
    name = f"page_{signed_in}_{bool(accept)}"  # a request of its own for each case
    request = {"query": f"query {name} {PAGE['query']}", "variables": {}}
    body = json.dumps(request).encode()
    first = _post(client, body, tenant, accept)
    assert first.status_code == 200 and seen.executed == 1
    seen.reset()
    kept = _post(client, body, tenant, accept)  # the same bytes
    assert (seen.decoded, seen.executed) == (0, 0), "answered before anything was parsed"
    seen.reset()
    spaced = json.dumps(request, indent=2).encode()
    ordinary = _post(client, spaced, tenant, accept)  # the same request, other bytes
    assert (seen.decoded, seen.executed) == (1, 0), "the ordinary way, from the cache"
    assert kept.status_code == ordinary.status_code == 200
    assert REMAINING.sub(b"", kept.content) == REMAINING.sub(b"", ordinary.content)
    for header in ("content-type", "cache-control"):
        assert kept.headers.get(header) == ordinary.headers.get(header), header
    for answer in (kept, ordinary):  # the bucket's remaining points may differ by a digit
        assert answer.headers["content-length"] == str(len(answer.content))
    assert kept.json()["data"] == first.json()["data"]
    cost = kept.json()["extensions"]["cost"]
    assert cost["requested"] == first.json()["extensions"]["cost"]["requested"]


def test_another_caller_sending_the_same_bytes_gets_its_own_answer(
    client: TestClient, factory: Factory, engine: Engine
) -> None:
    mine = "{ viewer { id } }"
    owner, other = factory.account(), factory.account()
    body = json.dumps({"query": mine}).encode()
    assert _post(client, body, owner).json()["data"]["viewer"]["id"] == owner.id
    assert _post(client, body, owner).json()["data"]["viewer"]["id"] == owner.id
    assert _post(client, body, other).json()["data"]["viewer"]["id"] == other.id
    assert _post(client, body).json()["data"]["viewer"] is None


def test_a_kept_answer_is_charged_and_refused_like_any_other(
    settings: Settings, engine: Engine
) -> None:
    tight = settings.model_copy(
        update={"rate_limit_points": 40, "rate_limit_refill_per_second": 0.001}
    )
    body = json.dumps(PAGE).encode()
    with TestClient(create_app(tight)) as client:
        answers = [_post(client, body) for _ in range(12)]
    statuses = [a.status_code for a in answers]
    assert 429 in statuses, statuses
    refused = answers[statuses.index(429)]
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    remaining = [
        a.json()["extensions"]["cost"]["remaining"] for a in answers if a.status_code == 200
    ]
    assert remaining == sorted(remaining, reverse=True)  # every answer, kept or not, charged
