"""Instances over the API in process: quotes, creation, payment, lifecycle (R50-R53, R62, R73-R75)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.platform.viewer import Role
from tests.factories import Factory, gql
from tests.fixtures import CREATE, QUOTE, RELEASE, VIEWER, balance, launch


def test_quote_is_anonymous_and_shows_the_windows_licence_only_for_windows(
    app_client: TestClient, factory: Factory
) -> None:
    linux = factory.public_image(os_type="LINUX")
    windows = factory.public_image(os_type="WINDOWS")
    lin = gql(app_client, QUOTE, {"i": launch(linux, count=3)})["data"]["priceQuote"]
    win = gql(app_client, QUOTE, {"i": launch(windows, count=3)})["data"]["priceQuote"]
    assert [line["kind"] for line in lin["lines"]] == ["COMPUTE"]
    assert [line["kind"] for line in win["lines"]] == ["COMPUTE", "WINDOWS_LICENSE"]
    licence = win["lines"][1]
    assert licence["quantity"] == "6"
    assert licence["unit"] == "HOUR"
    assert Decimal(win["total"]["amount"]) > Decimal(lin["total"]["amount"])


def test_quote_reports_every_failed_check(app_client: TestClient, factory: Factory) -> None:
    windows = factory.public_image(os_type="WINDOWS", region="gz")
    bad = launch(
        windows,
        count=0,
        systemDisk={"storageType": "CDS_SSD", "sizeGb": 30},
        billing={"timing": "PREPAID", "months": 10},
    )
    quote = gql(app_client, QUOTE, {"i": bad})["data"]["priceQuote"]
    assert quote["lines"] == []
    assert quote["total"]["amount"] == "0.00"
    assert {(e["code"], tuple(e["field"])) for e in quote["userErrors"]} == {
        ("INVALID_INPUT", ("input", "count")),
        ("INVALID_TERM", ("input", "billing", "months")),
        ("IMAGE_REGION_MISMATCH", ("input", "imageId")),
        ("SYSTEM_DISK_TOO_SMALL", ("input", "systemDisk", "sizeGb")),
    }


def test_prepaid_order_charges_exactly_the_quote(
    app_client: TestClient, factory: Factory, run_operations: Callable[[], int]
) -> None:
    tenant = factory.account(balance="10000")
    image = factory.public_image(os_type="WINDOWS")
    request = launch(
        image,
        count=2,
        systemDisk={"storageType": "CDS_PREMIUM", "sizeGb": 100},
        billing={"timing": "PREPAID", "months": 12},
        name="web",
    )
    quote = gql(app_client, QUOTE, {"i": request}, tenant)["data"]["priceQuote"]
    created = gql(app_client, CREATE, {"i": request}, tenant)["data"]["createInstances"]
    assert created["userErrors"] == []
    assert created["order"]["lines"] == quote["lines"]
    assert created["order"]["total"] == {"amount": quote["total"]["amount"]}
    assert balance(app_client, tenant) == Decimal("10000") - Decimal(quote["total"]["amount"])
    ids = [i["id"] for i in created["instances"]]
    assert [i["name"] for i in created["instances"]] == ["web-1", "web-2"]
    assert {i["status"] for i in created["instances"]} == {"STARTING"}
    assert {i["id"] for i in created["order"]["instances"]} == set(ids)
    assert [t["id"] for t in created["operation"]["targets"]] == ids
    assert created["instances"][0]["expiresAt"] is not None
    run_operations()
    query = (
        "query($id: ID!) { operation(id: $id) { status progress } instance(id: $id2) { status } }"
    )
    state = gql(
        app_client,
        query.replace("$id2", '"' + ids[0] + '"'),
        {"id": created["operation"]["id"]},
        tenant,
    )["data"]
    assert state == {
        "operation": {"status": "SUCCEEDED", "progress": 100},
        "instance": {"status": "RUNNING"},
    }
    ledger = gql(app_client, VIEWER, tenant=tenant)["data"]["viewer"]["transactions"]["nodes"]
    assert ledger[0] == {
        "kind": "ORDER",
        "amount": {"amount": "-" + quote["total"]["amount"]},
        "reference": created["order"]["id"],
    }


def test_retry_with_the_same_client_token_charges_once(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="1000")
    request = launch(
        factory.public_image(), billing={"timing": "PREPAID", "months": 1}, clientToken="abc-1"
    )
    first = gql(app_client, CREATE, {"i": request}, tenant)["data"]["createInstances"]
    after_first = balance(app_client, tenant)
    second = gql(app_client, CREATE, {"i": request}, tenant)["data"]["createInstances"]
    assert second["userErrors"] == []
    assert [i["id"] for i in second["instances"]] == [i["id"] for i in first["instances"]]
    assert second["order"]["id"] == first["order"]["id"]
    assert second["operation"]["id"] == first["operation"]["id"]
    assert balance(app_client, tenant) == after_first
    conflicting = dict(request, count=2)
    third = gql(app_client, CREATE, {"i": conflicting}, tenant)["data"]["createInstances"]
    assert third["userErrors"] == [
        {
            "code": "IDEMPOTENCY_CONFLICT",
            "field": ["input", "clientToken"],
            "message": "clientToken 'abc-1' was already used for a different createInstances request.",
        }
    ]
    assert balance(app_client, tenant) == after_first


def test_the_same_token_of_another_account_is_independent(
    app_client: TestClient, factory: Factory
) -> None:
    a, b = factory.account(balance="1000"), factory.account(balance="1000")
    request = launch(
        factory.public_image(), billing={"timing": "PREPAID", "months": 1}, clientToken="same"
    )
    ids_a = gql(app_client, CREATE, {"i": request}, a)["data"]["createInstances"]["instances"]
    ids_b = gql(app_client, CREATE, {"i": request}, b)["data"]["createInstances"]["instances"]
    assert ids_a[0]["id"] != ids_b[0]["id"]


def test_insufficient_balance_creates_and_charges_nothing(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="100")
    request = launch(factory.public_image(), count=5, billing={"timing": "PREPAID", "months": 12})
    body = gql(app_client, CREATE, {"i": request}, tenant)["data"]["createInstances"]
    assert body["instances"] == []
    assert body["order"] is None
    assert body["userErrors"][0]["code"] == "INSUFFICIENT_BALANCE"
    assert body["userErrors"][0]["message"].startswith("This order costs ")
    assert balance(app_client, tenant) == Decimal("100.00")
    listed = gql(app_client, "{ instances(first: 5) { totalCount } }", tenant=tenant)
    assert listed["data"]["instances"]["totalCount"] == 0


def test_postpaid_needs_100_cny(app_client: TestClient, factory: Factory) -> None:
    tenant = factory.account(balance="99.99")
    body = gql(app_client, CREATE, {"i": launch(factory.public_image())}, tenant)
    assert body["data"]["createInstances"]["userErrors"] == [
        {
            "code": "INSUFFICIENT_BALANCE",
            "field": None,
            "message": "Postpaid instances need a balance of at least 100.00 CNY.",
        }
    ]


def test_postpaid_creates_no_order_and_charges_at_settlement(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="150")
    created = gql(app_client, CREATE, {"i": launch(factory.public_image())}, tenant)
    payload = created["data"]["createInstances"]
    assert payload["order"] is None
    assert len(payload["instances"]) == 1
    assert payload["instances"][0]["charges"] == [{"kind": "COMPUTE", "amount": {"amount": "0.42"}}]
    assert balance(app_client, tenant) == Decimal("150.00")


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"region": "xx"}, "REGION_NOT_FOUND", ["input", "region"]),
        ({"zone": "cn-gz-a"}, "ZONE_NOT_FOUND", ["input", "zone"]),
        ({"flavor": "bcc.nope"}, "FLAVOR_NOT_FOUND", ["input", "flavor"]),
        ({"flavor": "ebc.g5.c48m192"}, "GENERATION_MISMATCH", ["input", "imageId"]),
        ({"imageId": "m-00000000"}, "IMAGE_NOT_FOUND", ["input", "imageId"]),
        ({"name": "9lives"}, "INVALID_NAME", ["input", "name"]),
        ({"clientToken": "é" * 3}, "INVALID_INPUT", ["input", "clientToken"]),
    ],
)
def test_create_refusals(
    app_client: TestClient, factory: Factory, overrides: dict[str, Any], code: str, field: list[str]
) -> None:
    tenant = factory.account(balance="1000")
    body = gql(app_client, CREATE, {"i": launch(factory.public_image(), **overrides)}, tenant)
    errors = body["data"]["createInstances"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)]
    assert balance(app_client, tenant) == Decimal("1000.00")


def test_release_of_prepaid_refunds_per_formula(app_client: TestClient, factory: Factory) -> None:
    tenant = factory.account(balance="1000")
    request = launch(factory.public_image(), billing={"timing": "PREPAID", "months": 1})
    created = gql(app_client, CREATE, {"i": request}, tenant)["data"]["createInstances"]
    paid = Decimal(created["order"]["total"]["amount"])
    instance_id = created["instances"][0]["id"]
    # STARTING instances cannot be released; the operation must finish first
    release = """mutation($id: ID!) { releaseInstance(input: {instanceId: $id}) {
        instance { status } refund { amount } userErrors { code message } } }"""
    early = gql(app_client, release, {"id": instance_id}, tenant)["data"]["releaseInstance"]
    assert early["userErrors"][0]["code"] == "INSTANCE_STATUS_FORBIDDEN"
    app_client.app.state.worker.tick()  # type: ignore[attr-defined]
    done = gql(app_client, release, {"id": instance_id}, tenant)["data"]["releaseInstance"]
    refund = Decimal(done["refund"]["amount"])
    assert done["instance"] == {"status": "RELEASED"}
    created_at = datetime.fromisoformat(created["instances"][0]["createdAt"])
    expires_at = datetime.fromisoformat(created["instances"][0]["expiresAt"])
    term_days = (expires_at - created_at).days
    # used 1 day (rounded up) of a one-month term: paid - 1 x paid/termDays x 1.5, to the fen
    expected = (paid - paid / term_days * Decimal("1.5")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert refund == expected
    assert balance(app_client, tenant) == Decimal("1000") - paid + refund
    again = gql(app_client, release, {"id": instance_id}, tenant)["data"]["releaseInstance"]
    assert again["userErrors"][0]["code"] == "INSTANCE_STATUS_FORBIDDEN"


def test_start_and_stop(
    app_client: TestClient, factory: Factory, run_operations: Callable[[], int]
) -> None:
    tenant = factory.account(balance="500")
    created = gql(app_client, CREATE, {"i": launch(factory.public_image())}, tenant)
    instance_id = created["data"]["createInstances"]["instances"][0]["id"]
    run_operations()
    stop = """mutation($id: ID!) { stopInstance(input: {instanceId: $id}) { instance { status } userErrors { code } } }"""
    start = """mutation($id: ID!) { startInstance(input: {instanceId: $id}) { instance { status } userErrors { code } } }"""
    assert gql(app_client, stop, {"id": instance_id}, tenant)["data"]["stopInstance"][
        "instance"
    ] == {"status": "STOPPED"}
    assert gql(app_client, stop, {"id": instance_id}, tenant)["data"]["stopInstance"][
        "userErrors"
    ] == [{"code": "INSTANCE_STATUS_FORBIDDEN"}]
    assert gql(app_client, start, {"id": instance_id}, tenant)["data"]["startInstance"][
        "instance"
    ] == {"status": "RUNNING"}


def test_other_tenants_instances_are_invisible_and_untouchable(
    app_client: TestClient, factory: Factory
) -> None:
    owner, other = factory.account(balance="500"), factory.account(balance="500")
    created = gql(app_client, CREATE, {"i": launch(factory.public_image())}, owner)["data"][
        "createInstances"
    ]
    instance_id, op_id = created["instances"][0]["id"], created["operation"]["id"]
    peek = "query($i: ID!, $o: ID!) { instance(id: $i) { id } node(id: $i) { id } operation(id: $o) { id } }"
    assert gql(app_client, peek, {"i": instance_id, "o": op_id}, other)["data"] == {
        "instance": None,
        "node": None,
        "operation": None,
    }
    for name in ("stopInstance", "startInstance", "releaseInstance"):
        body = gql(
            app_client,
            f'mutation {{ {name}(input: {{instanceId: "{instance_id}"}}) {{ userErrors {{ code message }} }} }}',
            tenant=other,
        )
        assert body["data"][name]["userErrors"] == [
            {"code": "INSTANCE_NOT_FOUND", "message": f"There is no instance '{instance_id}'."}
        ]
    admin = factory.account(Role.ADMIN)
    assert gql(app_client, peek, {"i": instance_id, "o": op_id}, admin)["data"]["instance"] == {
        "id": instance_id
    }


def test_anonymous_cannot_list_instances(app_client: TestClient) -> None:
    body = gql(app_client, "{ instances { totalCount } }", expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_instances_filter_by_status_and_image(
    app_client: TestClient, factory: Factory, run_operations: Callable[[], int]
) -> None:
    tenant = factory.account(balance="500")
    linux, windows = factory.public_image(), factory.public_image(os_type="WINDOWS")
    a = gql(app_client, CREATE, {"i": launch(linux)}, tenant)["data"]["createInstances"][
        "instances"
    ][0]["id"]
    b = gql(app_client, CREATE, {"i": launch(windows)}, tenant)["data"]["createInstances"][
        "instances"
    ][0]["id"]
    query = "query($f: InstanceFilter) { instances(filter: $f, first: 10) { nodes { id } } }"
    by_image = gql(app_client, query, {"f": {"image": windows}}, tenant)["data"]["instances"][
        "nodes"
    ]
    assert by_image == [{"id": b}]
    starting = gql(app_client, query, {"f": {"status": "STARTING"}}, tenant)["data"]["instances"][
        "nodes"
    ]
    assert {n["id"] for n in starting} == {a, b}
    run_operations()
    running = gql(app_client, query, {"f": {"status": "RUNNING", "region": "bj"}}, tenant)
    assert {n["id"] for n in running["data"]["instances"]["nodes"]} == {a, b}


def test_the_system_disk_defaults_to_the_cheapest_cds_type_at_the_smallest_size(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="1000")
    query = """query($os: OsType!) { images(first: 1, filter: {region: "bj", osType: $os,
      generation: BCC, types: [PUBLIC], flavor: "bcc.g5.c2m8"}) { nodes { id minDiskGb } } }"""
    for os_type, floor in (("LINUX", 10), ("WINDOWS", 40)):
        image = gql(app_client, query, {"os": os_type})["data"]["images"]["nodes"][0]
        request = launch(image["id"])
        del request["systemDisk"]
        quote = gql(app_client, QUOTE, {"i": request})["data"]["priceQuote"]
        assert quote["userErrors"] == []
        created = gql(app_client, CREATE, {"i": request}, tenant)["data"]["createInstances"]
        assert created["userErrors"] == []
        instance = gql(
            app_client,
            "query($id: ID!) { instance(id: $id) { systemDisk { storageType sizeGb } } }",
            {"id": created["instances"][0]["id"]},
            tenant,
        )["data"]["instance"]
        # CDS_PREMIUM is the cheaper CDS type per GB in the seeded price book
        assert instance["systemDisk"] == {
            "storageType": "CDS_PREMIUM",
            "sizeGb": max(image["minDiskGb"], floor),
        }


def test_a_released_instance_in_a_rebuild_batch_is_refused_once_for_its_state(
    app_client: TestClient, factory: Factory
) -> None:
    """Issue 24: it got two contradictory errors, 'There is no instance' and 'is RELEASED'."""
    tenant = factory.account(balance="500")
    image = factory.public_image()
    created = gql(app_client, CREATE, {"i": launch(image, count=2)}, tenant)["data"]
    ids = [i["id"] for i in created["createInstances"]["instances"]]
    app_client.app.state.worker.tick()  # type: ignore[attr-defined]
    released = gql(app_client, RELEASE, {"id": ids[1]}, tenant)["data"]["releaseInstance"]
    assert released["userErrors"] == []
    rebuild = """mutation($i: RebuildInstancesInput!) { rebuildInstances(input: $i) {
      userErrors { code field message } } }"""
    body = gql(app_client, rebuild, {"i": {"instanceIds": ids, "image": {"id": image}}}, tenant)
    assert body["data"]["rebuildInstances"]["userErrors"] == [
        {
            "code": "INSTANCE_STATUS_FORBIDDEN",
            "field": ["input", "instanceIds", "1"],
            "message": f"Instance {ids[1]} is RELEASED; it cannot be rebuilt now.",
        }
    ]
