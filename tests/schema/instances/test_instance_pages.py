"""The instances list's pages: cursors both ways, filters and tags (its statement is built
once per shape of list, the caller, the filters' values and the cursor being parameters)."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.factories import Factory, Tenant, gql
from tests.fixtures import CREATE, TAG, launch

PAGE = """query($first: Int, $after: String, $last: Int, $before: String, $f: InstanceFilter) {
  instances(first: $first, after: $after, last: $last, before: $before, filter: $f) {
    nodes { id region { code } flavor { name } } totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


def _page(client: TestClient, tenant: Tenant, **variables: Any) -> dict[str, Any]:
    body = gql(client, PAGE, variables, tenant)
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"]["instances"]
    return page


def test_walking_the_instances_both_ways_gives_every_one_once_in_order(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="500")
    other = factory.account(balance="500")
    image = factory.public_image()
    for owner in (tenant, other):
        made = gql(app_client, CREATE, {"i": launch(image, count=5)}, owner)
        assert made["data"]["createInstances"]["userErrors"] == []
    everything = [n["id"] for n in _page(app_client, tenant, first=50)["nodes"]]
    assert len(everything) == 5  # the other account's are not listed
    seen: list[str] = []
    after = None
    while True:
        page = _page(app_client, tenant, first=2, after=after)
        seen += [n["id"] for n in page["nodes"]]
        assert page["totalCount"] == 5
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == everything
    backward: list[str] = []
    before = None
    while True:
        page = _page(app_client, tenant, last=2, before=before)
        backward = [n["id"] for n in page["nodes"]] + backward
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert backward == everything
    # every node shows its region and flavor, read with the page
    assert {n["region"]["code"] for n in _page(app_client, tenant, first=5)["nodes"]} == {"bj"}


def test_a_tag_filter_and_a_value_filter_narrow_the_same_list(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="500")
    image = factory.public_image()
    made = gql(app_client, CREATE, {"i": launch(image, count=3)}, tenant)
    ids = [i["id"] for i in made["data"]["createInstances"]["instances"]]
    tagged = {"resourceIds": ids[:2], "tags": [{"key": "team", "value": "web"}]}
    assert gql(app_client, TAG, {"i": tagged}, tenant)["data"]["tagResources"]["userErrors"] == []
    by_tag = {"tags": [{"key": "team", "value": "web"}]}
    found = _page(app_client, tenant, first=10, f=by_tag)
    assert sorted(n["id"] for n in found["nodes"]) == sorted(ids[:2])
    assert found["totalCount"] == 2
    by_key = _page(app_client, tenant, first=1, f={"tags": [{"key": "team"}], "region": "bj"})
    rest = _page(
        app_client,
        tenant,
        first=5,
        after=by_key["pageInfo"]["endCursor"],
        f={"tags": [{"key": "team"}], "region": "bj"},
    )
    assert len(by_key["nodes"]) + len(rest["nodes"]) == 2
    assert _page(app_client, tenant, first=10, f={"region": "gz", **by_tag})["nodes"] == []
