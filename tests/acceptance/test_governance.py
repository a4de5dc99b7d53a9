"""Image governance over real HTTP, end to end (R110-R113, R115, R121, R122, R124, R125):
deprecate with a replacement -> hidden from lists -> still launchable -> the family skips it;
disable -> recipients lose it; protect -> delete refused; delete -> recycle bin -> restore ->
delete -> the clock passes the retention -> purged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql import gql as gql_document
from gql.transport.exceptions import TransportQueryError

from tests.acceptance.conftest import QUICK, Server, own_server, running_instance
from tests.clients.conftest import websocket_transport
from tests.factories import Tenant
from tests.fixtures import CREATE, DELETE, DELETE_SNAPSHOT, SHARE, SNAPSHOT, UNSHARE, launch

FIELDS = """id status disabled deletionProtection family purgeAt
  deprecation { state deprecateAt replacement { id } }"""
CAPTURE = f"""mutation($i: CreateImageInput!) {{ createImage(input: $i) {{
  image {{ {FIELDS} }} operation {{ id }} userErrors {{ code field message }} }} }}"""
GET = f"query($id: ID!) {{ image(id: $id) {{ {FIELDS} }} }}"
LIST = """query($types: [ImageType!], $all: Boolean) {
  images(first: 100, filter: {types: $types, includeDeprecated: $all}) { nodes { id } } }"""
FAMILY = """query($f: String!) { imageFromFamily(region: "bj", family: $f) { id } }"""
BIN = """{ recycleBin(first: 10) { totalCount nodes { id purgeAt } } }"""
LAUNCH = """mutation($i: CreateInstancesInput!) { createInstances(input: $i) {
  instances { id image { id } } warnings { code message } userErrors { code field message } } }"""
QUOTE = """query($i: CreateInstancesInput!) { priceQuote(input: $i) {
  total { amount } warnings { code message } userErrors { code field message } } }"""
REBUILD = """mutation($i: RebuildInstancesInput!) { rebuildInstances(input: $i) {
  instances { id } operations { id } warnings { code } userErrors { code field message } } }"""
COPY = """mutation($i: CopyImageInput!) { copyImage(input: $i) {
  images { id family } userErrors { code field message } } }"""


def changed(name: str, input_type: str) -> str:
    return f"""mutation($i: {input_type}!) {{ {name}(input: $i) {{
      image {{ {FIELDS} }} userErrors {{ code field message }} }} }}"""


DEPRECATE = changed("deprecateImage", "DeprecateImageInput")
UNDEPRECATE = changed("undeprecateImage", "UndeprecateImageInput")
DISABLE = changed("disableImage", "DisableImageInput")
ENABLE = changed("enableImage", "EnableImageInput")
PROTECT = changed("setImageDeletionProtection", "SetImageDeletionProtectionInput")
RESTORE = changed("restoreImage", "RestoreImageInput")
SET_FAMILY = changed("setImageFamily", "SetImageFamilyInput")


@dataclass
class Fleet:
    """An owner with one instance and a friend to share with."""

    server: Server
    owner: Tenant
    friend: Tenant
    instance: str

    def capture(self, family: str | None = None) -> str:
        """A new AVAILABLE image of the instance (in a family when given)."""
        payload = self.server.gql(
            CAPTURE,
            {"i": {"name": "golden", "instanceId": self.instance, "family": family}},
            self.owner,
        )["data"]["createImage"]
        assert payload["userErrors"] == [], payload["userErrors"]
        self.server.wait_operation(payload["operation"]["id"], self.owner)
        image_id: str = payload["image"]["id"]
        return image_id

    def do(self, document: str, value: dict[str, Any], tenant: Tenant | None = None) -> Any:
        """Run a mutation; return its payload."""
        body = self.server.gql(document, {"i": value}, tenant or self.owner)["data"]
        return next(iter(body.values()))

    def ok(self, document: str, value: dict[str, Any]) -> dict[str, Any]:
        """Run an owner's mutation that must succeed; return the image it answers."""
        payload = self.do(document, value)
        assert payload["userErrors"] == [], payload["userErrors"]
        image: dict[str, Any] = payload["image"]
        return image

    def codes(
        self, document: str, value: dict[str, Any], tenant: Tenant | None = None
    ) -> list[str]:
        """The userError codes of a mutation."""
        return [e["code"] for e in self.do(document, value, tenant)["userErrors"]]

    def ids(self, tenant: Tenant, types: list[str], include_deprecated: bool = False) -> set[str]:
        """The ids an image list shows the tenant."""
        nodes = self.server.gql(LIST, {"types": types, "all": include_deprecated}, tenant)["data"][
            "images"
        ]["nodes"]
        return {n["id"] for n in nodes}

    def family(self, tenant: Tenant, family: str) -> str | None:
        """What imageFromFamily answers the tenant in bj."""
        found = self.server.gql(FAMILY, {"f": family}, tenant)["data"]["imageFromFamily"]
        return found["id"] if found else None


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A server of its own whose recycle bin keeps images for one day (its clock is moved)."""
    settings = {**QUICK, "recycle_bin_days": 1}
    with own_server(tmp_path_factory, "governance-data", settings) as server:
        owner, friend = server.account(balance="5000"), server.account(balance="5000")
        yield Fleet(server, owner, friend, running_instance(server, owner))


def test_deprecate_hide_launch_and_the_family_skips_it(fleet: Fleet) -> None:
    older = fleet.capture(family="web")
    newer = fleet.capture(family="web")
    fleet.capture(family="batch")
    assert fleet.family(fleet.owner, "web") == newer  # R115: the newest of the family
    assert fleet.family(fleet.friend, "web") is None  # R122: families are their owner's
    assert fleet.codes(SHARE, {"imageId": newer, "accountIds": [fleet.friend.id]}) == []

    image = fleet.ok(DEPRECATE, {"imageId": newer, "replacementImageId": older})
    assert image["deprecation"]["state"] == "DEPRECATED"
    assert image["deprecation"]["replacement"] == {"id": older}
    # R110: out of the recipient's lists unless asked for; the owner still sees it
    assert newer not in fleet.ids(fleet.friend, ["SHARED"])
    assert newer in fleet.ids(fleet.friend, ["SHARED"], include_deprecated=True)
    assert newer in fleet.ids(fleet.owner, ["CUSTOM"])
    # ... still launchable, by the owner and the recipient, with a warning (R124) that names
    # the replacement only to whoever may see it (the recipient was not given it: R159)
    for tenant, names_it in ((fleet.owner, True), (fleet.friend, False)):
        created = fleet.do(LAUNCH, launch(newer), tenant)
        assert created["userErrors"] == []
        [warning] = created["warnings"]
        assert warning["code"] == "IMAGE_DEPRECATED"
        assert (older in warning["message"]) is names_it
    quoted = fleet.server.gql(QUOTE, {"i": launch(newer)}, fleet.owner)["data"]["priceQuote"]
    assert [w["code"] for w in quoted["warnings"]] == ["IMAGE_DEPRECATED"]
    # R115: the family now answers the newest image that is not deprecated, and a launch by
    # family boots it (resolved once, recorded as the instance's image)
    assert fleet.family(fleet.owner, "web") == older
    by_family = {k: v for k, v in launch(newer).items() if k != "imageId"} | {"imageFamily": "web"}
    created = fleet.do(LAUNCH, by_family)
    assert created["userErrors"] == [] and created["warnings"] == []
    assert created["instances"][0]["image"]["id"] == older
    rebuilt = fleet.do(REBUILD, {"instanceIds": [fleet.instance], "imageFamily": "web"})
    assert rebuilt["userErrors"] == [] and rebuilt["warnings"] == []
    fleet.server.wait_operation(rebuilt["operations"][0]["id"], fleet.owner)
    # exactly one of imageId and imageFamily; an empty family says so; nothing is created
    both = by_family | {"imageId": older}
    assert fleet.codes(LAUNCH, both) == ["IMAGE_SOURCE_AMBIGUOUS"]
    assert fleet.codes(LAUNCH, by_family | {"imageFamily": "nothing-here"}) == ["FAMILY_EMPTY"]
    assert fleet.codes(LAUNCH, by_family, fleet.friend) == ["FAMILY_EMPTY"]  # not theirs

    scheduled = fleet.ok(DEPRECATE, {"imageId": older, "deprecateAt": "2999-01-01T00:00:00+00:00"})[
        "deprecation"
    ]
    assert scheduled["state"] == "SCHEDULED"
    assert fleet.family(fleet.owner, "web") == older  # not deprecated yet
    assert fleet.ok(UNDEPRECATE, {"imageId": older})["deprecation"] is None
    # R124: a replacement that is itself deprecated is refused, and nothing changes
    assert fleet.codes(DEPRECATE, {"imageId": older, "replacementImageId": newer}) == [
        "INVALID_INPUT"
    ]
    assert fleet.server.gql(GET, {"id": older}, fleet.owner)["data"]["image"]["deprecation"] is None
    # a customer cannot deprecate a public image
    public = fleet.server.gql(
        """{ images(first: 1, filter: {types: [PUBLIC]}) { nodes { id } } }"""
    )["data"]["images"]["nodes"][0]["id"]
    assert fleet.codes(DEPRECATE, {"imageId": public}) == ["PERMISSION_DENIED"]
    # copies keep the family
    copies = fleet.do(COPY, {"imageId": older, "destinationRegions": ["gz"]})
    assert copies["userErrors"] == [] and copies["images"][0]["family"] == "web"
    assert fleet.ok(SET_FAMILY, {"imageId": newer, "family": None})["family"] is None
    assert fleet.codes(SET_FAMILY, {"imageId": older, "family": "Not A Family"}) == [
        "INVALID_INPUT"
    ]


def test_disable_hides_it_from_recipients_and_refuses_the_owner(fleet: Fleet) -> None:
    image_id = fleet.capture()
    assert fleet.codes(SHARE, {"imageId": image_id, "accountIds": [fleet.friend.id]}) == []
    assert fleet.ok(DISABLE, {"imageId": image_id})["disabled"] is True
    # R125: the recipient no longer sees it at all; the owner is told it is disabled
    assert fleet.server.gql(GET, {"id": image_id}, fleet.friend)["data"]["image"] is None
    assert image_id not in fleet.ids(fleet.friend, ["SHARED"], include_deprecated=True)
    assert fleet.codes(CREATE, launch(image_id), fleet.friend) == ["IMAGE_NOT_FOUND"]
    assert fleet.codes(CREATE, launch(image_id)) == ["IMAGE_DISABLED"]
    assert fleet.codes(COPY, {"imageId": image_id, "destinationRegions": ["gz"]}) == [
        "IMAGE_DISABLED"
    ]
    assert fleet.codes(SHARE, {"imageId": image_id, "accountIds": [fleet.friend.id]}) == [
        "IMAGE_DISABLED"
    ]
    assert fleet.server.gql(GET, {"id": image_id}, fleet.owner)["data"]["image"]["disabled"]
    # the recipient cannot enable it either: to them it does not exist
    assert fleet.codes(ENABLE, {"imageId": image_id}, fleet.friend) == ["IMAGE_NOT_FOUND"]
    assert fleet.ok(ENABLE, {"imageId": image_id})["disabled"] is False
    assert fleet.server.gql(GET, {"id": image_id}, fleet.friend)["data"]["image"] is not None
    assert fleet.codes(UNSHARE, {"imageId": image_id, "accountIds": [fleet.friend.id]}) == []


def test_protect_then_the_recycle_bin_then_the_purge(fleet: Fleet) -> None:
    image_id = fleet.capture()
    assert fleet.ok(PROTECT, {"imageId": image_id, "enabled": True})["deletionProtection"]
    body = fleet.server.gql(DELETE, {"id": image_id}, fleet.owner)["data"]["deleteImage"]
    assert [e["code"] for e in body["userErrors"]] == ["IMAGE_DELETION_PROTECTED"]
    fleet.ok(PROTECT, {"imageId": image_id, "enabled": False})

    def delete() -> None:
        body = fleet.server.gql(DELETE, {"id": image_id}, fleet.owner)["data"]["deleteImage"]
        assert body == {"deletedImageId": image_id, "userErrors": []}

    delete()
    binned = fleet.server.gql(BIN, tenant=fleet.owner)["data"]["recycleBin"]
    assert [n["id"] for n in binned["nodes"]] == [image_id] and binned["nodes"][0]["purgeAt"]
    # R113: in the bin it is invisible everywhere else, and deleting it again finds nothing
    assert fleet.server.gql(GET, {"id": image_id}, fleet.owner)["data"]["image"] is None
    assert image_id not in fleet.ids(fleet.owner, ["CUSTOM"], include_deprecated=True)
    again = fleet.server.gql(DELETE, {"id": image_id}, fleet.owner)["data"]["deleteImage"]
    assert [e["code"] for e in again["userErrors"]] == ["IMAGE_NOT_FOUND"]
    assert fleet.codes(RESTORE, {"imageId": image_id}, fleet.friend) == ["IMAGE_NOT_IN_RECYCLE_BIN"]

    restored = fleet.ok(RESTORE, {"imageId": image_id})
    assert restored["status"] == "AVAILABLE" and restored["purgeAt"] is None
    assert fleet.server.gql(GET, {"id": image_id}, fleet.owner)["data"]["image"]["id"] == image_id

    delete()
    fleet.server.advance(25 * 3600)  # past the one-day retention: the purge job runs
    assert fleet.server.gql(BIN, tenant=fleet.owner)["data"]["recycleBin"]["totalCount"] == 0
    assert fleet.codes(RESTORE, {"imageId": image_id}) == ["IMAGE_NOT_IN_RECYCLE_BIN"]


TAG = """mutation($i: TagResourcesInput!) { tagResources(input: $i) {
  resources { id ... on Image { tags { key value } } ... on Instance { tags { key value } } }
  userErrors { code field message } } }"""
UNTAG = """mutation($i: UntagResourcesInput!) { untagResources(input: $i) {
  resources { id } userErrors { code field message } } }"""
TAGGED = """query($t: [TagFilter!]) {
  images(first: 100, filter: {tags: $t, types: [CUSTOM, SHARED]}) { nodes { id tags { key value } } }
  instances(first: 100, filter: {tags: $t}) { nodes { id } } }"""


def test_tags_filter_and_stay_their_owners(fleet: Fleet) -> None:
    image_id = fleet.capture()
    tags = [{"key": "team", "value": "web"}, {"key": "Env", "value": "prod"}]
    tagged = fleet.do(TAG, {"resourceIds": [image_id, fleet.instance], "tags": tags})
    assert tagged["userErrors"] == []
    assert tagged["resources"][0]["tags"] == [
        {"key": "Env", "value": "prod"},
        {"key": "team", "value": "web"},
    ]
    found = fleet.server.gql(TAGGED, {"t": [{"key": "team", "value": "web"}]}, fleet.owner)
    assert [n["id"] for n in found["data"]["images"]["nodes"]] == [image_id]
    assert [n["id"] for n in found["data"]["instances"]["nodes"]] == [fleet.instance]
    nothing = fleet.server.gql(TAGGED, {"t": [{"key": "team", "value": "db"}]}, fleet.owner)
    assert nothing["data"]["images"]["nodes"] == []  # the value must match when given
    # R114, R123: the recipient of a share sees the image but none of its tags, and its own
    # tag filters never match the owner's tags
    assert fleet.codes(SHARE, {"imageId": image_id, "accountIds": [fleet.friend.id]}) == []
    seen = fleet.server.gql(
        GET.replace("purgeAt", "purgeAt tags { key }"), {"id": image_id}, fleet.friend
    )
    assert seen["data"]["image"]["tags"] == []
    theirs = fleet.server.gql(TAGGED, {"t": [{"key": "team"}]}, fleet.friend)["data"]
    assert theirs["images"]["nodes"] == []
    assert fleet.codes(TAG, {"resourceIds": [image_id], "tags": tags}, fleet.friend) == [
        "PERMISSION_DENIED"
    ]
    # all or nothing, each problem at its index; the reserved prefix in any case
    bad = fleet.do(
        TAG,
        {
            "resourceIds": [image_id, "i-nothere0"],
            "tags": [{"key": "BCC:owner", "value": "x"}, {"key": "ok", "value": "v" * 257}],
        },
    )
    assert sorted((e["code"], tuple(e["field"])) for e in bad["userErrors"]) == [
        ("INSTANCE_NOT_FOUND", ("input", "resourceIds", "1")),
        ("INVALID_TAG", ("input", "tags", "0", "key")),
        ("INVALID_TAG", ("input", "tags", "1", "value")),
    ]
    many = [{"key": f"k{n}", "value": ""} for n in range(49)]
    assert fleet.codes(TAG, {"resourceIds": [image_id], "tags": many}) == ["TAG_LIMIT_EXCEEDED"]
    # copies take the tags only when asked
    with_tags = fleet.do(
        COPY.replace("family }", "family tags { key } }"),
        {"imageId": image_id, "destinationRegions": ["gz"], "copyTags": True},
    )
    assert {t["key"] for t in with_tags["images"][0]["tags"]} == {"team", "Env"}
    untagged = fleet.do(UNTAG, {"resourceIds": [image_id], "keys": ["team", "absent"]})
    assert untagged["userErrors"] == []
    left = fleet.server.gql(TAGGED, {"t": [{"key": "Env"}]}, fleet.owner)["data"]["images"]
    assert {n["id"]: n["tags"] for n in left["nodes"]}[image_id] == [
        {"key": "Env", "value": "prod"}
    ]
    assert fleet.codes(UNSHARE, {"imageId": image_id, "accountIds": [fleet.friend.id]}) == []


def test_a_binned_image_holds_its_snapshot_until_it_is_purged(fleet: Fleet) -> None:
    """R121: deleting an image made from a snapshot does not free the snapshot; the purge does."""
    snap = fleet.do(SNAPSHOT, {"instanceId": fleet.instance, "name": "nightly"})
    fleet.server.wait_operation(snap["operation"]["id"], fleet.owner)
    snapshot_id = snap["snapshot"]["id"]
    made = fleet.do(CAPTURE, {"name": "from-nightly", "snapshotId": snapshot_id})
    fleet.server.wait_operation(made["operation"]["id"], fleet.owner)
    deleted = fleet.server.gql(DELETE, {"id": made["image"]["id"]}, fleet.owner)["data"]
    assert deleted["deleteImage"]["userErrors"] == []

    def delete_snapshot() -> list[str]:
        body = fleet.server.gql(DELETE_SNAPSHOT, {"id": snapshot_id}, fleet.owner)["data"]
        return [e["code"] for e in body["deleteSnapshot"]["userErrors"]]

    assert delete_snapshot() == ["SNAPSHOT_IN_USE"]
    fleet.server.advance(25 * 3600)
    assert delete_snapshot() == []


def test_image_updated_follows_every_change_until_the_image_is_hidden(fleet: Fleet) -> None:
    """R131 with gql over graphql-transport-ws: the owner sees a deprecation arrive; the
    recipient's stream ends with IMAGE_NOT_FOUND when the image is disabled."""
    image_id = fleet.capture()
    assert fleet.codes(SHARE, {"imageId": image_id, "accountIds": [fleet.friend.id]}) == []
    watch = gql_document(
        "subscription($id: ID!) { imageUpdated(id: $id) { id status deprecation { state } } }"
    )

    async def follow(tenant: Tenant, change: Callable[[], object]) -> tuple[list[Any], str]:
        transport = websocket_transport(fleet.server, tenant)
        seen: list[Any] = []
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            stream = session.subscribe(GraphQLRequest(watch, variable_values={"id": image_id}))
            seen.append(await asyncio.wait_for(anext(stream), timeout=15))
            await asyncio.to_thread(change)
            try:
                seen.append(await asyncio.wait_for(anext(stream), timeout=30))
            except TransportQueryError as exc:
                return seen, str(exc.errors)
            await stream.aclose()
        return seen, ""

    seen, error = asyncio.run(
        follow(fleet.owner, lambda: fleet.ok(DEPRECATE, {"imageId": image_id}))
    )
    assert error == ""
    assert [s["imageUpdated"]["deprecation"] for s in seen] == [None, {"state": "DEPRECATED"}]

    seen, error = asyncio.run(
        follow(fleet.friend, lambda: fleet.ok(DISABLE, {"imageId": image_id}))
    )
    assert seen[0]["imageUpdated"]["id"] == image_id
    assert "IMAGE_NOT_FOUND" in error
