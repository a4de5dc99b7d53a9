"""A field error that nulls a parent must not drop its siblings' resolvers unawaited.

graphql-core 3.3 cancels the sibling tasks of a field that fails. A task cancelled before its
first step never runs its coroutine, and that coroutine holds the resolver coroutines already
made for the fields below it: they were garbage-collected unawaited ("coroutine ... was never
awaited"; graphql-core issue #269). The sameness corpus hit it with a listing's provider's
``transactions`` (non-null, FORBIDDEN to others) next to the listing's images, whose
``listing`` is read asynchronously. ``schema.settling`` lets each sibling take its first step
before it is cancelled; the first test fails without it (12 coroutines dropped).
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from schema.settling import gather_with_cancel
from tests.factories import Factory
from tests.fixtures import make_listing

NULLED = """{ listings(last: 2) { nodes { id provider { name transactions(first: 1) {
  totalCount } customImageQuota } images { sizeGb listing { kind title } copyLock } } } }"""


@pytest.fixture
def dropped() -> Iterator[list[str]]:
    """The coroutines garbage-collected without ever being awaited."""
    found: list[str] = []
    before = sys.unraisablehook
    sys.unraisablehook = lambda u: found.append(repr(u.object))
    try:
        yield found
    finally:
        gc.collect()
        sys.unraisablehook = before


def test_a_forbidden_non_null_field_drops_no_sibling_unawaited(
    app_client: TestClient, engine: Engine, dropped: list[str]
) -> None:
    factory = Factory(engine)
    make_listing(app_client, factory, engine)
    make_listing(app_client, factory, engine)
    stranger = factory.account()
    for _ in range(3):
        body = app_client.post("/graphql", json={"query": NULLED}, headers=stranger.headers).json()
        assert body["data"] is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
        gc.collect()
    assert dropped == []


def test_the_first_failure_is_raised_and_the_rest_are_cancelled() -> None:
    ran: list[str] = []

    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("first")

    async def forever() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            ran.append("cancelled")

    async def both() -> None:
        await gather_with_cancel(fail(), forever())

    with pytest.raises(ValueError, match="first"):
        asyncio.run(both())
    assert ran == ["cancelled"]


def test_a_sibling_not_yet_started_runs_its_first_step_before_it_is_cancelled() -> None:
    steps: list[str] = []

    async def inner() -> None:
        steps.append("inner started")
        await asyncio.sleep(10)

    async def holder() -> None:
        steps.append("holder started")
        await inner()

    async def fail() -> None:
        raise ValueError("at once")

    async def both() -> None:
        await gather_with_cancel(fail(), holder())

    with pytest.raises(ValueError, match="at once"):
        asyncio.run(both())
    assert steps == ["holder started", "inner started"]


def test_the_results_come_back_in_order() -> None:
    async def value(n: int) -> int:
        await asyncio.sleep(0.001 * (3 - n))
        return n

    async def three() -> list[int]:
        return await gather_with_cancel(value(0), value(1), value(2))

    assert asyncio.run(three()) == [0, 1, 2]
