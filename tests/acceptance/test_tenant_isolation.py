"""Tenant isolation over real HTTP: a second tenant tries every query and mutation on the first
tenant's images, snapshots, instances and operations, and learns and changes nothing
(R5, R20-R25, R30-R34, R40-R43, R54, R55, R62, R81).

"Learns nothing" is checked by comparison: B's answer for each of A's ids must equal, apart
from the id text itself, B's answer for a made-up well-formed id of the same prefix.
Subscriptions are out of scope here.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from schema import schema
from tests.acceptance.conftest import Server, own_server
from tests.acceptance.conftest import image as public_image
from tests.factories import Tenant
from tests.fixtures import launch

# Operations last this long on the simulated clock. The sweep never advances the clock, so the
# copy started before it is still in flight (CREATING, source REPLICATING) when it ends.
OPERATION_SECONDS = 600
MUTATIONS = {  # field -> (input type, payload fields besides userErrors)
    "priceQuote": ("CreateInstancesInput", "lines { kind } total { amount }"),
    "createInstances": ("CreateInstancesInput", "instances { id } order { id } operation { id }"),
    "createImage": ("CreateImageInput", "image { id } operation { id }"),
    "renameImage": ("RenameImageInput", "image { id name }"),
    "deleteImage": ("DeleteImageInput", "deletedImageId"),
    "shareImage": ("ShareImageInput", "image { id }"),
    "unshareImage": ("UnshareImageInput", "image { id }"),
    "acceptImageShare": ("AcceptImageShareInput", "status imageId"),
    "declineImageShare": ("DeclineImageShareInput", "status imageId"),
    "copyImage": ("CopyImageInput", "images { id } operations { id }"),
    "cancelImageCopy": ("CancelImageCopyInput", "cancelledImageId"),
    "createSnapshot": ("CreateSnapshotInput", "snapshot { id } operation { id }"),
    "deleteSnapshot": ("DeleteSnapshotInput", "deletedSnapshotId"),
    "startInstance": ("StartInstanceInput", "instance { id status }"),
    "stopInstance": ("StopInstanceInput", "instance { id status }"),
    "releaseInstance": ("ReleaseInstanceInput", "instance { id } refund { amount }"),
    "rebuildInstance": ("RebuildInstanceInput", "instance { id } order { id } operation { id }"),
    "rebuildInstances": (
        "RebuildInstancesInput",
        "instances { id } order { id } operations { id }",
    ),
    "deprecateImage": ("DeprecateImageInput", "image { id deprecation { state } }"),
    "undeprecateImage": ("UndeprecateImageInput", "image { id }"),
    "disableImage": ("DisableImageInput", "image { id disabled }"),
    "enableImage": ("EnableImageInput", "image { id disabled }"),
    "setImageDeletionProtection": ("SetImageDeletionProtectionInput", "image { id }"),
    "setImageFamily": ("SetImageFamilyInput", "image { id family }"),
    "restoreImage": ("RestoreImageInput", "image { id }"),
    "tagResources": ("TagResourcesInput", "resources { id }"),
    "untagResources": ("UntagResourcesInput", "resources { id }"),
    "updateImageLifecyclePolicy": ("UpdateImageLifecyclePolicyInput", "policy { id }"),
    "deleteImageLifecyclePolicy": ("DeleteImageLifecyclePolicyInput", "deletedPolicyId"),
    "clearImageLifecycleExclusion": ("ClearImageLifecycleExclusionInput", "image { id }"),
}
#: mutations the sweep does not try on A's ids, and why (a new mutation must be in one map)
NOT_SWEPT = {
    "advanceClock": "administrators only; names no tenant's resource",
    "settleUsage": "administrators only; names no tenant's resource",
    "setAccountQuota": "administrators only",
    "topUpAccount": "administrators only",
    "createAccount": "administrators only",
    "approveListing": "administrators only (listings: tests/acceptance/test_marketplace.py)",
    "rejectListing": "administrators only (listings: tests/acceptance/test_marketplace.py)",
    "createListing": "providers' listings are swept in tests/acceptance/test_marketplace.py",
    "updateListing": "providers' listings are swept in tests/acceptance/test_marketplace.py",
    "submitListing": "providers' listings are swept in tests/acceptance/test_marketplace.py",
    "delistListing": "providers' listings are swept in tests/acceptance/test_marketplace.py",
    "createApiToken": "acts on the caller's own account only",
    "setShareAcceptance": "acts on the caller's own account only",
    "createImageLifecyclePolicy": "creates a policy of the caller's own (its region and family "
    "select only the caller's images: tests/acceptance/test_lifecycle_policies.py)",
    "revokeApiToken": "names the caller's own tokens only",
    "uploadObject": "creates an object of the caller's own",
    "importImage": "names the caller's own uploaded objects only (A has none in this world)",
    "deleteObject": "names the caller's own uploaded objects only (A has none in this world)",
    "createWebhookEndpoint": "creates an endpoint of the caller's own",
    "updateWebhookEndpoint": "another provider's endpoint and deliveries: "
    "tests/acceptance/test_webhooks.py",
    "deleteWebhookEndpoint": "another provider's endpoint: tests/acceptance/test_webhooks.py",
    "rotateWebhookSecret": "another provider's endpoint: tests/acceptance/test_webhooks.py",
    "sendTestWebhook": "another provider's endpoint: tests/acceptance/test_webhooks.py",
    "redeliverWebhook": "another provider's delivery: tests/acceptance/test_webhooks.py",
}
LOOKUPS = {  # what can be asked about an id of each prefix, besides node, nodes and operations
    "m": "image(id: $id) { id } instances(filter: {image: $id}) { totalCount nodes { id } }",
    "i": """instance(id: $id) { id } images(filter: {sourceInstance: $id}) { totalCount
      nodes { id } } snapshots(filter: {instance: $id}) { totalCount nodes { id } }""",
    "s": "snapshot(id: $id) { id }",
    "op": "operation(id: $id) { id }",
    "acc": "",
    "ilp": "previewImageLifecyclePolicy(id: $id) { count actions { imageId } }",
}
LISTS = """query($name: String!, $family: String!, $tag: [TagFilter!]) {
  family: images(first: 100, filter: {family: $family, includeDeprecated: true}) { totalCount }
  newest: imageFromFamily(region: "bj", family: $family) { id }
  binned: recycleBin(first: 100) { totalCount }
  tagged: images(first: 100, filter: {tags: $tag}) { totalCount }
  taggedInstances: instances(first: 100, filter: {tags: $tag}) { totalCount }
  mine: images(first: 100, filter: {types: [CUSTOM, SHARED]}) { totalCount nodes { id } }
  bj: images(first: 100, filter: {types: [CUSTOM, SHARED], region: "bj"}) { totalCount }
  gz: images(first: 100, filter: {types: [CUSTOM, SHARED], region: "gz"}) { totalCount }
  named: images(first: 100, filter: {nameContains: $name}) { totalCount nodes { id } }
  instances(first: 100) { totalCount nodes { id } } snapshots(first: 100) { totalCount }
  operations(first: 100) { totalCount nodes { id } } policies: imageLifecyclePolicies { id } }"""
ALL_IMAGES = """query($after: String) { images(first: 100, after: $after) { nodes { id }
  pageInfo { hasNextPage endCursor } } }"""
STATE = """{ images(first: 10, filter: {types: [CUSTOM, SHARED]}) { totalCount nodes {
    id name description type status copyLock region { code } source { kind id }
    sharedWith(first: 1) { totalCount } } }
  instances(first: 10) { totalCount nodes { id name status image { id } } }
  snapshots(first: 10) { totalCount nodes { id name status usedByImages { id } } }
  operations(first: 10) { totalCount nodes { id kind } }
  imageLifecyclePolicies { id name enabled updatedAt selector { family } }
  viewer { balance { amount } transactions(first: 20) { nodes { id kind amount { amount } } } } }"""


@dataclass
class World:
    """A's resources (and the inputs that made them) and B's own instance."""

    a: Tenant
    b: Tenant
    tag: str
    launch: dict[str, Any]
    instance: str
    snap_input: dict[str, Any]
    snapshot: str
    from_instance: dict[str, Any]
    from_snapshot: dict[str, Any]
    golden: str  # image from the instance, source of the copy in flight
    silver: str  # image from the snapshot
    copy_input: dict[str, Any]
    copy: str  # the copy's destination image in gz, CREATING
    operations: list[str]
    b_instance: str
    b_operation: str
    policy: str  # A's lifecycle policy over the golden image's family


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own whose operations last OPERATION_SECONDS of simulated time."""
    settings = {"operation_seconds": OPERATION_SECONDS, "operation_seconds_per_gb": 0}
    with own_server(tmp_path_factory, "isolation", {**settings, "simulated_clock": 1}) as server:
        yield server


def made_up(real_id: str) -> str:
    """A well-formed id of the same prefix and length that nobody has."""
    prefix, suffix = real_id.split("-", 1)
    alphabet = string.ascii_letters + string.digits
    return prefix + "-" + "".join(secrets.choice(alphabet) for _ in suffix)


def masked(body: dict[str, Any], the_id: str) -> Any:
    """The body with the id replaced by a placeholder, and without the rate-limit points
    remaining (they fall with every request)."""
    body = json.loads(json.dumps(body).replace(the_id, "<id>"))
    body.get("extensions", {}).get("cost", {}).pop("remaining", None)
    return body


def mutate(server: Server, tenant: Tenant, name: str, value: dict[str, Any]) -> dict[str, Any]:
    """Run one mutation (or priceQuote) with `input: $i`; return the whole response body."""
    input_type, result = MUTATIONS[name]
    kind = "query" if name == "priceQuote" else "mutation"
    document = f"""{kind}($i: {input_type}!) {{ {name}(input: $i) {{ {result}
      userErrors {{ code field message }} }} }}"""
    response = server.post(document, {"i": value}, tenant)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def succeed(server: Server, tenant: Tenant, name: str, value: dict[str, Any]) -> dict[str, Any]:
    """Run a mutation that must succeed; return its payload."""
    body = mutate(server, tenant, name, value)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"][name]
    assert data["userErrors"] == [], data
    return data


def finish(server: Server, operation_id: str, tenant: Tenant) -> None:
    """Let an operation's whole duration pass and check that it succeeded."""
    server.advance(OPERATION_SECONDS)
    assert server.wait_operation(operation_id, tenant)["status"] == "SUCCEEDED"


def query(server: Server, tenant: Tenant, document: str, variables: dict[str, Any]) -> Any:
    """Run a query; return its data (asserting no errors)."""
    return server.gql(document, variables, tenant)["data"]


def build_world(server: Server) -> World:
    """A makes an instance, a snapshot, an image of each and starts a copy; B an instance."""
    a, b = server.account(balance="5000"), server.account(balance="5000")
    tag = secrets.token_hex(3)
    a_launch = launch(public_image(server), clientToken=f"launch-{tag}")
    created = succeed(server, a, "createInstances", a_launch)
    instance = created["instances"][0]["id"]
    finish(server, created["operation"]["id"], a)
    snap_input = {"instanceId": instance, "name": f"snap-{tag}", "clientToken": f"snap-{tag}"}
    snap = succeed(server, a, "createSnapshot", snap_input)
    finish(server, snap["operation"]["id"], a)
    from_instance = {"name": f"golden-{tag}", "instanceId": instance, "clientToken": f"i1-{tag}"}
    from_snapshot = {
        "name": f"silver-{tag}",
        "snapshotId": snap["snapshot"]["id"],
        "clientToken": f"i2-{tag}",
    }
    made = [succeed(server, a, "createImage", v) for v in (from_instance, from_snapshot)]
    for image in made:
        finish(server, image["operation"]["id"], a)
    # B's own instance replays A's exact request and clientToken: tokens are per account (R62).
    b_created = succeed(server, b, "createInstances", a_launch)
    assert b_created["instances"][0]["id"] != instance
    finish(server, b_created["operation"]["id"], b)
    golden = made[0]["image"]["id"]
    succeed(server, a, "setImageFamily", {"imageId": golden, "family": f"fam-{tag}"})
    tags = [{"key": "team", "value": tag}]
    succeed(server, a, "tagResources", {"resourceIds": [golden, instance], "tags": tags})
    copy_input = {"imageId": golden, "destinationRegions": ["gz"], "clientToken": f"cp-{tag}"}
    copied = succeed(server, a, "copyImage", copy_input)  # not waited for: left in flight
    operations = [created["operation"]["id"], snap["operation"]["id"]]
    operations += [m["operation"]["id"] for m in made] + [copied["operations"][0]["id"]]
    policy = server.gql(
        """mutation($i: CreateImageLifecyclePolicyInput!) {
          createImageLifecyclePolicy(input: $i) { policy { id } userErrors { code } } }""",
        {
            "i": {
                "name": f"retire-{tag}",
                "region": "bj",
                "selector": {"family": f"fam-{tag}"},
                "rules": {"deprecateAfterDays": 30},
            }
        },
        a,
    )["data"]["createImageLifecyclePolicy"]
    assert policy["userErrors"] == []
    return World(
        a=a,
        b=b,
        tag=tag,
        launch=a_launch,
        instance=instance,
        snap_input=snap_input,
        snapshot=snap["snapshot"]["id"],
        from_instance=from_instance,
        from_snapshot=from_snapshot,
        golden=golden,
        silver=made[1]["image"]["id"],
        copy_input=copy_input,
        copy=copied["images"][0]["id"],
        operations=operations,
        b_instance=b_created["instances"][0]["id"],
        b_operation=b_created["operation"]["id"],
        policy=policy["policy"]["id"],
    )


def sweep_queries(server: Server, w: World) -> None:
    """B looks up each of A's ids every way it can, and lists everything it can see."""
    a_ids = [w.instance, w.snapshot, w.golden, w.silver, w.copy, w.a.id, w.policy, *w.operations]
    for target in a_ids:
        fields = LOOKUPS[target.split("-", 1)[0]]
        document = f"""query($id: ID!) {{ node(id: $id) {{ id }} nodes(ids: [$id]) {{ id }}
          {fields} operations(filter: {{target: $id}}) {{ totalCount nodes {{ id }} }} }}"""
        fake = made_up(target)
        real = query(server, w.b, document, {"id": target})
        missing = query(server, w.b, document, {"id": fake})
        assert masked(real, target) == masked(missing, fake), (target, real, missing)
        assert real.pop("nodes") == [None], target
        for answer in real.values():  # a single lookup is null, a filtered list is empty
            assert answer is None or answer == {"totalCount": 0, "nodes": []}, (target, real)
    tag = [{"key": "team", "value": w.tag}]
    variables = {"name": w.tag, "family": f"fam-{w.tag}", "tag": tag}
    assert query(server, w.b, LISTS, variables) == {
        "family": {"totalCount": 0},
        "newest": None,
        "binned": {"totalCount": 0},
        "tagged": {"totalCount": 0},
        "taggedInstances": {"totalCount": 0},
        "mine": {"totalCount": 0, "nodes": []},
        "bj": {"totalCount": 0},
        "gz": {"totalCount": 0},
        "named": {"totalCount": 0, "nodes": []},
        "instances": {"totalCount": 1, "nodes": [{"id": w.b_instance}]},
        "snapshots": {"totalCount": 0},
        "operations": {"totalCount": 1, "nodes": [{"id": w.b_operation}]},
        "policies": [],
    }
    after: str | None = None
    while True:  # the whole image catalogue B can page through holds none of A's ids
        page = query(server, w.b, ALL_IMAGES, {"after": after})["images"]
        assert not {n["id"] for n in page["nodes"]} & set(a_ids)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]


def attempts(server: Server, w: World) -> list[tuple[str, dict[str, Any], str, str]]:
    """Every mutation B tries: (field, input naming A's id, that id, the not-found code)."""
    tried: list[tuple[str, dict[str, Any], str, str]] = []
    for image_id, region in ((w.golden, "bj"), (w.silver, "bj"), (w.copy, "gz")):
        for name, value in [
            ("priceQuote", launch(image_id, region=region)),
            ("createInstances", launch(image_id, region=region)),
            ("rebuildInstance", {"instanceId": w.b_instance, "imageId": image_id}),
            ("renameImage", {"imageId": image_id, "name": "stolen"}),
            ("shareImage", {"imageId": image_id, "accountIds": [w.b.id]}),
            ("unshareImage", {"imageId": image_id, "accountIds": [w.b.id]}),
            ("acceptImageShare", {"imageId": image_id}),
            ("declineImageShare", {"imageId": image_id}),
            ("copyImage", {"imageId": image_id, "destinationRegions": ["su"]}),
            ("cancelImageCopy", {"imageId": image_id}),
            ("deleteImage", {"imageId": image_id}),
            ("deprecateImage", {"imageId": image_id}),
            ("undeprecateImage", {"imageId": image_id}),
            ("disableImage", {"imageId": image_id}),
            ("enableImage", {"imageId": image_id}),
            ("setImageDeletionProtection", {"imageId": image_id, "enabled": False}),
            ("setImageFamily", {"imageId": image_id, "family": "stolen"}),
            ("clearImageLifecycleExclusion", {"imageId": image_id}),
        ]:
            tried.append((name, value, image_id, "IMAGE_NOT_FOUND"))
        tried.append(("restoreImage", {"imageId": image_id}, image_id, "IMAGE_NOT_IN_RECYCLE_BIN"))
    for target, code in (
        (w.golden, "IMAGE_NOT_FOUND"),
        (w.snapshot, "SNAPSHOT_NOT_FOUND"),
        (w.instance, "INSTANCE_NOT_FOUND"),
    ):
        tag = {"resourceIds": [target], "tags": [{"key": "stolen", "value": "yes"}]}
        tried.append(("tagResources", tag, target, code))
        tried.append(("untagResources", {"resourceIds": [target], "keys": ["a"]}, target, code))
    on_instance = {"instanceId": w.instance}
    rebuild = {**on_instance, "imageId": public_image(server)}
    return tried + [
        ("copyImage", w.copy_input, w.golden, "IMAGE_NOT_FOUND"),  # A's token and all
        ("createImage", w.from_instance, w.instance, "INSTANCE_NOT_FOUND"),
        ("createImage", w.from_snapshot, w.snapshot, "SNAPSHOT_NOT_FOUND"),
        ("createSnapshot", w.snap_input, w.instance, "INSTANCE_NOT_FOUND"),
        ("deleteSnapshot", {"snapshotId": w.snapshot}, w.snapshot, "SNAPSHOT_NOT_FOUND"),
        ("rebuildInstance", rebuild, w.instance, "INSTANCE_NOT_FOUND"),
        (
            "rebuildInstances",
            {"instanceIds": [w.instance], "imageId": rebuild["imageId"]},
            w.instance,
            "INSTANCE_NOT_FOUND",
        ),
        ("stopInstance", on_instance, w.instance, "INSTANCE_NOT_FOUND"),
        ("startInstance", on_instance, w.instance, "INSTANCE_NOT_FOUND"),
        ("releaseInstance", on_instance, w.instance, "INSTANCE_NOT_FOUND"),
        (
            "updateImageLifecyclePolicy",
            {"id": w.policy, "enabled": False, "rules": {"deleteAfterDays": 1}},
            w.policy,
            "LIFECYCLE_POLICY_NOT_FOUND",
        ),
        ("deleteImageLifecyclePolicy", {"id": w.policy}, w.policy, "LIFECYCLE_POLICY_NOT_FOUND"),
    ]


def assert_answers_as_missing(
    server: Server, b: Tenant, name: str, value: dict[str, Any], target: str, code: str
) -> None:
    """B's answer naming A's id is the not-found error it gets for a made-up id."""
    fake = made_up(target)
    fake_value = json.loads(json.dumps(value).replace(target, fake))
    if fake_value.get("clientToken"):
        fake_value["clientToken"] = "fake-" + secrets.token_hex(8)
    real = mutate(server, b, name, value)
    missing = mutate(server, b, name, fake_value)
    assert "errors" not in real, (name, value, real)
    assert [e["code"] for e in real["data"][name]["userErrors"]] == [code], (name, value, real)
    assert masked(real, target) == masked(missing, fake), (name, value, real, missing)


def assert_nothing_changed(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Same resources; new ledger entries can only be hourly USAGE of the tenant's own
    postpaid instance (the scheduler may settle mid-sweep), and they explain the balance."""
    assert {k: v for k, v in after.items() if k != "viewer"} == {
        k: v for k, v in before.items() if k != "viewer"
    }
    old = {t["id"] for t in before["viewer"]["transactions"]["nodes"]}
    new = [t for t in after["viewer"]["transactions"]["nodes"] if t["id"] not in old]
    assert {t["kind"] for t in new} <= {"USAGE"}, new
    moved = Decimal(after["viewer"]["balance"]["amount"])
    moved -= Decimal(before["viewer"]["balance"]["amount"])
    assert moved == sum((Decimal(t["amount"]["amount"]) for t in new), Decimal(0))


#: queries the sweep does not ask about A's things, and why (a new query must be in one set)
QUERIES_SWEPT = {
    "node",
    "nodes",
    "image",
    "images",
    "instance",
    "instances",
    "snapshot",
    "snapshots",
    "operation",
    "operations",
    "imageFromFamily",
    "recycleBin",
    "priceQuote",
    "imageLifecyclePolicies",
    "previewImageLifecyclePolicy",
}
QUERIES_NOT_SWEPT = {
    "regions": "the catalogue: the same for everyone",
    "region": "the catalogue: the same for everyone",
    "flavors": "the catalogue: the same for everyone",
    "listings": "published listings are public; providers' drafts: tests/acceptance/test_marketplace.py",
    "listing": "published listings are public; providers' drafts: tests/acceptance/test_marketplace.py",
    "viewer": "answers the caller's own account only",
    "rebuildQuote": "not tried here: it runs rebuildInstances' checks, which the sweep tries",
    "shareInvitations": "lists only shares addressed to the caller (accept and decline are swept)",
    "webhookEndpoints": "lists the caller's own endpoints only: tests/acceptance/test_webhooks.py",
    "webhookDeliveries": "lists the caller's own deliveries only: tests/acceptance/test_webhooks.py",
}


def test_every_query_is_swept_or_excused() -> None:
    fields = set(schema._schema.query_type.fields)  # type: ignore[union-attr]
    assert fields - QUERIES_SWEPT - QUERIES_NOT_SWEPT.keys() == set()
    assert (QUERIES_SWEPT | QUERIES_NOT_SWEPT.keys()) - fields == set()


def test_every_mutation_is_swept_or_excused() -> None:
    """A mutation added to the schema fails here until the sweep tries it (or says why not)."""
    fields = set(schema._schema.mutation_type.fields)  # type: ignore[union-attr]
    fields.add("priceQuote")  # a query that checks like createInstances: swept with them
    assert fields - MUTATIONS.keys() - NOT_SWEPT.keys() == set()
    assert MUTATIONS.keys() & NOT_SWEPT.keys() == set()
    assert (MUTATIONS.keys() | NOT_SWEPT.keys()) - fields == set()


def test_a_second_tenant_learns_and_changes_nothing(slow_server: Server) -> None:
    server = slow_server
    w = build_world(server)
    a_before, b_before = query(server, w.a, STATE, {}), query(server, w.b, STATE, {})

    sweep_queries(server, w)
    for name, value, target, code in attempts(server, w):
        assert_answers_as_missing(server, w.b, name, value, target, code)

    a_after = query(server, w.a, STATE, {})
    assert_nothing_changed(a_before, a_after)
    assert_nothing_changed(b_before, query(server, w.b, STATE, {}))
    images = {i["id"]: i for i in a_after["images"]["nodes"]}
    assert {i: (v["name"], v["status"], v["copyLock"]) for i, v in images.items()} == {
        w.golden: (f"golden-{w.tag}", "AVAILABLE", "REPLICATING"),
        w.silver: (f"silver-{w.tag}", "AVAILABLE", None),
        w.copy: (f"golden-{w.tag}", "CREATING", None),  # still in flight
    }
    assert {v["sharedWith"]["totalCount"] for v in images.values()} == {0}
    assert [(i["id"], i["status"], i["image"]["id"]) for i in a_after["instances"]["nodes"]] == [
        (w.instance, "RUNNING", w.launch["imageId"])
    ]
    assert [(s["id"], s["status"]) for s in a_after["snapshots"]["nodes"]] == [
        (w.snapshot, "AVAILABLE")
    ]
