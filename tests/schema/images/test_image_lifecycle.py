"""Custom-image rules in process (R7, R8, R10-R14, R20-R22, R30-R34, R40-R43, R54, R55, R62)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import (
    CANCEL,
    COPY,
    CREATE,
    CREATE_IMAGE,
    DELETE,
    DELETE_SNAPSHOT,
    GET_IMAGE,
    REBUILD,
    SHARE,
    SNAPSHOT,
    UNSHARE,
    balance,
    launch,
)

RENAME = """mutation($id: ID!, $n: String!) { renameImage(input: {imageId: $id, name: $n}) {
  image { name } userErrors { code field message } } }"""


def errors(body: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    payload = next(iter(body["data"].values()))
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


@pytest.fixture
def instance(
    app_client: TestClient, factory: Factory, run_operations: Callable[[], int]
) -> Callable[..., tuple[Tenant, str]]:
    """Make a RUNNING instance (postpaid by default) for a new or given tenant."""

    def make(tenant: Tenant | None = None, **overrides: Any) -> tuple[Tenant, str]:
        owner = tenant or factory.account(balance="5000")
        body = gql(app_client, CREATE, {"i": launch(factory.public_image(), **overrides)}, owner)
        payload = body["data"]["createInstances"]
        assert payload["userErrors"] == [], payload["userErrors"]
        run_operations()
        return owner, payload["instances"][0]["id"]

    return make


def image_of(app_client: TestClient, run: Callable[[], int], tenant: Tenant, **source: str) -> str:
    body = gql(app_client, CREATE_IMAGE, {"i": {"name": "img", **source}}, tenant)["data"][
        "createImage"
    ]
    assert body["userErrors"] == [], body["userErrors"]
    run()
    image_id: str = body["image"]["id"]
    return image_id


def test_create_image_needs_exactly_one_source(app_client: TestClient, factory: Factory) -> None:
    tenant = factory.account()
    for source in ({}, {"instanceId": "i-00000000", "snapshotId": "s-00000000"}):
        body = gql(app_client, CREATE_IMAGE, {"i": {"name": "x", **source}}, tenant)
        assert errors(body)[0][0] == "INVALID_INPUT"


def test_create_image_checks_name_description_and_instance_state(
    app_client: TestClient, factory: Factory, instance: Callable[..., tuple[Tenant, str]]
) -> None:
    tenant, instance_id = instance()
    body = gql(
        app_client,
        CREATE_IMAGE,
        {"i": {"name": "1bad", "description": "d" * 257, "instanceId": instance_id}},
        tenant,
    )
    assert errors(body) == [
        ("INVALID_NAME", ["input", "name"]),
        ("INVALID_INPUT", ["input", "description"]),
    ]
    starting = gql(app_client, CREATE, {"i": launch(factory.public_image())}, tenant)
    new_id = starting["data"]["createInstances"]["instances"][0]["id"]
    refused = gql(app_client, CREATE_IMAGE, {"i": {"name": "ok", "instanceId": new_id}}, tenant)
    assert errors(refused) == [("INSTANCE_STATUS_FORBIDDEN", ["input", "instanceId"])]


def test_create_image_is_idempotent_with_a_client_token(
    app_client: TestClient, instance: Callable[..., tuple[Tenant, str]]
) -> None:
    tenant, instance_id = instance()
    request = {"i": {"name": "same", "instanceId": instance_id, "clientToken": "img-1"}}
    first = gql(app_client, CREATE_IMAGE, request, tenant)["data"]["createImage"]
    second = gql(app_client, CREATE_IMAGE, request, tenant)["data"]["createImage"]
    assert second["image"]["id"] == first["image"]["id"]
    assert second["operation"]["id"] == first["operation"]["id"]
    other = {"i": {"name": "other", "instanceId": instance_id, "clientToken": "img-1"}}
    assert errors(gql(app_client, CREATE_IMAGE, other, tenant)) == [
        ("IDEMPOTENCY_CONFLICT", ["input", "clientToken"])
    ]


def test_image_progress_and_source_fields(
    app_client: TestClient, instance: Callable[..., tuple[Tenant, str]]
) -> None:
    tenant, instance_id = instance(systemDisk={"storageType": "LOCAL_SSD", "sizeGb": 80})
    body = gql(app_client, CREATE_IMAGE, {"i": {"name": "p", "instanceId": instance_id}}, tenant)
    image = body["data"]["createImage"]["image"]
    assert (
        image["progress"] == 0 and image["systemDiskKind"] == "LOCAL" and image["minDiskGb"] == 80
    )


def test_rename_rules(
    app_client: TestClient,
    factory: Factory,
    instance: Callable[..., tuple[Tenant, str]],
    run_operations: Callable[[], int],
) -> None:
    tenant, instance_id = instance()
    image_id = image_of(app_client, run_operations, tenant, instanceId=instance_id)
    ok = gql(app_client, RENAME, {"id": image_id, "n": "web-v2.1"}, tenant)["data"]["renameImage"]
    assert ok == {"image": {"name": "web-v2.1"}, "userErrors": []}
    assert errors(gql(app_client, RENAME, {"id": image_id, "n": "no spaces"}, tenant)) == [
        ("INVALID_NAME", ["input", "name"])
    ]
    public = factory.public_image()
    assert errors(gql(app_client, RENAME, {"id": public, "n": "mine"}, tenant)) == [
        ("IMAGE_NOT_CUSTOM", ["input", "imageId"])
    ]


def test_delete_rules(
    app_client: TestClient, factory: Factory, instance: Callable[..., tuple[Tenant, str]]
) -> None:
    tenant, instance_id = instance()
    creating = gql(
        app_client, CREATE_IMAGE, {"i": {"name": "c", "instanceId": instance_id}}, tenant
    )
    image_id = creating["data"]["createImage"]["image"]["id"]
    assert errors(gql(app_client, DELETE, {"id": image_id}, tenant)) == [
        ("IMAGE_CREATING", ["input", "imageId"])
    ]
    assert errors(gql(app_client, DELETE, {"id": factory.public_image()}, tenant)) == [
        ("IMAGE_NOT_CUSTOM", ["input", "imageId"])
    ]
    assert errors(gql(app_client, DELETE, {"id": "m-00000000"}, tenant)) == [
        ("IMAGE_NOT_FOUND", ["input", "imageId"])
    ]


@pytest.fixture
def small_quotas(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    tight = settings.model_copy(
        update={"share_quota_per_image": 2, "shared_with_me_quota": 1, "custom_image_quota": 3}
    )
    with TestClient(create_app(tight)) as client:
        yield client


def test_share_quotas(small_quotas: TestClient, factory: Factory, engine: Engine) -> None:
    owner = factory.account()
    a, b, c = factory.account(), factory.account(), factory.account()
    first, second = custom_image(engine, owner.id), custom_image(engine, owner.id)

    def share(image: str, ids: list[str]) -> dict[str, Any]:
        return gql(small_quotas, SHARE, {"i": {"imageId": image, "accountIds": ids}}, owner)

    assert errors(share(first, [a.id, b.id, a.id])) == []  # duplicates collapse
    over = share(first, [c.id])
    assert errors(over) == [("SHARE_QUOTA_EXCEEDED", ["input", "accountIds"])]
    recipient = share(second, [c.id, a.id])
    assert errors(recipient) == [("RECIPIENT_QUOTA_EXCEEDED", ["input", "accountIds", "1"])]
    # nothing of the failed request happened: c did not get the second image either
    assert gql(small_quotas, GET_IMAGE, {"id": second}, c)["data"]["image"] is None


def test_unshare_is_idempotent_and_atomic(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, friend, stranger = factory.account(), factory.account(), factory.account()
    image_id = custom_image(engine, owner.id)
    gql(app_client, SHARE, {"i": {"imageId": image_id, "accountIds": [friend.id]}}, owner)
    bad = gql(
        app_client,
        UNSHARE,
        {"i": {"imageId": image_id, "accountIds": [friend.id, "acc-zzzzzzzz"]}},
        owner,
    )
    assert errors(bad) == [("INVALID_ACCOUNT", ["input", "accountIds", "1"])]
    seen = gql(app_client, GET_IMAGE, {"id": image_id}, friend, expect_errors=True)
    assert seen["data"]["image"] is not None  # still shared: the bad request changed nothing
    ok = gql(
        app_client,
        UNSHARE,
        {"i": {"imageId": image_id, "accountIds": [friend.id, stranger.id]}},
        owner,
    )
    assert ok["data"]["unshareImage"]["image"]["sharedWith"]["totalCount"] == 0
    assert gql(app_client, GET_IMAGE, {"id": image_id}, friend)["data"]["image"] is None


def test_shared_images_appear_as_shared_in_lists(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, friend = factory.account(), factory.account()
    image_id = custom_image(engine, owner.id, region="gz")
    gql(app_client, SHARE, {"i": {"imageId": image_id, "accountIds": [friend.id]}}, owner)
    query = "query($t: [ImageType!]) { images(filter: {types: $t}) { nodes { id type } } }"
    shared = gql(app_client, query, {"t": ["SHARED"]}, friend)["data"]["images"]["nodes"]
    assert shared == [{"id": image_id, "type": "SHARED"}]
    assert gql(app_client, query, {"t": ["CUSTOM"]}, friend)["data"]["images"]["nodes"] == []
    assert gql(app_client, query, {"t": ["SHARED"]}, owner)["data"]["images"]["nodes"] == []


def test_custom_image_quota_counts_copies_in_flight(
    small_quotas: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    source = custom_image(engine, owner.id, region="bj")
    custom_image(engine, owner.id, region="gz")
    custom_image(engine, owner.id, region="gz", status="CREATING")
    custom_image(engine, owner.id, region="gz", status="CREATE_FAILED")  # does not count
    ok = gql(small_quotas, COPY, {"i": {"imageId": source, "destinationRegions": ["gz"]}}, owner)
    assert errors(ok) == []
    again = gql(
        small_quotas, COPY, {"i": {"imageId": source, "destinationRegions": ["su", "gz"]}}, owner
    )
    assert errors(again) == [("IMAGE_REPLICATING", ["input", "imageId"])]


def test_copy_size_and_quota_checks(
    small_quotas: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    big = custom_image(engine, owner.id, size_gb=201)
    assert errors(
        gql(small_quotas, COPY, {"i": {"imageId": big, "destinationRegions": ["gz"]}}, owner)
    ) == [("IMAGE_TOO_LARGE_TO_COPY", ["input", "imageId"])]
    source = custom_image(engine, owner.id)
    for _ in range(3):
        custom_image(engine, owner.id, region="su")
    body = gql(
        small_quotas, COPY, {"i": {"imageId": source, "destinationRegions": ["gz", "su"]}}, owner
    )
    assert errors(body) == [("IMAGE_QUOTA_EXCEEDED", ["input", "destinationRegions", "1"])]
    listed = gql(
        small_quotas,
        '{ images(filter: {region: "gz", types: [CUSTOM]}) { totalCount } }',
        tenant=owner,
    )
    assert listed["data"]["images"]["totalCount"] == 0  # atomic: the gz copy was not made either


def test_cancel_refuses_what_is_not_a_copy_in_flight(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    image_id = custom_image(engine, owner.id)
    assert errors(gql(app_client, CANCEL, {"id": image_id}, owner)) == [
        ("IMAGE_STATUS_FORBIDDEN", ["input", "imageId"])
    ]


def test_snapshot_rules(
    app_client: TestClient,
    factory: Factory,
    instance: Callable[..., tuple[Tenant, str]],
    run_operations: Callable[[], int],
) -> None:
    tenant, instance_id = instance(systemDisk={"storageType": "CDS_PREMIUM", "sizeGb": 70})
    body = gql(app_client, SNAPSHOT, {"i": {"instanceId": instance_id, "name": "s1"}}, tenant)[
        "data"
    ]["createSnapshot"]
    assert body["snapshot"] == {
        "id": body["snapshot"]["id"],
        "status": "CREATING",
        "sizeGb": 70,
        "systemDiskKind": "CDS",
    }
    early = gql(app_client, DELETE_SNAPSHOT, {"id": body["snapshot"]["id"]}, tenant)
    assert errors(early) == [("SNAPSHOT_STATUS_FORBIDDEN", ["input", "snapshotId"])]
    creating_image = gql(
        app_client, CREATE_IMAGE, {"i": {"name": "x", "snapshotId": body["snapshot"]["id"]}}, tenant
    )
    assert errors(creating_image) == [("SNAPSHOT_STATUS_FORBIDDEN", ["input", "snapshotId"])]
    run_operations()
    listed = gql(
        app_client,
        "query($i: ID!) { snapshots(filter: {instance: $i}) { nodes { id status usedByImages { id } instance { id } } } }",
        {"i": instance_id},
        tenant,
    )["data"]["snapshots"]["nodes"]
    assert listed == [
        {
            "id": body["snapshot"]["id"],
            "status": "AVAILABLE",
            "usedByImages": [],
            "instance": {"id": instance_id},
        }
    ]
    bad = gql(app_client, SNAPSHOT, {"i": {"instanceId": instance_id, "name": "has space"}}, tenant)
    assert errors(bad) == [("INVALID_NAME", ["input", "name"])]


def test_rebuild_keeps_snapshots_that_back_images_and_deletes_the_rest(
    app_client: TestClient,
    factory: Factory,
    instance: Callable[..., tuple[Tenant, str]],
    run_operations: Callable[[], int],
) -> None:
    tenant, instance_id = instance()
    snaps = []
    for name in ("keep", "drop"):
        body = gql(app_client, SNAPSHOT, {"i": {"instanceId": instance_id, "name": name}}, tenant)
        snaps.append(body["data"]["createSnapshot"]["snapshot"]["id"])
    run_operations()
    image_of(app_client, run_operations, tenant, snapshotId=snaps[0])
    made_from_instance = image_of(app_client, run_operations, tenant, instanceId=instance_id)
    rebuilt = gql(
        app_client,
        REBUILD,
        {"i": {"instanceId": instance_id, "imageId": factory.public_image(os_type="WINDOWS")}},
        tenant,
    )
    assert errors(rebuilt) == []
    run_operations()
    left = gql(
        app_client,
        "query($i: ID!) { snapshots(filter: {instance: $i}) { nodes { id } } }",
        {"i": instance_id},
        tenant,
    )
    assert left["data"]["snapshots"]["nodes"] == [{"id": snaps[0]}]
    kept = gql(app_client, GET_IMAGE, {"id": made_from_instance}, tenant)["data"]["image"]
    assert kept["status"] == "AVAILABLE"


def test_rebuild_of_a_stopped_ebc_instance_is_refused(
    app_client: TestClient, factory: Factory, instance: Callable[..., tuple[Tenant, str]]
) -> None:
    ebc_image = factory.public_image(generation="EBC")
    tenant, instance_id = instance(
        imageId=ebc_image,
        flavor="ebc.g5.c48m192",
        systemDisk={"storageType": "LOCAL_SSD", "sizeGb": 100},
    )
    stop = f'mutation {{ stopInstance(input: {{instanceId: "{instance_id}"}}) {{ userErrors {{ code }} }} }}'
    gql(app_client, stop, tenant=tenant)
    body = gql(
        app_client, REBUILD, {"i": {"instanceId": instance_id, "imageId": ebc_image}}, tenant
    )
    assert errors(body) == [("INSTANCE_STATUS_FORBIDDEN", ["input", "instanceId"])]


def test_prepaid_rebuild_without_the_money_changes_nothing(
    app_client: TestClient, factory: Factory, instance: Callable[..., tuple[Tenant, str]]
) -> None:
    tenant = factory.account(balance="220")
    _, instance_id = instance(tenant, billing={"timing": "PREPAID", "months": 1})
    left = balance(app_client, tenant)
    assert left < Decimal("10")
    body = gql(
        app_client,
        REBUILD,
        {"i": {"instanceId": instance_id, "imageId": factory.public_image(os_type="WINDOWS")}},
        tenant,
    )
    assert errors(body) == [("INSUFFICIENT_BALANCE", None)]
    state = gql(
        app_client,
        f'{{ instance(id: "{instance_id}") {{ status charges {{ kind }} }} }}',
        tenant=tenant,
    )
    assert state["data"]["instance"] == {"status": "RUNNING", "charges": [{"kind": "COMPUTE"}]}
    assert balance(app_client, tenant) == left


def test_rebuild_is_idempotent(
    app_client: TestClient, factory: Factory, instance: Callable[..., tuple[Tenant, str]]
) -> None:
    tenant, instance_id = instance(billing={"timing": "PREPAID", "months": 3})
    request = {
        "i": {
            "instanceId": instance_id,
            "imageId": factory.public_image(os_type="WINDOWS"),
            "clientToken": "rb-1",
        }
    }
    first = gql(app_client, REBUILD, request, tenant)["data"]["rebuildInstance"]
    spent = balance(app_client, tenant)
    second = gql(app_client, REBUILD, request, tenant)["data"]["rebuildInstance"]
    assert second["order"]["id"] == first["order"]["id"]
    assert second["operation"]["id"] == first["operation"]["id"]
    assert balance(app_client, tenant) == spent
