"""The marketplace over real HTTP: a provider publishes, customers buy, the provider earns (§5)."""

from __future__ import annotations

from decimal import Decimal

from tests.acceptance.conftest import Server, act, balance, create, provider_image
from tests.factories import Tenant
from tests.fixtures import (
    CREATE_IMAGE,
    CREATE_LISTING,
    GET_LISTING,
    LISTING_FIELDS,
    PROVIDER,
    SHARE,
    launch,
    listing_input,
)

UPDATE_LISTING = f"""mutation($i: UpdateListingInput!) {{ updateListing(input: $i) {{
  listing {{ {LISTING_FIELDS} }} userErrors {{ code field message }} }} }}"""


def published(server: Server) -> tuple[Tenant, str, str]:
    """A provider's MARKET listing, approved; returns (provider, listing id, bj image id)."""
    provider = server.account("PROVIDER", balance="1000")
    source = provider_image(server, provider)
    listing = server.gql(CREATE_LISTING, {"i": listing_input(source)}, provider)["data"][
        "createListing"
    ]
    assert listing["userErrors"] == []
    listing_id = listing["listing"]["id"]
    assert (
        act(server, "submitListing", listing_id, provider)["listing"]["status"] == "PENDING_REVIEW"
    )
    approved = act(server, "approveListing", listing_id, server.admin)
    assert approved["listing"]["status"] == "PUBLISHED"
    [market_image] = approved["listing"]["images"]
    return provider, listing_id, market_image["id"]


def test_publish_review_buy_and_earn(server: Server) -> None:
    provider = server.account("PROVIDER", balance="1000")
    customer = server.account(balance="5000")
    source = provider_image(server, provider)
    created = server.gql(CREATE_LISTING, {"i": listing_input(source)}, provider)["data"][
        "createListing"
    ]
    listing_id = created["listing"]["id"]
    assert created["listing"]["status"] == "DRAFT"
    # R69: customers see only PUBLISHED listings
    assert server.gql(GET_LISTING, {"id": listing_id}, customer)["data"]["listing"] is None
    act(server, "submitListing", listing_id, provider)
    assert server.gql(GET_LISTING, {"id": listing_id}, customer)["data"]["listing"] is None
    approved = act(server, "approveListing", listing_id, server.admin)
    [market] = approved["listing"]["images"]
    # R67: a new, immutable MARKET image rooted at the listing, visible to everyone
    assert market["id"] != source and market["type"] == "MARKET" and market["status"] == "AVAILABLE"
    seen = server.gql(
        "query($id: ID!) { image(id: $id) { type chargeRoot { listing { id title } } listing { id } } }",
        {"id": market["id"]},
        customer,
    )["data"]["image"]
    assert seen == {
        "type": "MARKET",
        "chargeRoot": {"listing": {"id": listing_id, "title": "Acme WAF 4.0"}},
        "listing": {"id": listing_id},
    }
    # R68: postpaid refused; a 3-month term is not offered
    postpaid = create(server, customer, launch(market["id"]))
    assert [(e["code"], e["field"]) for e in postpaid["userErrors"]] == [
        ("MARKET_IMAGE_POSTPAID_UNSUPPORTED", ["input", "billing", "timing"])
    ]
    three = create(
        server, customer, launch(market["id"], billing={"timing": "PREPAID", "months": 3})
    )
    assert three["userErrors"] == [
        {
            "code": "PLAN_TERM_NOT_OFFERED",
            "field": ["input", "billing", "months"],
            "message": "Acme WAF 4.0 is not offered for this billing; prepaid terms offered: 1, 12 months.",
        }
    ]
    # two instances for one month: SOFTWARE = 2 x the plan price, never discounted
    before_provider = balance(server, provider)
    bought = create(
        server, customer, launch(market["id"], count=2, billing={"timing": "PREPAID", "months": 1})
    )
    assert bought["userErrors"] == []
    software = [line for line in bought["order"]["lines"] if line["kind"] == "SOFTWARE"]
    assert software == [
        {
            "kind": "SOFTWARE",
            "quantity": "2",
            "unit": "TERM",
            "unitPrice": {"amount": "300.00"},
            "amount": {"amount": "600.00"},
        }
    ]
    # R74: the provider earns exactly 80% of it
    assert balance(server, provider) - before_provider == Decimal("480.00")
    view = server.gql(PROVIDER, tenant=provider)["data"]["viewer"]["provider"]
    [position] = [
        i for i, line in enumerate(bought["order"]["lines"]) if line["kind"] == "SOFTWARE"
    ]
    assert view["sales"]["nodes"][0] == {
        "buyerId": customer.id,
        "orderId": bought["order"]["id"],
        "orderLine": position,
        "instanceIds": sorted(i["id"] for i in bought["instances"]),
        "instanceCount": 2,
        "amount": {"amount": "600.00"},
        "revenue": {"amount": "480.00"},
        "plan": {"timing": "PREPAID", "months": 1, "price": {"amount": "300.00"}},
        "listing": {"id": listing_id},
    }
    assert Decimal(view["revenue"]["amount"]) >= Decimal("480.00")


def test_derived_and_shared_images_still_charge_the_software(server: Server) -> None:
    _, listing_id, market = published(server)
    buyer, friend = server.account(balance="5000"), server.account(balance="10000")
    bought = create(server, buyer, launch(market, billing={"timing": "PREPAID", "months": 1}))
    server.wait_operation(bought["operation"]["id"], buyer)
    derived = server.gql(
        CREATE_IMAGE, {"i": {"name": "my-waf", "instanceId": bought["instances"][0]["id"]}}, buyer
    )["data"]["createImage"]
    assert derived["image"]["chargeRoot"] == {"osLicense": "NONE"}
    server.wait_operation(derived["operation"]["id"], buyer)
    server.gql(SHARE, {"i": {"imageId": derived["image"]["id"], "accountIds": [friend.id]}}, buyer)
    # R70: the recipient's instance pays the provider's plan and is prepaid-only
    refused = create(server, friend, launch(derived["image"]["id"]))
    assert refused["userErrors"][0]["code"] == "MARKET_IMAGE_POSTPAID_UNSUPPORTED"
    ok = create(
        server, friend, launch(derived["image"]["id"], billing={"timing": "PREPAID", "months": 12})
    )
    assert ok["userErrors"] == []
    assert [
        (line["kind"], line["amount"]["amount"])
        for line in ok["order"]["lines"]
        if line["kind"] == "SOFTWARE"
    ] == [("SOFTWARE", "3000.00")]
    root = server.gql(
        "query($id: ID!) { image(id: $id) { type chargeRoot { listing { id } } } }",
        {"id": derived["image"]["id"]},
        friend,
    )["data"]["image"]
    assert root == {"type": "SHARED", "chargeRoot": {"listing": {"id": listing_id}}}


def test_delisting_stops_new_instances_not_running_ones(server: Server) -> None:
    provider, listing_id, market = published(server)
    customer = server.account(balance="5000")
    bought = create(server, customer, launch(market, billing={"timing": "PREPAID", "months": 1}))
    instance_id = bought["instances"][0]["id"]
    server.wait_operation(bought["operation"]["id"], customer)
    delisted = act(server, "delistListing", listing_id, provider, reason="end of life")
    assert delisted["listing"]["status"] == "DELISTED"
    assert [i["status"] for i in delisted["listing"]["images"]] == ["NOT_AVAILABLE"]
    again = create(server, customer, launch(market, billing={"timing": "PREPAID", "months": 1}))
    assert again["userErrors"][0]["code"] == "IMAGE_NOT_AVAILABLE"
    state = server.gql(
        "query($id: ID!) { instance(id: $id) { status charges { kind } } }",
        {"id": instance_id},
        customer,
    )["data"]["instance"]
    assert state == {"status": "RUNNING", "charges": [{"kind": "COMPUTE"}, {"kind": "SOFTWARE"}]}
    # customers no longer see the listing; the provider still does
    assert server.gql(GET_LISTING, {"id": listing_id}, customer)["data"]["listing"] is None
    assert (
        server.gql(GET_LISTING, {"id": listing_id}, provider)["data"]["listing"]["status"]
        == "DELISTED"
    )


def test_rejected_listing_carries_the_note_and_is_resubmitted(server: Server) -> None:
    provider = server.account("PROVIDER", balance="1000")
    source = provider_image(server, provider)
    listing_id = server.gql(CREATE_LISTING, {"i": listing_input(source)}, provider)["data"][
        "createListing"
    ]["listing"]["id"]
    act(server, "submitListing", listing_id, provider)
    no_reason = act(server, "rejectListing", listing_id, server.admin)
    assert no_reason["userErrors"][0]["code"] == "INVALID_INPUT"
    rejected = act(
        server,
        "rejectListing",
        listing_id,
        server.admin,
        reason="The summary must name the licence.",
    )
    assert rejected["listing"]["status"] == "REJECTED"
    seen = server.gql(GET_LISTING, {"id": listing_id}, provider)["data"]["listing"]
    assert seen["reviewNote"] == "The summary must name the licence."
    assert (
        act(server, "approveListing", listing_id, server.admin)["userErrors"][0]["code"]
        == "LISTING_STATUS_FORBIDDEN"
    )
    edited = server.gql(
        UPDATE_LISTING,
        {"i": {"listingId": listing_id, "summary": "A WAF. Licence: per instance, Acme EULA."}},
        provider,
    )["data"]["updateListing"]
    assert edited["listing"]["status"] == "DRAFT" and edited["userErrors"] == []
    assert (
        act(server, "submitListing", listing_id, provider)["listing"]["status"] == "PENDING_REVIEW"
    )
    assert (
        act(server, "approveListing", listing_id, server.admin)["listing"]["status"] == "PUBLISHED"
    )
    published_edit = server.gql(
        UPDATE_LISTING, {"i": {"listingId": listing_id, "title": "x"}}, provider
    )["data"]["updateListing"]
    assert published_edit["userErrors"][0]["code"] == "LISTING_STATUS_FORBIDDEN"


def test_customers_cannot_use_provider_mutations(server: Server) -> None:
    customer = server.account(balance="1000")
    body = server.gql(CREATE_LISTING, {"i": listing_input("m-00000000")}, customer)["data"][
        "createListing"
    ]
    assert body["userErrors"] == [
        {
            "code": "NOT_A_PROVIDER",
            "field": None,
            "message": "Only provider accounts can manage listings.",
        }
    ]


def test_the_seeded_marketplace_is_in_the_anonymous_catalogue(server: Server) -> None:
    listings = server.gql(
        "{ listings(first: 10) { nodes { kind title provider { name } plans { timing months price { amount } } images { region { code } } } } }"
    )["data"]["listings"]["nodes"]
    kinds = {listing["kind"] for listing in listings}
    assert kinds >= {"MARKET", "INTEGRATION"}
    assert any(listing["provider"]["name"] == "Acme Cloud Software" for listing in listings)
