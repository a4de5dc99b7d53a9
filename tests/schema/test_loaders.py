"""STYLE rule 5 / PERFORMANCE P3: a page costs the same number of SQL statements at any size."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import StatementCounter, counting

PAGE = """query($first: Int!) { images(first: $first) { edges { node {
  id name type status createdAt region { code name } os { type name version arch }
  chargeRoot { osLicense listing { id title } } listing { id kind }
  source { kind region { code } } } } } }"""


@pytest.fixture(scope="module")
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    # the response cache is off here: these tests count what the resolvers themselves cost
    roomy = settings.model_copy(update={"max_query_cost": 1_000_000, "response_cache": False})
    with TestClient(create_app(roomy)) as client:
        yield client


def _statements(client: TestClient, first: int, tenant: Tenant | None) -> int:
    with counting(client.app, StatementCounter(pages_only=True)) as counter:
        data = gql(client, PAGE, {"first": first}, tenant)["data"]["images"]
    assert len(data["edges"]) == first
    return counter.count


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "token"])
def test_page_statement_count_does_not_grow_with_page_size(
    client: TestClient, factory: Factory, authenticated: bool
) -> None:
    tenant = factory.account() if authenticated else None
    if tenant is not None:
        for region in ("bj", "gz", "su"):
            custom_image(client.app.state.engine, tenant.id, region=region)  # type: ignore[attr-defined]
    counts = {n: _statements(client, n, tenant) for n in (1, 50, 100)}
    assert counts[1] == counts[50] == counts[100], counts
    # P3: the page (with regions and listings joined) and the source regions' batch; with a
    # token also its lookup and the owners' batch
    assert counts[100] <= (4 if authenticated else 2), counts


CONSOLE_PAGE = """query($first: Int!) { images(first: $first) { edges { cursor node {
  id name type status minDiskGb createdAt region { code name } os { type name version arch lang }
  chargeRoot { osLicense listing { id title kind } } listing { id title } } }
  pageInfo { hasNextPage endCursor } } }"""


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "token"])
def test_the_console_image_page_is_one_query(
    client: TestClient, factory: Factory, authenticated: bool
) -> None:
    """P3: images(first: N) with region, os, chargeRoot and listing costs one statement
    (the token's and the versions' check aside), whatever N."""
    tenant = factory.account() if authenticated else None
    for first in (1, 50, 100):
        with counting(client.app, StatementCounter(pages_only=True)) as counter:
            data = gql(client, CONSOLE_PAGE, {"first": first}, tenant)["data"]["images"]
        assert len(data["edges"]) == first
        assert counter.count == 1, first
