"""Which changes write webhook deliveries, and to whom (issue 26; R176, R199): each event is in
the outbox of exactly the accounts that hear of it, written with the change, with what they
may read. The endpoints point at a documentation address, so nothing is sent; the deliveries
are read back with ``webhookDeliveries``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.database import read_session, write_session
from app.instances.models import Instance
from app.platform.viewer import Role
from app.workflows.settlement import settle
from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import ACTION, CREATE, CREATE_LISTING, RELEASE, SHARE, launch, listing_input

ALL = [
    "LISTING_APPROVED",
    "LISTING_REJECTED",
    "LISTING_DELISTED",
    "SALE_CREATED",
    "SALE_REFUNDED",
    "IMAGE_SHARED_WITH_ME",
    "SHARE_INVITATION",
    "OPERATION_FINISHED",
    "INSTANCE_RELEASED",
    "ACCOUNT_IN_ARREARS",
]
HOOK = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  endpoint { id } userErrors { code } } }"""
DELIVERIES = """{ webhookDeliveries(first: 100) { nodes { eventType body } } }"""
ACCEPTANCE = """mutation { setShareAcceptance(input: {mode: MANUAL}) {
  userErrors { code } } }"""


def _hooked(client: TestClient, tenant: Tenant) -> None:
    request = {"url": "https://203.0.113.10/hooks", "events": ALL}
    made = gql(client, HOOK, {"i": request}, tenant)["data"]["createWebhookEndpoint"]
    assert made["userErrors"] == []


def _heard(client: TestClient, tenant: Tenant) -> list[tuple[str, dict[str, Any]]]:
    nodes = gql(client, DELIVERIES, {}, tenant)["data"]["webhookDeliveries"]["nodes"]
    return sorted((n["eventType"], json.loads(n["body"])["data"]) for n in reversed(nodes))


def _tick(client: TestClient) -> None:
    client.app.state.worker.tick()  # type: ignore[attr-defined]


def test_an_instances_owner_hears_of_its_operation_its_release_and_its_arrears(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, other = factory.account(balance="100"), factory.account(balance="100")
    _hooked(app_client, owner)
    _hooked(app_client, other)
    created = gql(app_client, CREATE, {"i": launch(factory.public_image())}, owner)["data"]
    instance_id = created["createInstances"]["instances"][0]["id"]
    _tick(app_client)
    with read_session(engine) as session:
        row = session.get(Instance, instance_id)
        assert row is not None and row.accrued_until is not None
        start = row.accrued_until
    with write_session(engine) as session:  # 300 hours at 0.42 CNY: past the 100 CNY
        settle(session=session, until=start + timedelta(hours=300), account_id=owner.id)
    released = gql(app_client, RELEASE, {"id": instance_id}, owner)["data"]["releaseInstance"]
    assert released["userErrors"] == []
    heard = _heard(app_client, owner)
    assert [kind for kind, _ in heard] == [
        "ACCOUNT_IN_ARREARS",
        "INSTANCE_RELEASED",
        "OPERATION_FINISHED",
    ]
    arrears, release, finished = (data for _, data in heard)
    assert arrears["account"]["id"] == owner.id
    assert arrears["account"]["balance"]["amount"].startswith("-")
    assert release["instance"]["id"] == instance_id
    assert release["instance"]["releaseReason"] == "OWNER"
    assert finished["operation"]["kind"] == "CREATE_INSTANCES"
    assert finished["operation"]["status"] == "SUCCEEDED"
    assert finished["operation"]["targetIds"] == [instance_id]
    assert _heard(app_client, other) == []


def test_recipients_hear_of_a_share_and_of_an_invitation(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, taker, asker = factory.account(), factory.account(), factory.account()
    for tenant in (owner, taker, asker):
        _hooked(app_client, tenant)
    gql(app_client, ACCEPTANCE, {}, asker)
    image = custom_image(engine, owner.id)
    shared = gql(
        app_client, SHARE, {"i": {"imageId": image, "accountIds": [taker.id, asker.id]}}, owner
    )
    assert shared["data"]["shareImage"]["userErrors"] == []
    [(kind, data)] = _heard(app_client, taker)
    assert kind == "IMAGE_SHARED_WITH_ME"
    assert data["image"]["id"] == image and data["image"]["ownerAccountId"] == owner.id
    assert data["status"] == "ACCEPTED"
    [(kind, data)] = _heard(app_client, asker)
    assert (kind, data["status"]) == ("SHARE_INVITATION", "PENDING")
    assert _heard(app_client, owner) == []


def test_a_provider_hears_of_a_rejection_a_delisting_and_a_refund(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    provider = factory.account(Role.PROVIDER)
    admin = factory.account(Role.ADMIN)
    buyer = factory.account(balance="5000")
    _hooked(app_client, provider)

    def act(name: str, listing_id: str, tenant: Tenant, reason: str | None = None) -> Any:
        document = ACTION.format(name=name)
        body = gql(app_client, document, {"id": listing_id, "reason": reason}, tenant)
        payload: dict[str, Any] = body["data"][name]
        assert payload["userErrors"] == [], payload
        return payload

    def listing() -> str:
        source = custom_image(engine, provider.id)
        made = gql(app_client, CREATE_LISTING, {"i": listing_input(source)}, provider)["data"]
        listing_id: str = made["createListing"]["listing"]["id"]
        act("submitListing", listing_id, provider)
        return listing_id

    act("rejectListing", listing(), admin, "The summary names no version.")
    listing_id = listing()
    [market] = act("approveListing", listing_id, admin)["listing"]["images"]
    bought = gql(
        app_client,
        CREATE,
        {"i": launch(market["id"], billing={"timing": "PREPAID", "months": 1})},
        buyer,
    )["data"]["createInstances"]
    assert bought["userErrors"] == []
    instance_id = bought["instances"][0]["id"]
    _tick(app_client)
    gql(app_client, RELEASE, {"id": instance_id}, buyer)
    act("delistListing", listing_id, provider, "End of life.")
    heard = dict(_heard(app_client, provider))
    assert sorted(heard) == [
        "LISTING_APPROVED",
        "LISTING_DELISTED",
        "LISTING_REJECTED",
        "SALE_CREATED",
        "SALE_REFUNDED",
    ]
    assert heard["LISTING_REJECTED"]["listing"]["reviewNote"] == "The summary names no version."
    assert heard["LISTING_DELISTED"]["listing"]["status"] == "DELISTED"
    refund = heard["SALE_REFUNDED"]["refund"]
    assert (refund["listingId"], refund["instanceId"], refund["buyerAccountId"]) == (
        listing_id,
        instance_id,
        buyer.id,
    )
    assert refund["orderId"] == bought["order"]["id"]
    # released on the day it was bought: most of the 300.00 comes back, and 80 % of that
    # is taken back from the provider
    assert float(refund["providerReversal"]["amount"]) > 0
    assert heard["SALE_CREATED"]["sale"]["buyerAccountId"] == buyer.id


TEST = """mutation($id: ID!) { sendTestWebhook(input: {endpointId: $id}) {
  delivery { id } userErrors { code message } } }"""
REDELIVER = """mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) {
  delivery { id status } userErrors { code message } } }"""


def test_tests_and_redeliveries_are_limited_to_ten_a_minute_per_account(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account()
    request = {"url": "https://203.0.113.10/hooks", "events": ["SALE_CREATED"]}
    made = gql(app_client, HOOK, {"i": request}, tenant)["data"]["createWebhookEndpoint"]
    endpoint_id = made["endpoint"]["id"]
    sent = [
        gql(app_client, TEST, {"id": endpoint_id}, tenant)["data"]["sendTestWebhook"]
        for _ in range(10)
    ]
    assert all(s["userErrors"] == [] for s in sent)
    refused = gql(app_client, REDELIVER, {"id": sent[0]["delivery"]["id"]}, tenant)["data"][
        "redeliverWebhook"
    ]
    assert [e["code"] for e in refused["userErrors"]] == ["WEBHOOK_RATE_LIMITED"]
    assert refused["delivery"] is None
    other = factory.account()  # the limit is per account
    made = gql(app_client, HOOK, {"i": request}, other)["data"]["createWebhookEndpoint"]
    mine = gql(app_client, TEST, {"id": made["endpoint"]["id"]}, other)["data"]
    assert mine["sendTestWebhook"]["userErrors"] == []
