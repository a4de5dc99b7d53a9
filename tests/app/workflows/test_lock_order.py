"""Which rows each limited mutation locks, and when (R155, R209): the accounts first, then any
resource row, and every count a limit is checked against only after its lock is held.

The statements are watched as the ORM runs them, rendered for PostgreSQL (SQLite takes its
write lock at BEGIN and ignores FOR UPDATE, so on SQLite this pins the code's intent).
tests/acceptance/test_races.py shows what the order buys on PostgreSQL with three workers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.sql import ClauseElement
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.diskimages.accepted import qcow2
from tests.factories import Factory, Tenant, gql
from tests.fixtures import (
    COPY,
    CREATE,
    CREATE_IMAGE,
    DELETE,
    IMPORT,
    RESTORE,
    SHARE,
    SNAPSHOT,
    TAG,
    UPLOAD,
    import_input,
    launch,
)

POSTGRESQL = create_engine("postgresql+psycopg://").dialect  # renders FOR UPDATE; never connects

#: (what, table): ("lock", t) for SELECT ... FOR [NO KEY] UPDATE, ("count", t) for a count,
#: ("read", t) for any other read
Seen = tuple[str, str]


@contextmanager
def watched() -> Iterator[list[Seen]]:
    """The reads and locks the ORM runs in this process while the block runs, in order."""
    seen: list[Seen] = []

    def on_execute(state: ORMExecuteState) -> None:
        if not state.is_select:
            return
        statement = state.statement
        assert isinstance(statement, ClauseElement)
        sql = str(statement.compile(dialect=POSTGRESQL))
        found = re.search(r"\bFROM (\w+)", sql)
        table = found.group(1) if found else ""
        if re.search(r"FOR (NO KEY )?UPDATE", sql):
            seen.append(("lock", table))
        elif "count(" in sql:
            seen.append(("count", table))
        else:
            seen.append(("read", table))

    event.listen(Session, "do_orm_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(Session, "do_orm_execute", on_execute)


def check_order(seen: list[Seen], counted: Seen) -> None:
    """Accounts are locked before any other row and never after one (R209), and ``counted``
    happens only once an account is locked (R155).
    """
    locks = [table for what, table in seen if what == "lock"]
    assert locks and locks[0] == "account", seen
    first_other = next((i for i, t in enumerate(locks) if t != "account"), len(locks))
    assert "account" not in locks[first_other:], seen
    assert counted in seen, seen
    assert seen.index(("lock", "account")) < seen.index(counted), seen


@pytest.fixture
def owner(factory: Factory) -> Tenant:
    """An account with money to launch with."""
    return factory.account(balance="5000")


@pytest.fixture
def act(app_client: TestClient) -> Callable[[str, dict[str, Any], Tenant], dict[str, Any]]:
    """Run a mutation that must succeed; its payload."""

    def run(document: str, value: dict[str, Any], tenant: Tenant) -> dict[str, Any]:
        body = gql(app_client, document, {"i": value}, tenant)["data"]
        payload: dict[str, Any] = next(iter(body.values()))
        assert payload["userErrors"] == [], payload["userErrors"]
        return payload

    return run


Act = Callable[[str, dict[str, Any], Tenant], dict[str, Any]]


@pytest.fixture
def instance_id(
    act: Act, owner: Tenant, factory: Factory, run_operations: Callable[[], int]
) -> str:
    """A RUNNING instance of the owner's."""
    made = act(CREATE, launch(factory.public_image()), owner)
    run_operations()
    found: str = made["instances"][0]["id"]
    return found


@pytest.fixture
def snapshot_id(
    act: Act, owner: Tenant, instance_id: str, run_operations: Callable[[], int]
) -> str:
    """An AVAILABLE snapshot of the owner's instance."""
    made = act(SNAPSHOT, {"instanceId": instance_id, "name": "nightly"}, owner)
    run_operations()
    found: str = made["snapshot"]["id"]
    return found


@pytest.fixture
def image_id(act: Act, owner: Tenant, snapshot_id: str, run_operations: Callable[[], int]) -> str:
    """An AVAILABLE custom image of the owner's."""
    made = act(CREATE_IMAGE, {"name": "golden", "snapshotId": snapshot_id}, owner)
    run_operations()
    found: str = made["image"]["id"]
    return found


def test_create_image_from_a_snapshot_locks_the_account_first(
    act: Act, owner: Tenant, snapshot_id: str
) -> None:
    with watched() as seen:
        act(CREATE_IMAGE, {"name": "golden", "snapshotId": snapshot_id}, owner)
    check_order(seen, ("count", "image"))
    assert ("lock", "snapshot") in seen


def test_create_image_from_an_instance_locks_the_account_first(
    act: Act, owner: Tenant, instance_id: str
) -> None:
    with watched() as seen:
        act(CREATE_IMAGE, {"name": "golden", "instanceId": instance_id}, owner)
    check_order(seen, ("count", "image"))
    assert ("lock", "instance") in seen


def test_copy_locks_the_account_before_the_source(act: Act, owner: Tenant, image_id: str) -> None:
    with watched() as seen:
        act(COPY, {"imageId": image_id, "destinationRegions": ["gz"]}, owner)
    check_order(seen, ("count", "image"))
    assert ("lock", "image") in seen


def test_restore_locks_the_account_before_the_image(
    act: Act, owner: Tenant, image_id: str, app_client: TestClient
) -> None:
    body = gql(app_client, DELETE, {"id": image_id}, owner)["data"]["deleteImage"]
    assert body["userErrors"] == []
    with watched() as seen:
        act(RESTORE, {"imageId": image_id}, owner)
    check_order(seen, ("count", "image"))
    assert ("lock", "image") in seen


def test_import_counts_under_the_account_lock(
    act: Act, owner: Tenant, app_client: TestClient
) -> None:
    response = app_client.post(
        "/graphql",
        headers=owner.headers,
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": {"f": None, "r": "bj"}}),
            "map": json.dumps({"0": ["variables.f"]}),
        },
        files={"0": ("disk.qcow2", qcow2(), "application/octet-stream")},
    )
    key = response.json()["data"]["uploadObject"]["object"]["key"]
    with watched() as seen:
        act(IMPORT, import_input(key, "QCOW2"), owner)
    check_order(seen, ("count", "image"))


def test_share_locks_the_recipients_before_the_image(
    act: Act, owner: Tenant, image_id: str, factory: Factory
) -> None:
    recipients = [factory.account().id for _ in range(3)]
    with watched() as seen:
        act(SHARE, {"imageId": image_id, "accountIds": recipients}, owner)
    check_order(seen, ("count", "image_share"))
    assert ("lock", "image") in seen


def test_tagging_reads_the_keys_under_the_account_lock(
    act: Act, owner: Tenant, image_id: str, snapshot_id: str
) -> None:
    tags = [{"key": "team", "value": "web"}]
    with watched() as seen:
        act(TAG, {"resourceIds": [image_id, snapshot_id], "tags": tags}, owner)
    check_order(seen, ("read", "tag"))


def accounts_first(seen: list[Seen]) -> list[str]:
    """The tables locked, after asserting that no account is locked once another row is."""
    locks = [table for what, table in seen if what == "lock"]
    first_other = next((i for i, t in enumerate(locks) if t != "account"), len(locks))
    assert "account" not in locks[first_other:], seen
    return locks


def test_buying_rebuilding_onto_and_refunding_a_listing_lock_its_provider_with_the_buyer(
    app_client: TestClient,
    act: Act,
    factory: Factory,
    engine: Any,
    run_operations: Callable[[], int],
) -> None:
    from tests.fixtures import REBUILD, make_listing

    _, _, market_image = make_listing(app_client, factory, engine)
    assert market_image is not None
    buyer = factory.account(balance="5000")
    prepaid = {"timing": "PREPAID", "months": 1}
    # buying: the provider's account is locked with the buyer's, before the new rows
    with watched() as seen:
        made = act(CREATE, launch(market_image, billing=prepaid), buyer)
    assert accounts_first(seen)[0] == "account"
    run_operations()
    # rebuilding a prepaid instance onto the listing: the same
    other = act(CREATE, launch(factory.public_image(), billing=prepaid), buyer)
    run_operations()
    with watched() as seen:
        act(REBUILD, {"instanceId": other["instances"][0]["id"], "imageId": market_image}, buyer)
    assert "instance" in accounts_first(seen)
    # releasing (a refund reverses the provider's revenue): the same
    with watched() as seen:
        gql(
            app_client,
            "mutation($id: ID!) { releaseInstance(input: {instanceId: $id}) { refund { amount } } }",
            {"id": made["instances"][0]["id"]},
            buyer,
        )
    assert "instance" in accounts_first(seen)
