"""Who uses an image (issue 25; R173, R204): ``Image.usage`` counts every account's instances for
the image's owner and administrators, and names no other account's ids.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.platform.viewer import Role
from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import CREATE, RELEASE, SHARE, launch, make_listing

USAGE = """query($id: ID!) { image(id: $id) { id name owner { id }
  usage { liveInstances accountsUsing lastLaunchedAt listings { id status } } } }"""


def _launch(client: TestClient, tenant: Tenant, image: str, count: int) -> list[dict[str, Any]]:
    body = gql(client, CREATE, {"i": launch(image, count=count)}, tenant)["data"]
    assert body["createInstances"]["userErrors"] == []
    instances: list[dict[str, Any]] = body["createInstances"]["instances"]
    return instances


def _usage(client: TestClient, tenant: Tenant, image: str) -> dict[str, Any]:
    body = gql(client, USAGE, {"id": image}, tenant)
    usage: dict[str, Any] = body["data"]["image"]["usage"]
    return usage


def test_the_owner_counts_every_accounts_instances_and_sees_none_of_their_ids(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, friend = factory.account(balance="1000"), factory.account(balance="1000")
    image = custom_image(engine, owner.id)
    shared = gql(app_client, SHARE, {"i": {"imageId": image, "accountIds": [friend.id]}}, owner)
    assert shared["data"]["shareImage"]["userErrors"] == []
    assert _usage(app_client, owner, image) == {
        "liveInstances": 0,
        "accountsUsing": 0,
        "lastLaunchedAt": None,
        "listings": [],
    }
    [own] = _launch(app_client, owner, image, 1)
    theirs = _launch(app_client, friend, image, 2)
    seen = gql(app_client, USAGE, {"id": image}, owner)
    assert seen["data"]["image"]["usage"] == {
        "liveInstances": 3,
        "accountsUsing": 2,
        "lastLaunchedAt": max(i["createdAt"] for i in [own, *theirs]),
        "listings": [],
    }
    answer = json.dumps(seen)
    assert friend.id not in answer
    assert not any(i["id"] in answer for i in theirs)
    # the friend may launch from it, but not see who else does
    refused = gql(app_client, USAGE, {"id": image}, friend, expect_errors=True)
    assert refused["data"]["image"]["usage"] is None
    assert sorted((e["path"], e["extensions"]["code"]) for e in refused["errors"]) == [
        (["image", "owner"], "FORBIDDEN"),
        (["image", "usage"], "FORBIDDEN"),
    ]
    # released instances no longer count; the last launch stays
    launched = seen["data"]["image"]["usage"]["lastLaunchedAt"]
    app_client.app.state.worker.tick()  # type: ignore[attr-defined]  # they are running
    for instance in theirs:
        released = gql(app_client, RELEASE, {"id": instance["id"]}, friend)["data"]
        assert released["releaseInstance"]["userErrors"] == []
    assert _usage(app_client, owner, image) == {
        "liveInstances": 1,
        "accountsUsing": 1,
        "lastLaunchedAt": launched,
        "listings": [],
    }
    admin = factory.account(Role.ADMIN)
    assert _usage(app_client, admin, image)["liveInstances"] == 1


def test_usage_is_never_served_stale_from_the_response_cache(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    """Another account's launch moves no version of the owner's: the answer is not kept."""
    owner, friend = factory.account(), factory.account(balance="1000")
    image = custom_image(engine, owner.id)
    gql(app_client, SHARE, {"i": {"imageId": image, "accountIds": [friend.id]}}, owner)
    assert _usage(app_client, owner, image)["liveInstances"] == 0
    assert _usage(app_client, owner, image)["liveInstances"] == 0  # asked twice: cacheable?
    _launch(app_client, friend, image, 1)
    assert _usage(app_client, owner, image)["liveInstances"] == 1


def test_a_published_image_names_its_listing(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    provider, listing_id, published = make_listing(app_client, factory, engine)
    assert published is not None
    assert _usage(app_client, provider, published)["listings"] == [
        {"id": listing_id, "status": "PUBLISHED"}
    ]
