"""The custom-image lifecycle over real HTTP (SPEC §2, R51-R55, R70, R72)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.acceptance.conftest import Server, balance, create, image, make_image, running_instance
from tests.factories import Tenant
from tests.fixtures import (
    CANCEL,
    COPY,
    CREATE_IMAGE,
    DELETE,
    DELETE_SNAPSHOT,
    GET_IMAGE,
    REBUILD,
    SHARE,
    SNAPSHOT,
    UNSHARE,
    launch,
)

INSTANCE = """query($id: ID!) { instance(id: $id) { status statusReason
  image { id name os { type } image { id } } createdFromImage { id name image { id } }
  charges { kind amount { amount } } } }"""


def test_instance_image_share_launch_unshare_delete(server: Server) -> None:
    owner, friend = server.account(balance="2000"), server.account(balance="2000")
    instance_id = running_instance(
        server, owner, systemDisk={"storageType": "CDS_SSD", "sizeGb": 60}
    )
    created = make_image(server, owner, instanceId=instance_id)
    image_id = created["image"]["id"]
    # R11, R13: CREATING while the instance shows IMAGE_PROCESSING; inherits from its source
    assert created["image"]["status"] == "CREATING"
    assert created["image"]["minDiskGb"] == 60 and created["image"]["systemDiskKind"] == "CDS"
    assert created["image"]["source"] == {
        "kind": "INSTANCE",
        "id": instance_id,
        "region": {"code": "bj"},
    }
    assert (
        server.gql(INSTANCE, {"id": instance_id}, owner)["data"]["instance"]["status"]
        == "IMAGE_PROCESSING"
    )
    early = server.gql(SHARE, {"i": {"imageId": image_id, "accountIds": [friend.id]}}, owner)
    assert early["data"]["shareImage"]["userErrors"][0]["code"] == "IMAGE_STATUS_FORBIDDEN"  # R20
    server.wait_operation(created["operation"]["id"], owner)
    assert (
        server.gql(INSTANCE, {"id": instance_id}, owner)["data"]["instance"]["status"] == "RUNNING"
    )
    # R5: the friend cannot see it yet
    assert server.gql(GET_IMAGE, {"id": image_id}, friend)["data"]["image"] is None
    shared = server.gql(SHARE, {"i": {"imageId": image_id, "accountIds": [friend.id]}}, owner)
    assert shared["data"]["shareImage"]["image"]["sharedWith"]["nodes"] == [{"id": friend.id}]
    again = server.gql(SHARE, {"i": {"imageId": image_id, "accountIds": [friend.id]}}, owner)
    assert again["data"]["shareImage"]["userErrors"] == []  # R22: idempotent
    seen = server.post(GET_IMAGE, {"id": image_id}, friend).json()
    assert seen["data"]["image"]["type"] == "SHARED"  # R23
    # R25: who else it is shared with, and what it was made from, are the owner's business
    assert seen["data"]["image"]["sharedWith"] is None
    assert seen["data"]["image"]["source"]["id"] is None
    assert sorted((e["path"][-1], e["extensions"]["code"]) for e in seen["errors"]) == [
        ("id", "FORBIDDEN"),
        ("sharedWith", "FORBIDDEN"),
    ]
    # R23: the recipient launches from it but cannot rename, share, copy or delete it
    launched = create(
        server, friend, launch(image_id, systemDisk={"storageType": "CDS_SSD", "sizeGb": 60})
    )
    assert launched["userErrors"] == []
    friend_instance = launched["instances"][0]["id"]
    for document, variables in (
        (DELETE, {"id": image_id}),
        (SHARE, {"i": {"imageId": image_id, "accountIds": [owner.id]}}),
        (COPY, {"i": {"imageId": image_id, "destinationRegions": ["gz"]}}),
    ):
        body = server.gql(document, variables, friend)["data"]
        assert next(iter(body.values()))["userErrors"][0]["code"] == "PERMISSION_DENIED"
    # R40: shared images cannot be deleted
    refused = server.gql(DELETE, {"id": image_id}, owner)["data"]["deleteImage"]
    assert refused["userErrors"][0]["code"] == "IMAGE_SHARED"
    # R24: after unshare nothing new, but the running instance keeps running
    server.gql(UNSHARE, {"i": {"imageId": image_id, "accountIds": [friend.id]}}, owner)
    assert server.gql(GET_IMAGE, {"id": image_id}, friend)["data"]["image"] is None
    denied = create(
        server, friend, launch(image_id, systemDisk={"storageType": "CDS_SSD", "sizeGb": 60})
    )
    assert denied["userErrors"][0]["code"] == "IMAGE_NOT_FOUND"
    server.wait_operation(launched["operation"]["id"], friend)
    assert (
        server.gql(INSTANCE, {"id": friend_instance}, friend)["data"]["instance"]["status"]
        == "RUNNING"
    )
    # R41, R42, R52: deletion is final; instances keep the image's id and name in their history
    assert (
        server.gql(DELETE, {"id": image_id}, owner)["data"]["deleteImage"]["deletedImageId"]
        == image_id
    )
    gone = server.gql(DELETE, {"id": image_id}, owner)["data"]["deleteImage"]
    assert gone["userErrors"][0]["code"] == "IMAGE_NOT_FOUND"
    history = server.gql(INSTANCE, {"id": friend_instance}, friend)["data"]["instance"]
    assert history["createdFromImage"] == {"id": image_id, "name": "golden-web", "image": None}
    assert history["status"] == "RUNNING"


def test_a_share_with_one_bad_entry_changes_nothing(server: Server) -> None:
    owner, good = server.account(balance="2000"), server.account()
    instance_id = running_instance(server, owner)
    created = make_image(server, owner, instanceId=instance_id)
    server.wait_operation(created["operation"]["id"], owner)
    image_id = created["image"]["id"]
    body = server.gql(
        SHARE,
        {"i": {"imageId": image_id, "accountIds": [good.id, "acc-00000000", owner.id]}},
        owner,
    )["data"]["shareImage"]
    assert body["image"] is None
    assert body["userErrors"] == [
        {
            "code": "INVALID_ACCOUNT",
            "field": ["input", "accountIds", "1"],
            "message": "There is no account 'acc-00000000'.",
        },
        {
            "code": "CANNOT_SHARE_TO_OWNER",
            "field": ["input", "accountIds", "2"],
            "message": "An image cannot be shared with its owner.",
        },
    ]
    after = server.gql(GET_IMAGE, {"id": image_id}, owner)["data"]["image"]
    assert after["sharedWith"]["nodes"] == []
    assert server.gql(GET_IMAGE, {"id": image_id}, good)["data"]["image"] is None


def test_copy_to_two_regions_with_one_cancelled(server: Server) -> None:
    owner = server.account(balance="2000")
    instance_id = running_instance(server, owner)
    created = make_image(server, owner, instanceId=instance_id)
    server.wait_operation(created["operation"]["id"], owner)
    source = created["image"]["id"]
    refused = server.gql(
        COPY, {"i": {"imageId": source, "destinationRegions": ["gz", "bj", "fwh", "zz"]}}, owner
    )
    assert [(e["code"], e["field"]) for e in refused["data"]["copyImage"]["userErrors"]] == [
        ("COPY_REGION_INVALID", ["input", "destinationRegions", "1"]),
        ("COPY_REGION_INVALID", ["input", "destinationRegions", "2"]),
        ("COPY_REGION_INVALID", ["input", "destinationRegions", "3"]),
    ]
    copies = server.gql(
        COPY, {"i": {"imageId": source, "destinationRegions": ["gz", "su"]}}, owner
    )["data"]["copyImage"]
    assert copies["userErrors"] == []
    gz, su = copies["images"]
    assert gz["status"] == "CREATING" and gz["source"] == {
        "kind": "COPY",
        "id": source,
        "region": {"code": "bj"},
    }
    assert gz["id"] != source and gz["name"] == "golden-web"
    # R33: the source is locked while copies are in flight
    locked = server.gql(GET_IMAGE, {"id": source}, owner)["data"]["image"]
    assert locked["copyLock"] == "REPLICATING"
    for document, variables in (
        (DELETE, {"id": source}),
        (COPY, {"i": {"imageId": source, "destinationRegions": ["hkg"]}}),
    ):
        body = server.gql(document, variables, owner)["data"]
        assert next(iter(body.values()))["userErrors"][0]["code"] == "IMAGE_REPLICATING"
    # R34: cancel one; it disappears, the other keeps the lock until it finishes
    cancelled = server.gql(CANCEL, {"id": su["id"]}, owner)["data"]["cancelImageCopy"]
    assert cancelled == {"cancelledImageId": su["id"], "userErrors": []}
    assert server.gql(GET_IMAGE, {"id": su["id"]}, owner)["data"]["image"] is None
    # the cancelled operation still says what it was about, though its image is gone
    su_operation = server.gql(
        "query($id: ID!) { operation(id: $id) { status targetIds targets { id } } }",
        {"id": copies["operations"][1]["id"]},
        owner,
    )["data"]["operation"]
    assert su_operation == {"status": "CANCELLED", "targetIds": [su["id"]], "targets": []}
    assert (
        server.gql(GET_IMAGE, {"id": source}, owner)["data"]["image"]["copyLock"] == "REPLICATING"
    )
    server.wait_operation(copies["operations"][0]["id"], owner)
    assert server.gql(GET_IMAGE, {"id": gz["id"]}, owner)["data"]["image"]["status"] == "AVAILABLE"
    assert server.gql(GET_IMAGE, {"id": source}, owner)["data"]["image"]["copyLock"] is None
    late = server.gql(CANCEL, {"id": gz["id"]}, owner)["data"]["cancelImageCopy"]
    assert late["userErrors"][0]["code"] == "IMAGE_STATUS_FORBIDDEN"


def test_a_snapshot_that_backs_an_image_cannot_be_deleted(server: Server) -> None:
    owner = server.account(balance="2000")
    instance_id = running_instance(server, owner)
    snap = server.gql(
        SNAPSHOT, {"i": {"instanceId": instance_id, "name": "before-upgrade"}}, owner
    )["data"]["createSnapshot"]
    assert snap["snapshot"]["status"] == "CREATING"
    server.wait_operation(snap["operation"]["id"], owner)
    created = make_image(server, owner, snapshotId=snap["snapshot"]["id"])
    assert created["image"]["source"]["kind"] == "SNAPSHOT"
    body = server.gql(DELETE_SNAPSHOT, {"id": snap["snapshot"]["id"]}, owner)["data"][
        "deleteSnapshot"
    ]
    assert body["userErrors"][0]["code"] == "SNAPSHOT_IN_USE"
    server.wait_operation(created["operation"]["id"], owner)
    server.gql(DELETE, {"id": created["image"]["id"]}, owner)
    # R121: the deleted image waits in the recycle bin, still made from the snapshot (its
    # purge frees it: tests/acceptance/test_governance.py)
    binned = server.gql(DELETE_SNAPSHOT, {"id": snap["snapshot"]["id"]}, owner)["data"][
        "deleteSnapshot"
    ]
    assert binned["userErrors"][0]["code"] == "SNAPSHOT_IN_USE"


def test_the_21st_custom_image_in_a_region_is_refused(server: Server) -> None:
    owner = server.account(balance="2000")
    instance_id = running_instance(server, owner)
    snap = server.gql(SNAPSHOT, {"i": {"instanceId": instance_id, "name": "base"}}, owner)["data"][
        "createSnapshot"
    ]
    server.wait_operation(snap["operation"]["id"], owner)
    for n in range(20):  # images still CREATING count (R8, R14)
        made = server.gql(
            CREATE_IMAGE, {"i": {"name": f"img-{n}", "snapshotId": snap["snapshot"]["id"]}}, owner
        )
        assert made["data"]["createImage"]["userErrors"] == []
    refused = server.gql(
        CREATE_IMAGE, {"i": {"name": "img-20", "snapshotId": snap["snapshot"]["id"]}}, owner
    )
    assert refused["data"]["createImage"]["userErrors"] == [
        {
            "code": "IMAGE_QUOTA_EXCEEDED",
            "field": ["input"],
            "message": "Region bj already holds 20 of your 20 custom images.",
        }
    ]
    count = server.gql("{ images(filter: {types: [CUSTOM]}) { totalCount } }", tenant=owner)
    assert count["data"]["images"]["totalCount"] == 20
    raised = server.gql(
        "mutation($a: ID!) { setAccountQuota(input: {accountId: $a, customImagesPerRegion: 21}) { userErrors { code } } }",
        {"a": owner.id},
        server.admin,
    )
    assert raised["data"]["setAccountQuota"]["userErrors"] == []
    allowed = server.gql(
        CREATE_IMAGE, {"i": {"name": "img-20", "snapshotId": snap["snapshot"]["id"]}}, owner
    )
    assert allowed["data"]["createImage"]["userErrors"] == []


def test_rebuild_onto_windows_adds_the_licence_postpaid(server: Server) -> None:
    owner = server.account(balance="2000")
    instance_id = running_instance(
        server, owner, systemDisk={"storageType": "CDS_SSD", "sizeGb": 40}
    )
    body = server.gql(
        REBUILD, {"i": {"instanceId": instance_id, "imageId": image(server, "WINDOWS")}}, owner
    )["data"]["rebuildInstance"]
    assert body["userErrors"] == [] and body["order"] is None
    assert body["instance"]["status"] == "REBUILDING"
    assert [c["kind"] for c in body["instance"]["charges"]] == ["COMPUTE", "WINDOWS_LICENSE"]
    server.wait_operation(body["operation"]["id"], owner)
    after = server.gql(INSTANCE, {"id": instance_id}, owner)["data"]["instance"]
    assert after["status"] == "RUNNING" and after["image"]["os"]["type"] == "WINDOWS"


def test_rebuild_onto_windows_adds_a_prorated_order_prepaid(server: Server) -> None:
    owner = server.account(balance="2000")
    instance_id = running_instance(server, owner, billing={"timing": "PREPAID", "months": 1})
    before = balance(server, owner)
    body = server.gql(
        REBUILD, {"i": {"instanceId": instance_id, "imageId": image(server, "WINDOWS")}}, owner
    )["data"]["rebuildInstance"]
    assert body["userErrors"] == []
    order = body["order"]
    assert order["kind"] == "REBUILD"
    [line] = order["lines"]
    assert line["kind"] == "WINDOWS_LICENSE" and line["unit"] == "DAY"
    assert Decimal(line["amount"]["amount"]) == Decimal(order["total"]["amount"]) > 0
    assert balance(server, owner) == before - Decimal(order["total"]["amount"])
    # back to Linux: the licence goes, nothing is refunded (R72)
    server.wait_operation(body["operation"]["id"], owner)
    paid = balance(server, owner)
    back = server.gql(REBUILD, {"i": {"instanceId": instance_id, "imageId": image(server)}}, owner)[
        "data"
    ]["rebuildInstance"]
    assert back["order"] is None and balance(server, owner) == paid


def test_rebuild_refusals(server: Server) -> None:
    owner, other = server.account(balance="3000"), server.account(balance="3000")
    local = running_instance(server, owner, systemDisk={"storageType": "LOCAL_SSD", "sizeGb": 40})
    cds = running_instance(server, owner, systemDisk={"storageType": "CDS_SSD", "sizeGb": 40})
    cds_image = make_image(server, owner, instanceId=cds)
    server.wait_operation(cds_image["operation"]["id"], owner)
    ebc = server.gql(
        '{ images(first: 1, filter: {region: "bj", generation: EBC, osType: LINUX, types: [PUBLIC]}) { nodes { id } } }'
    )["data"]["images"]["nodes"][0]["id"]

    def refused(instance_id: str, image_id: str, tenant: Tenant = owner) -> list[dict[str, Any]]:
        body = server.gql(REBUILD, {"i": {"instanceId": instance_id, "imageId": image_id}}, tenant)
        errors: list[dict[str, Any]] = body["data"]["rebuildInstance"]["userErrors"]
        return errors

    assert [e["code"] for e in refused(local, ebc)] == ["GENERATION_MISMATCH"]
    assert refused(local, cds_image["image"]["id"]) == [
        {
            "code": "LOCAL_DISK_NOT_ALLOWED",
            "field": ["input", "imageId"],
            "message": f"Image {cds_image['image']['id']} was captured from a CDS disk; it needs a CDS system disk.",
        }
    ]
    # a recipient whose share was withdrawn can no longer rebuild onto the image (R24)
    other_instance = running_instance(server, other)
    server.gql(SHARE, {"i": {"imageId": cds_image["image"]["id"], "accountIds": [other.id]}}, owner)
    server.gql(
        UNSHARE, {"i": {"imageId": cds_image["image"]["id"], "accountIds": [other.id]}}, owner
    )
    assert [e["code"] for e in refused(other_instance, cds_image["image"]["id"], other)] == [
        "IMAGE_NOT_FOUND"
    ]
    states = [
        server.gql(INSTANCE, {"id": i}, owner)["data"]["instance"]["status"] for i in (local, cds)
    ]
    assert states == ["RUNNING", "RUNNING"]


def test_charge_lineage_follows_a_windows_image_to_a_recipient(server: Server) -> None:
    owner, friend = server.account(balance="2000"), server.account(balance="2000")
    win = running_instance(server, owner, **{"imageId": image(server, "WINDOWS")})
    created = make_image(server, owner, instanceId=win)
    assert created["image"]["chargeRoot"] == {"osLicense": "WINDOWS"}
    server.wait_operation(created["operation"]["id"], owner)
    copies = server.gql(
        COPY, {"i": {"imageId": created["image"]["id"], "destinationRegions": ["gz"]}}, owner
    )
    assert copies["data"]["copyImage"]["images"][0]["chargeRoot"] == {"osLicense": "WINDOWS"}
    server.wait_operation(copies["data"]["copyImage"]["operations"][0]["id"], owner)
    server.gql(SHARE, {"i": {"imageId": created["image"]["id"], "accountIds": [friend.id]}}, owner)
    launched = create(server, friend, launch(created["image"]["id"]))
    assert launched["userErrors"] == []
    kinds = [c["kind"] for c in launched["instances"][0]["charges"]]
    assert kinds == ["COMPUTE", "WINDOWS_LICENSE"]  # R70: the recipient pays the licence
