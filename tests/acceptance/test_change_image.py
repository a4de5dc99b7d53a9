"""Change image over real HTTP: batches, and charges and provider revenue that follow the
listing that earned them (R54, R72, R74, R100-R103, R126, R127)."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.acceptance.conftest import Server, act, balance, create, image, provider_image
from tests.factories import Tenant
from tests.fixtures import CREATE_LISTING, launch, listing_input

FEN = Decimal("0.01")
REBUILD = """mutation($i: RebuildInstanceInput!) { rebuildInstance(input: $i) {
  instance { id status statusReason charges { kind amount { amount } } }
  order { id kind total { amount } lines { kind unit quantity unitPrice { amount } amount { amount } } }
  operation { id } userErrors { code field message } } }"""
REBUILD_MANY = """mutation($i: RebuildInstancesInput!) { rebuildInstances(input: $i) {
  instances { id status } order { id total { amount } lines { kind amount { amount } } }
  operations { id } userErrors { code field message } } }"""
QUOTE = """query($i: RebuildInstancesInput!) { rebuildQuote(input: $i) {
  lines { kind amount { amount } } total { amount } userErrors { code field } } }"""
INSTANCE = """query($id: ID!) { instance(id: $id) { status statusReason image { id }
  charges { kind amount { amount } } } }"""
RELEASE = """mutation($id: ID!) { releaseInstance(input: {instanceId: $id}) {
  refund { amount } userErrors { code message } } }"""
LEDGER = """query($after: String) { viewer { transactions(first: 100, after: $after) {
  nodes { kind amount { amount } reference } pageInfo { hasNextPage endCursor } } } }"""


def round_fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def market(server: Server, price: str, kind: str = "MARKET") -> tuple[Tenant, str]:
    """A published listing of a provider of its own, with one plan; returns the provider and
    the listing's image in bj."""
    provider = server.account("PROVIDER", balance="1000")
    plans = (
        [{"timing": "PREPAID", "months": 1, "price": price}]
        if kind == "MARKET"
        else [{"timing": "POSTPAID", "price": price}]
    )
    source = provider_image(server, provider)
    created = server.gql(
        CREATE_LISTING,
        {"i": listing_input(source, kind=kind, title=f"{kind} {price}", plans=plans)},
        provider,
    )["data"]["createListing"]
    assert created["userErrors"] == [], created["userErrors"]
    listing_id = created["listing"]["id"]
    act(server, "submitListing", listing_id, provider)
    approved = act(server, "approveListing", listing_id, server.admin)
    image_id: str = approved["listing"]["images"][0]["id"]
    return provider, image_id


def ledger(server: Server, tenant: Tenant) -> list[dict[str, Any]]:
    """Every ledger entry of the account, newest first (a month of hourly settlements is
    hundreds of entries: read page by page)."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = server.gql(LEDGER, {"after": after}, tenant)["data"]["viewer"]["transactions"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def earned(server: Server, provider: Tenant) -> Decimal:
    """What a provider was credited, less what was reversed."""
    return sum(
        (
            Decimal(t["amount"]["amount"])
            for t in ledger(server, provider)
            if t["kind"] in ("PROVIDER_REVENUE", "PROVIDER_REVERSAL")
        ),
        Decimal(0),
    )


def prepaid_on(server: Server, tenant: Tenant, image_id: str) -> str:
    body = create(server, tenant, launch(image_id, billing={"timing": "PREPAID", "months": 1}))
    assert body["userErrors"] == [], body["userErrors"]
    server.wait_operation(body["operation"]["id"], tenant)
    instance_id: str = body["instances"][0]["id"]
    return instance_id


def rebuild(server: Server, tenant: Tenant, instance_id: str, image_id: str) -> dict[str, Any]:
    """Rebuild one instance and, when accepted, wait for its operation."""
    payload: dict[str, Any] = server.gql(
        REBUILD, {"i": {"instanceId": instance_id, "imageId": image_id}}, tenant
    )["data"]["rebuildInstance"]
    if not payload["userErrors"]:
        server.wait_operation(payload["operation"]["id"], tenant)
    return payload


def test_a_rebuild_cannot_get_an_account_out_of_arrears(server: Server) -> None:
    # R101, R127: defect 1 — the rebuild used to clear ARREARS and leave the GPU instance running
    customer = server.account(balance="120")
    gpu = launch(image(server), flavor="bcc.gn5i.c8m32.1t4")
    body = create(server, customer, gpu)
    assert body["userErrors"] == []
    instance_id = body["instances"][0]["id"]
    server.wait_operation(body["operation"]["id"], customer)
    server.advance(30 * 3600)  # the hourly settlement takes the balance below zero
    stopped = server.gql(INSTANCE, {"id": instance_id}, customer)["data"]["instance"]
    assert (stopped["status"], stopped["statusReason"]) == ("STOPPED", "ARREARS")
    refused = rebuild(server, customer, instance_id, image(server))
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("ACCOUNT_IN_ARREARS", ["input", "instanceId"])
    ]
    server.advance(3 * 3600)
    after = server.gql(INSTANCE, {"id": instance_id}, customer)["data"]["instance"]
    assert (after["status"], after["statusReason"]) == ("STOPPED", "ARREARS")


def test_an_expired_prepaid_instance_cannot_be_rebuilt(server: Server) -> None:
    customer = server.account(balance="1000")
    instance_id = prepaid_on(server, customer, image(server))
    server.advance(32 * 86400)
    refused = rebuild(server, customer, instance_id, image(server))
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("INSTANCE_STATUS_FORBIDDEN", ["input", "instanceId"])
    ]


def test_listing_a_to_listing_b_charges_b_and_credits_its_provider(server: Server) -> None:
    # R102: defect 2 — SOFTWARE to SOFTWARE used to count as no change
    provider_a, image_a = market(server, "199.00")
    provider_b, image_b = market(server, "500.00")
    customer = server.account(balance="5000")
    instance_id = prepaid_on(server, customer, image_a)
    earned_a = earned(server, provider_a)
    assert earned_a == Decimal("159.20")  # 80 % of 199.00
    server.advance(10 * 86400)
    quoted = server.gql(QUOTE, {"i": {"instanceIds": [instance_id], "imageId": image_b}}, customer)[
        "data"
    ]["rebuildQuote"]
    before = balance(server, customer)
    done = rebuild(server, customer, instance_id, image_b)
    assert done["userErrors"] == []
    order = done["order"]
    [line] = order["lines"]
    assert (line["kind"], line["unit"]) == ("SOFTWARE", "DAY")
    term, left = Decimal(line["quantity"]) + 10, Decimal(line["quantity"])
    per_day = (Decimal("500.00") / term).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    assert Decimal(line["unitPrice"]["amount"]) == per_day
    assert Decimal(line["amount"]["amount"]) == round_fen(left * per_day)
    assert order["total"] == quoted["total"] and quoted["userErrors"] == []  # quote = order
    assert before - balance(server, customer) == Decimal(order["total"]["amount"])
    assert earned(server, provider_b) == round_fen(
        Decimal(line["amount"]["amount"]) * Decimal("0.8")
    )
    assert earned(server, provider_a) == earned_a  # nothing of A is refunded or reversed
    assert [c["kind"] for c in done["instance"]["charges"] if c["kind"] == "SOFTWARE"] == [
        "SOFTWARE"
    ]


def days_up(start: str, end: str) -> int:
    """Whole days from one API time to another, rounded up."""
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return max(0, math.ceil(seconds / 86400))


def line_refund(amount: Decimal, start: str, end: str, released: str) -> Decimal:
    """R126, re-derived here: max(0, line - usedDays x line / termDays x 1.5), to the fen."""
    term = max(1, days_up(start, end))
    used = days_up(start, released)
    return max(Decimal("0.00"), round_fen(amount - used * amount / term * Decimal("1.5")))


def test_a_refund_reverses_only_what_each_listing_earned(server: Server) -> None:
    # R103, R126: defect 3 — the reversal used to read the instance's current listing, so
    # provider B was debited for revenue provider A had earned
    provider_a, image_a = market(server, "199.00")
    provider_b, image_b = market(server, "500.00")
    customer = server.account(balance="5000")
    body = create(server, customer, launch(image_a, billing={"timing": "PREPAID", "months": 1}))
    instance_id = body["instances"][0]["id"]
    compute = sum(
        (
            Decimal(line["amount"]["amount"])
            for line in body["order"]["lines"]
            if line["kind"] != "SOFTWARE"
        ),
        Decimal("0.00"),
    )
    server.wait_operation(body["operation"]["id"], customer)
    server.advance(5 * 86400)
    rebuilt = rebuild(server, customer, instance_id, image_b)["order"]
    b_line = Decimal(rebuilt["total"]["amount"])
    earned_a, earned_b = earned(server, provider_a), earned(server, provider_b)
    assert earned_b == round_fen(b_line * Decimal("0.8"))
    server.advance(86400)
    released = server.gql(RELEASE, {"id": instance_id}, customer)["data"]["releaseInstance"]
    assert released["userErrors"] == []
    times = server.gql(
        """query($id: ID!) { instance(id: $id) { createdAt expiresAt } viewer {
             transactions(first: 1) { nodes { kind createdAt } }
             orders(first: 1) { nodes { kind createdAt } } } }""",
        {"id": instance_id},
        customer,
    )["data"]
    created, expires = times["instance"]["createdAt"], times["instance"]["expiresAt"]
    [refund_entry] = times["viewer"]["transactions"]["nodes"]
    [rebuild_order] = times["viewer"]["orders"]["nodes"]
    assert (refund_entry["kind"], rebuild_order["kind"]) == ("REFUND", "REBUILD")
    at, rebuilt_at = refund_entry["createdAt"], rebuild_order["createdAt"]
    refund_b = line_refund(b_line, rebuilt_at, expires, at)
    # the compute line is refunded on its own; A's line, rebuilt away from, counts as used
    expected = line_refund(compute, created, expires, at) + refund_b
    assert Decimal(released["refund"]["amount"]) == expected
    assert earned(server, provider_a) == earned_a
    reversal_b = min(earned_b, round_fen(earned_b * refund_b / b_line))
    assert earned(server, provider_b) == earned_b - reversal_b
    assert reversal_b > 0


def test_rebuilding_away_from_a_listing_then_releasing_keeps_its_providers_credit(
    server: Server,
) -> None:
    provider_a, image_a = market(server, "199.00")
    customer = server.account(balance="5000")
    instance_id = prepaid_on(server, customer, image_a)
    earned_a = earned(server, provider_a)
    server.advance(2 * 86400)
    assert rebuild(server, customer, instance_id, image(server))["order"] is None  # adds nothing
    server.advance(86400)
    released = server.gql(RELEASE, {"id": instance_id}, customer)["data"]["releaseInstance"]
    assert Decimal(released["refund"]["amount"]) > 0  # compute is refunded ...
    assert earned(server, provider_a) == earned_a  # ... the software line, used up, is not


def test_a_postpaid_rebuild_credits_the_minutes_before_it(server: Server) -> None:
    # R102: defect 4 — the provider was never credited for the minutes before the rebuild
    provider, hourly = market(server, "5.00", kind="INTEGRATION")
    customer = server.account(balance="1000")
    body = create(server, customer, launch(hourly))
    assert body["userErrors"] == [], body["userErrors"]
    instance_id = body["instances"][0]["id"]
    server.wait_operation(body["operation"]["id"], customer)
    before = earned(server, provider)
    server.advance(3600)
    done = rebuild(server, customer, instance_id, image(server))
    assert done["userErrors"] == []
    credited = earned(server, provider) - before
    # at least the hour before the rebuild, at 80 % of 5.00 an hour (the operation's own
    # minutes may add a little)
    assert credited >= Decimal("4.00"), credited
    server.advance(3 * 3600)
    assert earned(server, provider) - before == credited  # nothing after the move away


def test_a_batch_of_100_instances_is_rebuilt_all_or_nothing(server: Server) -> None:
    customer = server.account(balance="2000")
    body = server.gql(
        """mutation($i: CreateInstancesInput!) { createInstances(input: $i) {
             instances { id } operation { id } userErrors { code } } }""",
        {"i": launch(image(server), count=100, flavor="bcc.c5.c2m4")},
        customer,
    )["data"]["createInstances"]
    assert body["userErrors"] == []
    server.wait_operation(body["operation"]["id"], customer)
    ids = [i["id"] for i in body["instances"]]
    windows = image(server, "WINDOWS")
    # one bad instance (a made-up id) refuses the whole batch, naming its index
    refused = server.gql(
        REBUILD_MANY,
        {"i": {"instanceIds": [*ids[:99], "i-00000000"], "imageId": image(server)}},
        customer,
    )["data"]["rebuildInstances"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("INSTANCE_NOT_FOUND", ["input", "instanceIds", "99"])
    ]
    # Windows needs a 40 GB disk: all 100 have one; the batch goes through
    done = server.gql(
        REBUILD_MANY,
        {"i": {"instanceIds": ids, "imageId": windows, "clientToken": "w-1"}},
        customer,
    )["data"]["rebuildInstances"]
    assert done["userErrors"] == []
    assert [i["id"] for i in done["instances"]] == ids
    assert {i["status"] for i in done["instances"]} == {"REBUILDING"}
    assert len({o["id"] for o in done["operations"]}) == 100
    assert done["order"] is None  # postpaid: the licence is charged by the hour from now
    again = server.gql(
        REBUILD_MANY,
        {"i": {"instanceIds": ids, "imageId": windows, "clientToken": "w-1"}},
        customer,
    )["data"]["rebuildInstances"]
    assert [o["id"] for o in again["operations"]] == [o["id"] for o in done["operations"]]
    for operation in done["operations"][:3]:
        assert server.wait_operation(operation["id"], customer)["status"] == "SUCCEEDED"
    server.advance(60)
    after = server.gql(INSTANCE, {"id": ids[0]}, customer)["data"]["instance"]
    assert after["status"] == "RUNNING" and after["image"]["id"] == windows
    assert "WINDOWS_LICENSE" in {c["kind"] for c in after["charges"]}


def test_a_duplicate_instance_is_invalid_at_its_index(server: Server) -> None:
    customer = server.account(balance="500")
    body = create(server, customer, launch(image(server)))
    instance_id = body["instances"][0]["id"]
    server.wait_operation(body["operation"]["id"], customer)
    refused = server.gql(
        REBUILD_MANY,
        {"i": {"instanceIds": [instance_id, instance_id], "imageId": image(server)}},
        customer,
    )["data"]["rebuildInstances"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("INVALID_INPUT", ["input", "instanceIds", "1"])
    ]
