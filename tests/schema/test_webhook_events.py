"""Which changes write webhook deliveries, and to whom (issue 26; R176, R199): each event is in
the outbox of exactly the accounts that hear of it, written with the change, with what they
may read. The endpoints point at a documentation address, so nothing is sent; the deliveries
are read back with ``webhookDeliveries``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.database import read_session, write_session
from app.images.lifecycle import DeprecationStages
from app.instances.models import Instance
from app.platform.viewer import Role
from app.workflows import announce
from app.workflows.settlement import settle
from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import (
    ACTION,
    CREATE,
    CREATE_LISTING,
    RELEASE,
    SHARE,
    UNSHARE,
    launch,
    listing_input,
)

ALL = [
    "LISTING_APPROVED",
    "LISTING_REJECTED",
    "LISTING_DELISTED",
    "SALE_CREATED",
    "SALE_REFUNDED",
    "IMAGE_SHARED_WITH_ME",
    "SHARE_INVITATION",
    "IMAGE_DEPRECATED",
    "IMAGE_DISABLED",
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


DEPRECATE = """mutation($i: DeprecateImageInput!) { deprecateImage(input: $i) {
  userErrors { code } } }"""
DISABLE = """mutation($id: ID!) { disableImage(input: {imageId: $id}) { userErrors { code } } }"""


def test_an_images_owner_and_users_hear_of_its_deprecation_and_its_disabling(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    """R199: IMAGE_DEPRECATED and IMAGE_DISABLED go to the owner, every account that took a
    share (not one merely invited) and every account with a live instance of the image;
    those who may no longer read a disabled image learn its id alone."""
    owner, taker, runner = factory.account(), factory.account(), factory.account(balance="100")
    asker, stranger = factory.account(), factory.account()
    for tenant in (owner, taker, runner, asker, stranger):
        _hooked(app_client, tenant)
    gql(app_client, ACCEPTANCE, {}, asker)
    image = custom_image(engine, owner.id, name="web-2025")
    everyone = {"imageId": image, "accountIds": [taker.id, runner.id, asker.id]}
    assert gql(app_client, SHARE, {"i": everyone}, owner)["data"]["shareImage"]["userErrors"] == []
    made = gql(app_client, CREATE, {"i": launch(image)}, runner)["data"]["createInstances"]
    assert made["userErrors"] == []
    gone = {"imageId": image, "accountIds": [runner.id]}  # runs it, no longer shared
    assert gql(app_client, UNSHARE, {"i": gone}, owner)["data"]["unshareImage"]["userErrors"] == []
    before = {t.id: _heard(app_client, t) for t in (owner, taker, runner, asker, stranger)}

    private = custom_image(engine, owner.id, name="web-2026")  # shared with nobody
    stages = {"imageId": image, "disableAt": "2099-01-01T00:00:00Z", "replacementImageId": private}
    assert gql(app_client, DEPRECATE, {"i": stages}, owner)["data"]["deprecateImage"] == {
        "userErrors": []
    }
    assert gql(app_client, DISABLE, {"id": image}, owner)["data"]["disableImage"] == {
        "userErrors": []
    }
    gql(app_client, DISABLE, {"id": image}, owner)  # already disabled: nothing new to tell

    def new(tenant: Tenant) -> dict[str, Any]:
        heard = [h for h in _heard(app_client, tenant) if h not in before[tenant.id]]
        assert len(heard) == len(dict(heard)), heard  # each event once
        return dict(heard)

    told = new(owner)
    assert sorted(told) == ["IMAGE_DEPRECATED", "IMAGE_DISABLED"]
    deprecated = told["IMAGE_DEPRECATED"]["image"]
    assert (deprecated["id"], deprecated["name"]) == (image, "web-2025")
    assert deprecated["deprecation"]["state"] == "DEPRECATED"
    assert deprecated["deprecation"]["disableAt"].startswith("2099-01-01T00:00:00")
    assert deprecated["deprecation"]["replacementImageId"] == private
    assert "note" in deprecated and told["IMAGE_DISABLED"]["image"]["id"] == image
    told = new(taker)  # sees the image, not its replacement
    assert sorted(told) == ["IMAGE_DEPRECATED", "IMAGE_DISABLED"]
    deprecated = told["IMAGE_DEPRECATED"]["image"]
    assert (deprecated["name"], deprecated["deprecation"]["state"]) == ("web-2025", "DEPRECATED")
    assert deprecated["deprecation"]["replacementImageId"] is None
    assert "note" not in deprecated  # the owner's own words
    assert told["IMAGE_DISABLED"] == {"image": {"id": image}}
    # runs it, but no longer sees it (its share was taken back): the id alone
    assert new(runner) == {
        "IMAGE_DEPRECATED": {"image": {"id": image}},
        "IMAGE_DISABLED": {"image": {"id": image}},
    }
    assert new(asker) == {} and new(stranger) == {}


def test_a_scheduled_disabling_is_heard_when_it_runs(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, runner = factory.account(), factory.account(balance="100")
    _hooked(app_client, owner)
    _hooked(app_client, runner)
    image = custom_image(engine, owner.id)
    assert gql(app_client, SHARE, {"i": {"imageId": image, "accountIds": [runner.id]}}, owner)
    assert gql(app_client, CREATE, {"i": launch(image)}, runner)["data"]["createInstances"]
    stages = {"imageId": image, "disableAt": "2099-01-01T00:00:00Z"}
    assert gql(app_client, DEPRECATE, {"i": stages}, owner)["data"]["deprecateImage"] == {
        "userErrors": []
    }
    job = DeprecationStages(recycle_bin_days=7, on_disabled=announce.image_disabled)

    def retired(tenant: Tenant) -> list[str]:
        return [k for k, _ in _heard(app_client, tenant) if k.startswith("IMAGE_D")]

    with write_session(engine) as session:
        job(session, datetime(2098, 12, 31, tzinfo=UTC))  # not due yet
    assert retired(runner) == ["IMAGE_DEPRECATED"]
    with write_session(engine) as session:
        job(session, datetime(2099, 1, 1, 0, 1, tzinfo=UTC))
    with write_session(engine) as session:
        job(session, datetime(2099, 1, 2, tzinfo=UTC))  # once
    assert retired(runner) == retired(owner) == ["IMAGE_DEPRECATED", "IMAGE_DISABLED"]


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
