"""Marketplace rules in process: visibility, transitions, hourly plans, revenue, reversals."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.database import read_session, write_session
from app.instances.models import Instance
from app.platform.viewer import Role
from app.workflows.settlement import settle
from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import (
    CREATE,
    CREATE_LISTING,
    GET_LISTING,
    PROVIDER,
    QUOTE,
    REBUILD,
    RELEASE,
    VIEWER,
    act,
    balance,
    launch,
    listing_input,
    make_listing,
)

LISTINGS = """query($f: ListingFilter) { listings(first: 50, filter: $f) { nodes { id } } }"""


def test_listing_visibility_by_role(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    provider, draft, _ = make_listing(app_client, factory, engine, publish=False)
    _, live, _ = make_listing(app_client, factory, engine, provider=provider)
    other_provider = factory.account(Role.PROVIDER)
    admin = factory.account(Role.ADMIN)
    mine = {
        n["id"]
        for n in gql(app_client, LISTINGS, {"f": {"provider": provider.id}}, provider)["data"][
            "listings"
        ]["nodes"]
    }
    assert mine == {draft, live}
    for viewer in (None, factory.account(), other_provider):
        seen = {
            n["id"]
            for n in gql(app_client, LISTINGS, {"f": {"provider": provider.id}}, viewer)["data"][
                "listings"
            ]["nodes"]
        }
        assert seen == {live}
        assert gql(app_client, GET_LISTING, {"id": draft}, viewer)["data"]["listing"] is None
    assert (
        gql(app_client, GET_LISTING, {"id": draft}, admin)["data"]["listing"]["status"] == "DRAFT"
    )


def test_listing_filters(app_client: TestClient, factory: Factory, engine: Engine) -> None:
    provider, listing_id, _ = make_listing(
        app_client, factory, engine, category="zz-databases", title="Zebra DB 9"
    )
    for flt in (
        {"category": "zz-databases"},
        {"textContains": "zebra db"},
        {"kind": "MARKET", "provider": provider.id},
        {"region": "bj", "provider": provider.id},
        {"status": "PUBLISHED", "provider": provider.id},
    ):
        found = gql(app_client, LISTINGS, {"f": flt})["data"]["listings"]["nodes"]
        assert found == [{"id": listing_id}], flt
    assert (
        gql(app_client, LISTINGS, {"f": {"region": "hkg", "provider": provider.id}})["data"][
            "listings"
        ]["nodes"]
        == []
    )


def test_who_may_do_what(app_client: TestClient, factory: Factory, engine: Engine) -> None:
    provider, listing_id, _ = make_listing(app_client, factory, engine, publish=False)
    other = factory.account(Role.PROVIDER)
    customer = factory.account()
    assert (
        act(app_client, "submitListing", listing_id, other)["userErrors"][0]["code"]
        == "LISTING_NOT_FOUND"
    )
    assert (
        act(app_client, "submitListing", listing_id, customer)["userErrors"][0]["code"]
        == "NOT_A_PROVIDER"
    )
    act(app_client, "submitListing", listing_id, provider)
    assert (
        act(app_client, "approveListing", listing_id, provider)["userErrors"][0]["code"]
        == "PERMISSION_DENIED"
    )
    assert (
        act(app_client, "delistListing", listing_id, provider)["userErrors"][0]["code"]
        == "LISTING_STATUS_FORBIDDEN"
    )
    assert (
        act(app_client, "submitListing", listing_id, provider)["userErrors"][0]["code"]
        == "LISTING_STATUS_FORBIDDEN"
    )
    admin = factory.account(Role.ADMIN)
    act(app_client, "approveListing", listing_id, admin)
    assert act(app_client, "delistListing", listing_id, admin)["listing"]["status"] == "DELISTED"


def test_listing_images_must_be_the_providers_own_one_per_region(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    provider = factory.account(Role.PROVIDER)
    a, b = custom_image(engine, provider.id), custom_image(engine, provider.id)
    stranger = custom_image(engine, factory.account().id, region="gz")
    body = gql(
        app_client,
        CREATE_LISTING,
        {"i": listing_input(a, imageIds=[a, b, stranger, factory.public_image()])},
        provider,
    )
    errors = [(e["code"], e["field"]) for e in body["data"]["createListing"]["userErrors"]]
    assert errors == [
        ("INVALID_INPUT", ["input", "imageIds", "1"]),
        ("IMAGE_NOT_FOUND", ["input", "imageIds", "2"]),
        ("IMAGE_NOT_CUSTOM", ["input", "imageIds", "3"]),
    ]


def test_hourly_integration_software_is_settled_and_shared_with_the_provider(
    app_client: TestClient, factory: Factory, engine: Engine, run_operations: Callable[[], int]
) -> None:
    provider, _, image_id = make_listing(
        app_client,
        factory,
        engine,
        kind="INTEGRATION",
        plans=[{"timing": "POSTPAID", "price": "0.05"}],
    )
    assert image_id is not None
    customer = factory.account(balance="1000")
    body = gql(app_client, CREATE, {"i": launch(image_id, count=3)}, customer)["data"][
        "createInstances"
    ]
    assert body["userErrors"] == []
    charges = body["instances"][0]["charges"]
    assert [c["kind"] for c in charges] == ["COMPUTE", "SOFTWARE"]
    run_operations()
    before = balance(app_client, provider)
    with read_session(engine) as session:
        start = session.get(Instance, body["instances"][0]["id"]).accrued_until  # type: ignore[union-attr]
    assert start is not None
    with write_session(engine) as session:
        settle(session=session, until=start + timedelta(hours=2), account_id=customer.id)
    # 3 instances x 2 hours x 0.05 = 0.30 of software; the provider earns 80%
    assert balance(app_client, provider) - before == Decimal("0.24")
    sale = gql(app_client, PROVIDER, tenant=provider)["data"]["viewer"]["provider"]["sales"][
        "nodes"
    ][0]
    assert (sale["instanceCount"], sale["amount"], sale["revenue"]) == (
        3,
        {"amount": "0.30"},
        {"amount": "0.24"},
    )
    assert sale["plan"] == {"timing": "POSTPAID", "months": None, "price": {"amount": "0.05"}}
    # R171: an hourly sale names the buyer's instances it covered, and no order
    assert (sale["buyerId"], sale["orderId"], sale["orderLine"]) == (customer.id, None, None)
    assert sale["instanceIds"] == sorted(i["id"] for i in body["instances"])


def _buy_a_month(client: TestClient, customer: Tenant, image_id: str) -> dict[str, Any]:
    """The customer launches one instance of the image, prepaid for a month."""
    request = launch(image_id, billing={"timing": "PREPAID", "months": 1})
    return gql(client, CREATE, {"i": request}, customer)


def test_a_refund_reverses_the_providers_revenue_in_proportion(
    app_client: TestClient, factory: Factory, engine: Engine, run_operations: Callable[[], int]
) -> None:
    provider, _, image_id = make_listing(app_client, factory, engine)
    assert image_id is not None
    customer = factory.account(balance="2000")
    body = _buy_a_month(app_client, customer, image_id)
    [created] = body["data"]["createInstances"]["instances"]
    instance_id = created["id"]
    [software] = [
        Decimal(line["amount"]["amount"])
        for line in body["data"]["createInstances"]["order"]["lines"]
        if line["kind"] == "SOFTWARE"
    ]
    run_operations()
    earned = balance(app_client, provider)
    released = gql(
        app_client,
        "mutation($id: ID!) { releaseInstance(input: {instanceId: $id}) { refund { amount } } }",
        {"id": instance_id},
        customer,
    )["data"]["releaseInstance"]
    assert Decimal(released["refund"]["amount"]) > 0
    ledger = gql(app_client, VIEWER, tenant=provider)["data"]["viewer"]["transactions"]["nodes"]
    reversal = Decimal(ledger[0]["amount"]["amount"])
    assert ledger[0]["kind"] == "PROVIDER_REVERSAL"
    # R126: the SOFTWARE line is refunded on its own (one day used of a term as long as this
    # month, so the figure differs by a fen between 30- and 31-day terms), and the provider's
    # 240.00 is reversed in that line's proportion; each rounded once, half up.
    term = datetime.fromisoformat(created["expiresAt"]) - datetime.fromisoformat(
        created["createdAt"]
    )
    term_days = math.ceil(term / timedelta(days=1))
    line_refund = (software - software / term_days * Decimal("1.5")).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    expected = (Decimal("240.00") * line_refund / software).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    assert reversal == -expected
    assert balance(app_client, provider) == earned + reversal


def test_rebuild_onto_a_market_image(
    app_client: TestClient, factory: Factory, engine: Engine, run_operations: Callable[[], int]
) -> None:
    provider, _, image_id = make_listing(app_client, factory, engine)
    assert image_id is not None
    customer = factory.account(balance="3000")
    postpaid = gql(app_client, CREATE, {"i": launch(factory.public_image())}, customer)["data"][
        "createInstances"
    ]["instances"][0]["id"]
    prepaid = gql(
        app_client,
        CREATE,
        {"i": launch(factory.public_image(), billing={"timing": "PREPAID", "months": 1})},
        customer,
    )["data"]["createInstances"]["instances"][0]["id"]
    run_operations()
    refused = gql(
        app_client, REBUILD, {"i": {"instanceId": postpaid, "imageId": image_id}}, customer
    )
    assert [e["code"] for e in refused["data"]["rebuildInstance"]["userErrors"]] == [
        "MARKET_IMAGE_POSTPAID_UNSUPPORTED"
    ]
    before = balance(app_client, provider)
    rebuilt = gql(
        app_client, REBUILD, {"i": {"instanceId": prepaid, "imageId": image_id}}, customer
    )["data"]["rebuildInstance"]
    assert rebuilt["userErrors"] == []
    [line] = rebuilt["order"]["lines"]
    assert (line["kind"], line["unit"]) == ("SOFTWARE", "DAY")
    earned = balance(app_client, provider) - before
    assert earned == (Decimal(line["amount"]["amount"]) * Decimal("0.8")).quantize(Decimal("0.01"))


def test_a_provider_whose_revenue_is_reversed_into_debt_is_in_arrears(
    app_client: TestClient, factory: Factory, engine: Engine, run_operations: Callable[[], int]
) -> None:
    """Issue 24 (R165): a refund reversal left a provider at -651.59 with inArrears false.
    Whatever takes a balance below zero puts the account in arrears, with the same
    consequences: its running postpaid instances stop.
    """
    provider, _, image_id = make_listing(app_client, factory, engine)
    assert image_id is not None
    customer = factory.account(balance="2000")
    sold = _buy_a_month(app_client, customer, image_id)["data"]["createInstances"]
    run_operations()
    # the provider runs a postpaid instance, then spends what is left on prepaid ones
    own = gql(app_client, CREATE, {"i": launch(factory.public_image())}, provider)["data"]
    postpaid_id = own["createInstances"]["instances"][0]["id"]
    prepaid = launch(factory.public_image(), billing={"timing": "PREPAID", "months": 1})
    one = Decimal(
        gql(app_client, QUOTE, {"i": prepaid}, provider)["data"]["priceQuote"]["total"]["amount"]
    )
    count = int(balance(app_client, provider) // one)
    spent = gql(app_client, CREATE, {"i": {**prepaid, "count": count}}, provider)["data"]
    assert spent["createInstances"]["userErrors"] == []
    run_operations()
    left = balance(app_client, provider)
    assert 0 <= left < one
    released = gql(app_client, RELEASE, {"id": sold["instances"][0]["id"]}, customer)["data"][
        "releaseInstance"
    ]
    assert released["userErrors"] == []
    account = gql(
        app_client, "{ viewer { balance { amount } inArrears arrearsSince } }", tenant=provider
    )["data"]["viewer"]
    assert Decimal(account["balance"]["amount"]) < 0, account
    assert account["inArrears"] is True and account["arrearsSince"] is not None
    status = "query($id: ID!) { instance(id: $id) { status statusReason } }"
    assert gql(app_client, status, {"id": postpaid_id}, provider)["data"]["instance"] == {
        "status": "STOPPED",
        "statusReason": "ARREARS",
    }
