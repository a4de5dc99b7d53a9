"""What a buyer pays stays explainable (issue 24; R171): an image's charge root names its listing
to every account that pays or paid it, after the listing is delisted too, and to nobody else;
a provider's sales name the order, its line and the instances they covered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.database import write_session
from app.images.models import Image
from app.platform.viewer import Role
from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import CREATE, PROVIDER, SHARE, act, launch, make_listing

ROOT = "chargeRoot { listing { id title status reviewNote provider { name } } }"
IMAGE = f"query($id: ID!) {{ image(id: $id) {{ id {ROOT} }} }}"
PAGE = f"""query($n: String) {{ images(first: 5, filter: {{nameContains: $n}})
  {{ nodes {{ id {ROOT} }} }} }}"""
LISTING = "query($id: ID!) { listing(id: $id) { id } }"
NOTE = "query($id: ID!) { listing(id: $id) { reviewNote } }"


def _root(client: TestClient, tenant: Tenant, image_id: str) -> Any:
    """The image's charge-root listing as the tenant reads it, one by one and on a page."""
    one = gql(client, IMAGE, {"id": image_id}, tenant)["data"]["image"]
    if one is None:
        return "invisible"
    page = gql(client, PAGE, {"n": "derived-"}, tenant)["data"]["images"]["nodes"]
    [listed] = [node for node in page if node["id"] == image_id]
    assert listed["chargeRoot"] == one["chargeRoot"]  # the page's prefetch agrees
    return one["chargeRoot"]["listing"]


def test_a_delisted_listing_stays_readable_as_the_charge_root_of_those_who_paid_it(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    """After a delist the buyer's image read chargeRoot.listing as null."""
    provider, listing_id, market_image = make_listing(
        app_client, factory, engine, plans=[{"timing": "PREPAID", "months": 1, "price": "30.00"}]
    )
    assert market_image is not None
    buyer, friend = factory.account(balance="1000"), factory.account()
    prepaid = {"timing": "PREPAID", "months": 1}
    created = gql(app_client, CREATE, {"i": launch(market_image, billing=prepaid)}, buyer)
    assert created["data"]["createInstances"]["userErrors"] == []
    # the buyer's image made from that instance inherits the listing as its charge root
    derived = custom_image(engine, buyer.id, name="derived-waf")
    with write_session(engine) as session:
        row = session.get(Image, derived)
        assert row is not None
        row.charge_listing_id = listing_id
    shared = gql(app_client, SHARE, {"i": {"imageId": derived, "accountIds": [friend.id]}}, buyer)
    assert shared["data"]["shareImage"]["userErrors"] == []
    published = _root(app_client, buyer, derived)
    assert published["status"] == "PUBLISHED" and _root(app_client, friend, derived) == published

    admin = factory.account(Role.ADMIN)
    delisted = act(app_client, "delistListing", listing_id, admin, reason="licence violation")
    assert delisted["listing"]["status"] == "DELISTED"

    explained = _root(app_client, buyer, derived)
    assert explained == {
        "id": listing_id,
        "title": published["title"],
        "status": "DELISTED",
        "reviewNote": None,  # the reason is the provider's (and the admins') to read
        "provider": published["provider"],
    }
    # the friend neither pays nor paid it: the delisted listing is not shown to it
    assert _root(app_client, friend, derived) is None
    # and the catalogue itself no longer offers it, to the buyer either
    assert gql(app_client, LISTING, {"id": listing_id}, buyer)["data"]["listing"] is None
    assert gql(app_client, NOTE, {"id": listing_id}, provider)["data"]["listing"] == {
        "reviewNote": "licence violation"
    }


def test_a_prepaid_sale_names_the_order_its_line_and_the_instances(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    provider, _, market_image = make_listing(
        app_client, factory, engine, plans=[{"timing": "PREPAID", "months": 1, "price": "30.00"}]
    )
    assert market_image is not None
    buyer = factory.account(balance="2000")
    prepaid = {"timing": "PREPAID", "months": 1}
    created = gql(app_client, CREATE, {"i": launch(market_image, count=2, billing=prepaid)}, buyer)[
        "data"
    ]["createInstances"]
    assert created["userErrors"] == []
    order = created["order"]
    [software] = [i for i, line in enumerate(order["lines"]) if line["kind"] == "SOFTWARE"]
    [sale] = gql(app_client, PROVIDER, tenant=provider)["data"]["viewer"]["provider"]["sales"][
        "nodes"
    ]
    assert (sale["buyerId"], sale["orderId"], sale["orderLine"]) == (
        buyer.id,
        order["id"],
        software,
    )
    assert sale["instanceIds"] == sorted(i["id"] for i in created["instances"])
    assert sale["instanceCount"] == 2
