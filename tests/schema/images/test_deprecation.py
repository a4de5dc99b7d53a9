"""Deprecation in process: the IMAGE_DEPRECATED warning names the replacement only to viewers
who may see it (R124), and a replacement chain may not form a cycle, scheduled or not (R159).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import CREATE, SHARE, UNSHARE, launch

DEPRECATE = """mutation($i: DeprecateImageInput!) { deprecateImage(input: $i) {
  image { deprecation { state deprecateAt replacement { id } } }
  userErrors { code field message } } }"""
UNDEPRECATE = """mutation($i: UndeprecateImageInput!) { undeprecateImage(input: $i) {
  userErrors { code field message } } }"""
GET = "query($id: ID!) { image(id: $id) { deprecation { state replacement { id } } } }"
WARNINGS = "warnings { code message } userErrors { code field message }"
QUOTE = f"query($i: CreateInstancesInput!) {{ priceQuote(input: $i) {{ {WARNINGS} }} }}"
LAUNCH = f"""mutation($i: CreateInstancesInput!) {{ createInstances(input: $i) {{
  {WARNINGS} }} }}"""
REBUILD_QUOTE = f"query($i: RebuildInstancesInput!) {{ rebuildQuote(input: $i) {{ {WARNINGS} }} }}"
REBUILD_ONE = f"""mutation($i: RebuildInstanceInput!) {{ rebuildInstance(input: $i) {{
  {WARNINGS} }} }}"""
REBUILD_MANY = f"""mutation($i: RebuildInstancesInput!) {{ rebuildInstances(input: $i) {{
  {WARNINGS} }} }}"""


def _payload(body: dict[str, Any]) -> Any:
    return next(iter(body["data"].values()))


def _deprecate(
    client: TestClient,
    owner: Tenant,
    image_id: str,
    replacement: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {"imageId": image_id, "replacementImageId": replacement}
    if at is not None:
        value["deprecateAt"] = at.isoformat()
    payload: dict[str, Any] = _payload(gql(client, DEPRECATE, {"i": value}, owner))
    return payload


def _deprecated(
    client: TestClient,
    owner: Tenant,
    image_id: str,
    replacement: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Deprecate, asserting it was accepted; returns the image's deprecation."""
    payload = _deprecate(client, owner, image_id, replacement, at)
    assert payload["userErrors"] == [], payload["userErrors"]
    deprecation: dict[str, Any] = payload["image"]["deprecation"]
    return deprecation


def _deprecation(client: TestClient, tenant: Tenant, image_id: str) -> Any:
    return gql(client, GET, {"id": image_id}, tenant)["data"]["image"]["deprecation"]


def _later() -> datetime:
    """A month from now on the service clock (the in-process app runs on the real one)."""
    return datetime.now(UTC) + timedelta(days=30)


def _cycle(replacement: str, image_id: str) -> list[dict[str, Any]]:
    return [
        {
            "code": "INVALID_INPUT",
            "field": ["input", "replacementImageId"],
            "message": (
                f"Image {replacement} already leads to {image_id} through its replacements "
                "(scheduled or in force); a replacement chain may not form a cycle."
            ),
        }
    ]


# --- the warning follows the viewer's visibility (R124) ---------------------------------------


def _warning(image_id: str, deprecate_at: str, replacement: str | None) -> list[dict[str, str]]:
    since = datetime.fromisoformat(deprecate_at).isoformat(timespec="seconds")
    instead = f"; use {replacement} instead" if replacement else ""
    return [
        {
            "code": "IMAGE_DEPRECATED",
            "message": f"Image {image_id} is deprecated since {since}{instead}.",
        }
    ]


def _warnings(client: TestClient, document: str, value: dict[str, Any], tenant: Tenant) -> Any:
    payload = _payload(gql(client, document, {"i": value}, tenant))
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["warnings"]


@pytest.fixture
def running(
    app_client: TestClient, factory: Factory, run_operations: Callable[[], int]
) -> Callable[[Tenant], str]:
    """A RUNNING postpaid instance of a public image for a tenant."""

    def make(tenant: Tenant) -> str:
        body = gql(app_client, CREATE, {"i": launch(factory.public_image())}, tenant)
        payload = body["data"]["createInstances"]
        assert payload["userErrors"] == [], payload["userErrors"]
        run_operations()
        instance_id: str = payload["instances"][0]["id"]
        return instance_id

    return make


def test_the_warning_names_the_replacement_only_to_viewers_who_see_it(
    app_client: TestClient,
    factory: Factory,
    engine: Engine,
    running: Callable[[Tenant], str],
    run_operations: Callable[[], int],
) -> None:
    owner, friend = factory.account(balance="5000"), factory.account(balance="5000")
    old, new = custom_image(engine, owner.id), custom_image(engine, owner.id)
    share = {"imageId": old, "accountIds": [friend.id]}
    assert _payload(gql(app_client, SHARE, {"i": share}, owner))["userErrors"] == []
    deprecation = _deprecated(app_client, owner, old, replacement=new)
    assert deprecation["replacement"] == {"id": new}
    # the recipient does not see the replacement: the field is null, the warnings are silent
    assert _deprecation(app_client, friend, old)["replacement"] is None
    hidden = _warning(old, deprecation["deprecateAt"], None)
    shown = _warning(old, deprecation["deprecateAt"], new)
    theirs, mine = running(friend), running(owner)
    assert _warnings(app_client, QUOTE, launch(old), friend) == hidden
    assert _warnings(app_client, LAUNCH, launch(old), friend) == hidden
    rebuild = {"imageId": old, "instanceIds": [theirs]}
    assert _warnings(app_client, REBUILD_QUOTE, rebuild, friend) == hidden
    assert _warnings(app_client, REBUILD_MANY, rebuild, friend) == hidden
    run_operations()
    one = {"imageId": old, "instanceId": theirs}
    assert _warnings(app_client, REBUILD_ONE, one, friend) == hidden
    run_operations()
    # the owner sees it, in every payload
    assert _warnings(app_client, QUOTE, launch(old), owner) == shown
    assert _warnings(app_client, LAUNCH, launch(old), owner) == shown
    mine_rebuild = {"imageId": old, "instanceIds": [mine]}
    assert _warnings(app_client, REBUILD_QUOTE, mine_rebuild, owner) == shown
    assert _warnings(app_client, REBUILD_MANY, mine_rebuild, owner) == shown
    run_operations()
    assert _warnings(app_client, REBUILD_ONE, {"imageId": old, "instanceId": mine}, owner) == shown
    run_operations()
    # the warning follows visibility as it changes: shared, then unshared again
    also = {"imageId": new, "accountIds": [friend.id]}
    assert _payload(gql(app_client, SHARE, {"i": also}, owner))["userErrors"] == []
    assert _warnings(app_client, QUOTE, launch(old), friend) == shown
    assert _payload(gql(app_client, UNSHARE, {"i": also}, owner))["userErrors"] == []
    assert _warnings(app_client, QUOTE, launch(old), friend) == hidden


# --- replacement chains may not form a cycle (R159) -------------------------------------------


@pytest.mark.parametrize("scheduled", [True, False], ids=["scheduled", "now"])
def test_a_cycle_of_two_is_refused_when_the_first_link_is_only_scheduled(
    app_client: TestClient, factory: Factory, engine: Engine, scheduled: bool
) -> None:
    owner = factory.account()
    a, b = custom_image(engine, owner.id), custom_image(engine, owner.id)
    assert _deprecated(app_client, owner, a, replacement=b, at=_later())["state"] == "SCHEDULED"
    refused = _deprecate(app_client, owner, b, replacement=a, at=_later() if scheduled else None)
    assert refused["userErrors"] == _cycle(a, b)
    assert _deprecation(app_client, owner, b) is None  # nothing changed
    assert _deprecation(app_client, owner, a) == {"state": "SCHEDULED", "replacement": {"id": b}}


def test_a_longer_cycle_is_refused(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    a, b, c = (custom_image(engine, owner.id) for _ in range(3))
    _deprecated(app_client, owner, a, replacement=b, at=_later())
    _deprecated(app_client, owner, b, replacement=c, at=_later())
    assert _deprecate(app_client, owner, c, replacement=a, at=_later())["userErrors"] == _cycle(
        a, c
    )
    assert _deprecate(app_client, owner, c, replacement=a)["userErrors"] == _cycle(a, c)
    assert _deprecate(app_client, owner, c, replacement=b)["userErrors"] == _cycle(b, c)
    assert _deprecation(app_client, owner, c) is None


def test_a_cycle_through_another_tenants_images_is_refused(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    """The chain is followed whoever owns its links; the refusal names only what the caller
    sees (the replacement it gave and its own image)."""
    owner, other = factory.account(), factory.account()
    mine, theirs, hidden = (
        custom_image(engine, owner.id),
        custom_image(engine, other.id),
        custom_image(engine, other.id),
    )
    to_other = {"imageId": mine, "accountIds": [other.id]}
    assert _payload(gql(app_client, SHARE, {"i": to_other}, owner))["userErrors"] == []
    to_owner = {"imageId": theirs, "accountIds": [owner.id]}
    assert _payload(gql(app_client, SHARE, {"i": to_owner}, other))["userErrors"] == []
    _deprecated(app_client, other, theirs, replacement=hidden, at=_later())
    _deprecated(app_client, other, hidden, replacement=mine, at=_later())
    refused = _deprecate(app_client, owner, mine, replacement=theirs, at=_later())
    assert refused["userErrors"] == _cycle(theirs, mine)
    assert hidden not in refused["userErrors"][0]["message"]


def test_chains_without_a_cycle_are_accepted_and_undeprecating_breaks_one(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    a, b, c = (custom_image(engine, owner.id) for _ in range(3))
    _deprecated(app_client, owner, a, replacement=b, at=_later())
    _deprecated(app_client, owner, c, replacement=a, at=_later())  # c -> a -> b: a chain
    _deprecated(app_client, owner, a, replacement=b, at=_later())  # the same link again
    assert _deprecate(app_client, owner, b, replacement=c)["userErrors"] == _cycle(c, b)
    assert _payload(gql(app_client, UNDEPRECATE, {"i": {"imageId": a}}, owner))["userErrors"] == []
    # a no longer leads anywhere, so b -> c -> a is a chain
    assert _deprecated(app_client, owner, b, replacement=c, at=_later())["replacement"] == {"id": c}
