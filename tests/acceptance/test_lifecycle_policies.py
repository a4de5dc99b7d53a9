"""Image lifecycle policies over real HTTP, through the simulated clock (issue 25; R175, R203):
a policy over a family of six images with keepNewest 2, an excluded tag and a recently launched
image is previewed, then runs at midnight; it never touches another account's same-named
family; a delete that deletion protection forbids is skipped and recorded; an owner who undoes
an action takes the image out of the policy's reach until it hands the image back.

The clock is first moved to one hour after a midnight (UTC), so the test does not depend on
the date or the hour it runs at.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import pytest

from tests.acceptance.conftest import QUICK, Server, create, own_server, running_instance
from tests.acceptance.test_governance import BIN, CAPTURE, PROTECT, RESTORE
from tests.factories import Tenant
from tests.fixtures import launch

HOUR, DAY = 3600, 86400
ERRORS = "userErrors { code field message }"
POLICY = "id name lastRunAt selector { family tags { key value } } rules { keepNewest }"
CREATE_POLICY = f"""mutation($i: CreateImageLifecyclePolicyInput!) {{
  createImageLifecyclePolicy(input: $i) {{ policy {{ {POLICY} }} {ERRORS} }} }}"""
UPDATE_POLICY = f"""mutation($i: UpdateImageLifecyclePolicyInput!) {{
  updateImageLifecyclePolicy(input: $i) {{ policy {{ {POLICY} enabled }} {ERRORS} }} }}"""
DELETE_POLICY = f"""mutation($i: DeleteImageLifecyclePolicyInput!) {{
  deleteImageLifecyclePolicy(input: $i) {{ deletedPolicyId {ERRORS} }} }}"""
CLEAR = f"""mutation($i: ClearImageLifecycleExclusionInput!) {{
  clearImageLifecycleExclusion(input: $i) {{ image {{ id lifecycleExcluded }} {ERRORS} }} }}"""
PREVIEW = """query($id: ID!) { previewImageLifecyclePolicy(id: $id) {
  at count actions { imageId action taken reason image { id } } } }"""
POLICIES = """{ imageLifecyclePolicies { id lastRunAt
  recentActions(first: 50) { imageId action taken reason at } } }"""
GET = """query($id: ID!) { image(id: $id) { id disabled lifecycleNote lifecycleExcluded
  deprecation { state } } }"""
TAG = f"""mutation($i: TagResourcesInput!) {{ tagResources(input: $i) {{ {ERRORS} }} }}"""
UNDEPRECATE = f"""mutation($i: UndeprecateImageInput!) {{ undeprecateImage(input: $i) {{
  image {{ id }} {ERRORS} }} }}"""


@dataclass
class Family:
    """An owner's six images of family "web", oldest first, and another account's two."""

    server: Server
    owner: Tenant
    other: Tenant
    images: list[str]
    others: list[str]

    def do(self, document: str, value: dict[str, Any], tenant: Tenant | None = None) -> Any:
        body = self.server.gql(document, {"i": value}, tenant or self.owner)["data"]
        return next(iter(body.values()))

    def image(self, image_id: str, tenant: Tenant | None = None) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.server.gql(GET, {"id": image_id}, tenant or self.owner)[
            "data"
        ]["image"]
        return found

    def preview(self, policy_id: str, tenant: Tenant | None = None) -> Any:
        return self.server.gql(PREVIEW, {"id": policy_id}, tenant or self.owner)["data"][
            "previewImageLifecyclePolicy"
        ]

    def deprecated(self, image_ids: list[str], tenant: Tenant | None = None) -> list[bool]:
        return [
            (found := self.image(i, tenant)) is not None and found["deprecation"] is not None
            for i in image_ids
        ]


def _capture(server: Server, tenant: Tenant, instance: str, family: str) -> str:
    payload = server.gql(
        CAPTURE, {"i": {"name": "web", "instanceId": instance, "family": family}}, tenant
    )["data"]["createImage"]
    assert payload["userErrors"] == [], payload["userErrors"]
    server.wait_operation(payload["operation"]["id"], tenant)
    image_id: str = payload["image"]["id"]
    return image_id


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Family]:
    """A server of its own whose clock stands an hour after a midnight when the images are
    captured."""
    with own_server(tmp_path_factory, "policy-data", {**QUICK, "recycle_bin_days": 30}) as server:
        owner, other = server.account(balance="5000"), server.account(balance="5000")
        mine, theirs = running_instance(server, owner), running_instance(server, other)
        now = datetime.fromisoformat(server.advance(1))
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        server.advance(int((midnight - now).total_seconds()) + HOUR)
        images = [_capture(server, owner, mine, "web") for _ in range(6)]
        others = [_capture(server, other, theirs, "web") for _ in range(2)]
        yield Family(server, owner, other, images, others)


def test_a_policy_is_previewed_then_runs_at_midnight(family: Family) -> None:
    server, images = family.server, family.images
    tagged = family.do(
        TAG, {"resourceIds": [images[0]], "tags": [{"key": "keep", "value": "forever"}]}
    )
    assert tagged["userErrors"] == []
    launched = create(server, family.owner, launch(images[1]))
    assert launched["userErrors"] == [], launched["userErrors"]
    policy = family.do(
        CREATE_POLICY,
        {
            "name": "retire web",
            "region": "bj",
            "selector": {"family": "web"},
            "rules": {"deprecateAfterDays": 1, "deleteAfterDays": 3, "keepNewest": 2},
            "exclude": {"tags": [{"key": "keep"}], "launchedWithinDays": 7},
        },
    )
    assert policy["userErrors"] == [], policy["userErrors"]
    policy_id = policy["policy"]["id"]
    assert policy["policy"]["lastRunAt"] is None
    assert family.preview(policy_id)["count"] == 0  # the images are hours old

    server.advance(30 * HOUR)  # a midnight passed while they were under a day old
    assert family.deprecated(images) == [False] * 6
    preview = family.preview(policy_id)
    actions = {a["imageId"]: a for a in preview["actions"]}
    assert set(actions) == set(images[:4])  # the two newest are kept; nothing of the other's
    assert [(actions[i]["action"], actions[i]["taken"]) for i in images[:4]] == [
        ("DEPRECATE", False),
        ("DEPRECATE", False),
        ("DEPRECATE", True),
        ("DEPRECATE", True),
    ]
    assert "excluded tag keep" in actions[images[0]]["reason"]
    assert "launched from it" in actions[images[1]]["reason"]
    assert family.deprecated(images) == [False] * 6  # a preview changes nothing

    server.advance(DAY)  # the next midnight: the policy runs
    assert family.deprecated(images) == [False, False, True, True, False, False]
    assert family.deprecated(family.others, family.other) == [False, False]
    note = family.image(images[2])["lifecycleNote"]  # type: ignore[index]
    assert note.startswith(f"Deprecated by lifecycle policy 'retire web' ({policy_id}) at ")
    [listed] = server.gql(POLICIES, tenant=family.owner)["data"]["imageLifecyclePolicies"]
    assert datetime.fromisoformat(listed["lastRunAt"]).time() == time(0)  # a midnight, UTC
    taken = {(a["imageId"], a["action"]) for a in listed["recentActions"] if a["taken"]}
    assert taken == {(images[2], "DEPRECATE"), (images[3], "DEPRECATE")}
    assert server.gql(POLICIES, tenant=family.other)["data"]["imageLifecyclePolicies"] == []

    # three days old at the next run but one: images[2] goes to the recycle bin; images[3]
    # is protected from deletion, so that stage is skipped and recorded
    protected = family.do(PROTECT, {"imageId": images[3], "enabled": True})
    assert protected["userErrors"] == []
    server.advance(2 * DAY)
    binned = server.gql(BIN, tenant=family.owner)["data"]["recycleBin"]["nodes"]
    assert [n["id"] for n in binned] == [images[2]]
    assert family.image(images[3]) is not None
    [listed] = server.gql(POLICIES, tenant=family.owner)["data"]["imageLifecyclePolicies"]
    skipped = [a for a in listed["recentActions"] if a["imageId"] == images[3] and not a["taken"]]
    assert [a["action"] for a in skipped] == ["DELETE"]
    assert "protected from deletion" in skipped[0]["reason"]
    server.advance(DAY)  # the same skip is not recorded again
    [listed] = server.gql(POLICIES, tenant=family.owner)["data"]["imageLifecyclePolicies"]
    again = [a for a in listed["recentActions"] if a["imageId"] == images[3] and not a["taken"]]
    assert len(again) == 1
    assert family.deprecated(family.others, family.other) == [False, False]


def test_an_owner_who_undoes_an_action_keeps_the_policy_away_until_it_clears_it(
    family: Family,
) -> None:
    server, images = family.server, family.images
    binned = server.gql(BIN, tenant=family.owner)["data"]["recycleBin"]["nodes"]
    assert images[2] in {n["id"] for n in binned}  # left there by the test before
    restored = family.do(RESTORE, {"imageId": images[2]})
    assert restored["userErrors"] == []
    undone = family.do(UNDEPRECATE, {"imageId": images[2]})
    assert undone["userErrors"] == []
    seen = family.image(images[2])
    assert seen is not None and seen["lifecycleExcluded"] is True
    server.advance(DAY)
    assert family.image(images[2]) is not None  # the policy left it alone
    assert family.deprecated([images[2]]) == [False]

    cleared = family.do(CLEAR, {"imageId": images[2]})
    assert cleared["userErrors"] == [] and cleared["image"]["lifecycleExcluded"] is False
    refused = family.do(CLEAR, {"imageId": images[2]}, family.other)["userErrors"]
    assert [e["code"] for e in refused] == ["IMAGE_NOT_FOUND"]
    server.advance(DAY)  # handed back: over three days old, it goes to the recycle bin again
    assert family.image(images[2]) is None
    binned = server.gql(BIN, tenant=family.owner)["data"]["recycleBin"]["nodes"]
    assert images[2] in {n["id"] for n in binned}


def test_policies_are_checked_counted_and_private(family: Family) -> None:
    base = {"name": "p", "region": "bj", "selector": {"family": "web"}}
    refusals = [
        ({**base, "selector": {}, "rules": {"deleteAfterDays": 5}}, ["input", "selector"]),
        ({**base, "rules": {}}, ["input", "rules"]),
        ({**base, "rules": {"deprecateAfterDays": 5, "disableAfterDays": 5}}, ["input", "rules"]),
        ({**base, "rules": {"deleteAfterDays": 0}}, ["input", "rules", "deleteAfterDays"]),
        (
            {**base, "rules": {"deleteAfterDays": 5, "keepNewest": -1}},
            ["input", "rules", "keepNewest"],
        ),
        ({**base, "name": "", "rules": {"deleteAfterDays": 5}}, ["input", "name"]),
        ({**base, "region": "xx", "rules": {"deleteAfterDays": 5}}, ["input", "region"]),
        (
            {**base, "selector": {"family": "Web!"}, "rules": {"deleteAfterDays": 5}},
            ["input", "selector", "family"],
        ),
    ]
    tenant = family.server.account()
    for value, field in refusals:
        errors = family.do(CREATE_POLICY, value, tenant)["userErrors"]
        assert [e["field"] for e in errors] == [field], (value, errors)
    assert family.server.gql(POLICIES, tenant=tenant)["data"]["imageLifecyclePolicies"] == []

    made = [
        family.do(CREATE_POLICY, {**base, "rules": {"deleteAfterDays": 5 + n}}, tenant)
        for n in range(10)
    ]
    assert all(p["userErrors"] == [] for p in made)
    eleventh = family.do(CREATE_POLICY, {**base, "rules": {"deleteAfterDays": 5}}, tenant)
    assert [e["code"] for e in eleventh["userErrors"]] == ["LIFECYCLE_POLICY_QUOTA_EXCEEDED"]

    policy_id = made[0]["policy"]["id"]
    for document, value in (
        (UPDATE_POLICY, {"id": policy_id, "enabled": False}),
        (DELETE_POLICY, {"id": policy_id}),
    ):
        refused = family.do(document, value, family.other)["userErrors"]
        assert [(e["code"], e["field"]) for e in refused] == [
            ("LIFECYCLE_POLICY_NOT_FOUND", ["input", "id"])
        ]
    assert family.preview(policy_id, family.other) is None

    changed = family.do(
        UPDATE_POLICY, {"id": policy_id, "enabled": False, "rules": {"deleteAfterDays": 9}}, tenant
    )
    assert changed["userErrors"] == [] and changed["policy"]["enabled"] is False
    assert changed["policy"]["selector"]["family"] == "web"  # omitted: unchanged
    bad = family.do(UPDATE_POLICY, {"id": policy_id, "name": "x" * 65}, tenant)
    assert [e["code"] for e in bad["userErrors"]] == ["INVALID_NAME"]
    deleted = family.do(DELETE_POLICY, {"id": policy_id}, tenant)
    assert deleted == {"deletedPolicyId": policy_id, "userErrors": []}
    again = family.do(CREATE_POLICY, {**base, "rules": {"deleteAfterDays": 5}}, tenant)
    assert again["userErrors"] == []
