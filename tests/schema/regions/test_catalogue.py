"""Catalogue reads: regions, flavors, images, paging and visibility (R1-R5, R80, R91)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.platform.viewer import Role
from tests.factories import Factory, Tenant, custom_image, gql

IMAGE_PAGE = """
query Page($filter: ImageFilter, $order: ImageOrder, $first: Int, $after: String,
           $last: Int, $before: String) {
  images(filter: $filter, orderBy: $order, first: $first, after: $after,
         last: $last, before: $before) {
    totalCount
    edges { cursor node { id name type region { code } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def _page(client: TestClient, tenant: Tenant | None = None, **variables: Any) -> dict[str, Any]:
    data: dict[str, Any] = gql(client, IMAGE_PAGE, variables, tenant)["data"]["images"]
    return data


def test_regions_are_the_six_seeded_with_zones(app_client: TestClient) -> None:
    data = gql(app_client, "{ regions { id code name copySupported zones { name } } }")["data"]
    codes = [r["code"] for r in data["regions"]]
    assert codes == ["bj", "bd", "su", "gz", "fwh", "hkg"]
    bj = data["regions"][0]
    assert bj["id"] == "bj"
    assert [z["name"] for z in bj["zones"]] == ["cn-bj-a", "cn-bj-b", "cn-bj-c", "cn-bj-d"]
    assert {r["code"] for r in data["regions"] if not r["copySupported"]} == {"fwh"}


def test_region_by_code_and_unknown_region(app_client: TestClient) -> None:
    data = gql(app_client, '{ a: region(code: "gz") { name } b: region(code: "zz") { name } }')
    assert data["data"] == {"a": {"name": "South China - Guangzhou"}, "b": None}


def test_flavor_price_is_null_where_not_offered(app_client: TestClient) -> None:
    query = """{ flavors(region: "bj", generation: EBC) {
        name generation vcpus
        bj: price(region: "bj") { perHour { amount currency } perMonth { amount } }
        hkg: price(region: "hkg") { perHour { amount } } } }"""
    flavors = gql(app_client, query)["data"]["flavors"]
    assert flavors, "bj offers EBC flavors"
    assert all(f["generation"] == "EBC" for f in flavors)
    first = flavors[0]
    assert first["bj"]["perHour"]["currency"] == "CNY"
    assert isinstance(first["bj"]["perHour"]["amount"], str)
    assert first["hkg"] is None


def test_flavors_in_a_region_are_only_those_offered_there(app_client: TestClient) -> None:
    query = '{ flavors(region: "fwh") { name price(region: "fwh") { perHour { amount } } } }'
    flavors = gql(app_client, query)["data"]["flavors"]
    assert flavors
    assert all(f["price"] is not None for f in flavors)


def test_anonymous_sees_only_the_catalogue(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    custom_image(engine, owner.id)
    page = _page(app_client, first=100, filter={"region": "bj"})
    # R5: public images and published marketplace/integration images (the seeded demo listings)
    assert {n["node"]["type"] for n in page["edges"]} == {"PUBLIC", "MARKET", "INTEGRATION"}


def test_paging_forward_walks_a_filtered_set_exactly_once(app_client: TestClient) -> None:
    flt = {"region": "bj", "osType": "LINUX"}
    total = _page(app_client, first=0, filter=flt)["totalCount"]
    seen: list[str] = []
    after = None
    while True:
        page = _page(app_client, first=3, after=after, filter=flt)
        seen += [e["node"]["id"] for e in page["edges"]]
        assert page["totalCount"] == total
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == total == len(set(seen))
    everything = _page(app_client, first=100, filter=flt)
    assert [e["node"]["id"] for e in everything["edges"]] == seen


def test_paging_backward_returns_the_same_items_in_the_same_order(app_client: TestClient) -> None:
    flt = {"region": "gz"}
    order = {"field": "NAME", "direction": "ASC"}
    forward = [
        e["node"]["id"] for e in _page(app_client, first=100, filter=flt, order=order)["edges"]
    ]
    seen: list[str] = []
    before = None
    while True:
        page = _page(app_client, last=4, before=before, filter=flt, order=order)
        seen = [e["node"]["id"] for e in page["edges"]] + seen
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert seen == forward


def test_order_by_name_is_sorted(app_client: TestClient) -> None:
    for direction in ("ASC", "DESC"):
        page = _page(
            app_client,
            first=100,
            filter={"region": "su"},
            order={"field": "NAME", "direction": direction},
        )
        names = [e["node"]["name"] for e in page["edges"]]
        assert names == sorted(names, reverse=direction == "DESC")


def test_filters_combine(app_client: TestClient) -> None:
    page = _page(
        app_client,
        first=100,
        filter={"region": "hkg", "nameContains": "windows", "types": ["PUBLIC"]},
    )
    names = [e["node"]["name"] for e in page["edges"]]
    assert names
    assert all("windows" in n.lower() for n in names)
    assert {e["node"]["region"]["code"] for e in page["edges"]} == {"hkg"}


def test_name_contains_treats_wildcards_literally(app_client: TestClient) -> None:
    page = _page(app_client, first=10, filter={"nameContains": "%"})
    assert page["totalCount"] == 0


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"first": 101}, "'first' must be between 0 and 100; got 101."),
        ({"last": -1}, "'last' must be between 0 and 100; got -1."),
        ({"first": 1, "last": 1}, "Pass either 'first' or 'last', not both."),
        ({"after": "not-a-cursor"}, "'after' is not a valid cursor."),
    ],
)
def test_bad_page_arguments_are_bad_user_input(
    app_client: TestClient, variables: dict[str, Any], message: str
) -> None:
    body = gql(app_client, IMAGE_PAGE, variables, expect_errors=True)
    assert body["errors"][0]["message"] == message
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_cursor_of_another_order_is_refused(app_client: TestClient) -> None:
    cursor = _page(app_client, first=1)["pageInfo"]["endCursor"]
    body = gql(
        app_client,
        IMAGE_PAGE,
        {"after": cursor, "order": {"field": "NAME", "direction": "ASC"}},
        expect_errors=True,
    )
    assert body["errors"][0]["message"] == "'after' is a cursor of a list with a different order."


def test_malformed_image_id_is_bad_user_input(app_client: TestClient) -> None:
    body = gql(app_client, '{ image(id: "m-../../etc") { id } }', expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["data"] == {"image": None}


def test_private_image_answers_like_a_missing_one(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, other = factory.account(), factory.account()
    image_id = custom_image(engine, owner.id)
    missing = "m-AAAAAAAA"
    query = """query($id: ID!, $missing: ID!) {
        image(id: $id) { id } node(id: $id) { id } nodes(ids: [$id, $missing]) { id }
        ghost: image(id: $missing) { id } }"""
    for viewer in (other, None):
        body = gql(app_client, query, {"id": image_id, "missing": missing}, viewer)
        assert body["data"] == {"image": None, "node": None, "nodes": [None, None], "ghost": None}
    mine = gql(app_client, query, {"id": image_id, "missing": missing}, owner)["data"]
    assert mine["image"] == {"id": image_id}
    assert mine["node"] == {"id": image_id}


def test_visibility_by_role_in_lists(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, other = factory.account(), factory.account()
    admin = factory.account(Role.ADMIN)
    image_id = custom_image(engine, owner.id, region="su")
    flt = {"region": "su", "types": ["CUSTOM"]}
    owned = _page(app_client, owner, first=100, filter=flt)
    assert [e["node"]["id"] for e in owned["edges"]] == [image_id]
    assert owned["edges"][0]["node"]["type"] == "CUSTOM"
    assert _page(app_client, other, first=100, filter=flt)["edges"] == []
    assert _page(app_client, None, first=100, filter=flt)["edges"] == []
    admin_ids = {e["node"]["id"] for e in _page(app_client, admin, first=100, filter=flt)["edges"]}
    assert image_id in admin_ids


def test_owner_field_is_for_the_owner_and_admins(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, admin = factory.account(), factory.account(Role.ADMIN)
    image_id = custom_image(engine, owner.id)
    query = "query($id: ID!) { image(id: $id) { owner { id } } }"
    assert gql(app_client, query, {"id": image_id}, owner)["data"]["image"]["owner"] == {
        "id": owner.id
    }
    assert gql(app_client, query, {"id": image_id}, admin)["data"]["image"]["owner"] == {
        "id": owner.id
    }
    public_id = factory.public_image()
    body = gql(app_client, query, {"id": public_id}, owner, expect_errors=True)
    assert body["data"]["image"]["owner"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["image", "owner"], "FORBIDDEN")
    ]


def test_public_image_fields(app_client: TestClient, factory: Factory) -> None:
    image_id = factory.public_image(os_type="WINDOWS")
    query = """query($id: ID!) { image(id: $id) { id type status generation minDiskGb
        os { type name version arch lang } source { kind region { code } }
        chargeRoot { osLicense } systemDiskKind copyLock progress failure { code } } }"""
    data = gql(app_client, query, {"id": image_id})["data"]["image"]
    assert data["type"] == "PUBLIC"
    assert data["status"] == "AVAILABLE"
    assert data["os"]["type"] == "WINDOWS"
    assert data["minDiskGb"] >= 40
    assert data["chargeRoot"] == {"osLicense": "WINDOWS"}
    assert data["source"] == {"kind": "PLATFORM", "region": None}
    assert data["systemDiskKind"] is None
    assert data["copyLock"] is None
    assert data["failure"] is None


def test_node_resolves_regions_and_refuses_garbage(app_client: TestClient) -> None:
    body = gql(app_client, '{ node(id: "bj") { id ... on Region { name } } }')
    assert body["data"]["node"]["name"] == "North China - Beijing"
    bad = gql(app_client, '{ node(id: "<script>") { id } }', expect_errors=True)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_nodes_refuses_more_than_100_ids(app_client: TestClient) -> None:
    ids = ", ".join('"bj"' for _ in range(101))
    body = gql(app_client, f"{{ nodes(ids: [{ids}]) {{ id }} }}", expect_errors=True)
    assert body["errors"][0]["message"] == "'ids' holds at most 100 ids; got 101."


def test_nodes_shortcut_equals_edges(app_client: TestClient) -> None:
    query = "{ images(first: 5) { edges { node { id } } nodes { id } } }"
    data = gql(app_client, query)["data"]["images"]
    assert [e["node"] for e in data["edges"]] == data["nodes"]
    assert len(data["nodes"]) == 5


def test_images_that_fit_a_flavor(app_client: TestClient) -> None:
    """R116: a flavor's generation, only in regions where it is offered."""
    flavor = gql(app_client, "{ flavors(generation: EBC) { name } }")["data"]["flavors"][0]["name"]
    codes = [r["code"] for r in gql(app_client, "{ regions { code } }")["data"]["regions"]]
    offered = set()
    for code in codes:
        names = gql(app_client, f'{{ flavors(region: "{code}") {{ name }} }}')["data"]["flavors"]
        if flavor in {f["name"] for f in names}:
            offered.add(code)
    assert offered and offered != set(codes)  # so the region part of the filter matters
    query = """query($f: String) { images(first: 100, filter: {flavor: $f, types: [PUBLIC]}) {
      totalCount nodes { generation region { code } } } }"""
    fitting = gql(app_client, query, {"f": flavor})["data"]["images"]
    everything = gql(app_client, query, {"f": None})["data"]["images"]
    assert 0 < fitting["totalCount"] < everything["totalCount"]
    assert {n["generation"] for n in fitting["nodes"]} == {"EBC"}
    assert {n["region"]["code"] for n in fitting["nodes"]} <= offered
    unknown = gql(app_client, query, {"f": "bcc.nope"}, expect_errors=True)
    assert unknown["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
