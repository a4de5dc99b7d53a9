"""Webhooks over real sockets (issue 26; R176-R178, R199, R200): a provider's endpoint, a real
HTTP receiver in the test, deliveries verified with the ``standardwebhooks`` package receivers
use; a receiver down then up, retried through ``advanceClock``; a rotation signed by both
secrets; destinations that are not public refused at the attempt.

The server allows http and exactly the receivers' ``127.0.0.1:PORT`` pairs
(``BCC_IMAGES_WEBHOOK_ALLOW_HOSTS``), not private addresses in general.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.webhooks.rules import new_secret
from tests.acceptance.conftest import (
    QUICK,
    Server,
    act,
    create,
    free_port,
    own_server,
    provider_image,
)
from tests.factories import Tenant
from tests.fixtures import CREATE_LISTING, launch, listing_input

ENDPOINT = "endpoint { id url events enabled disabledReason previousSecretExpiresAt }"
CREATE_ENDPOINT = f"""mutation($i: CreateWebhookEndpointInput!) {{ createWebhookEndpoint(input: $i) {{
  {ENDPOINT} secret userErrors {{ code field message }} }} }}"""
ROTATE = f"""mutation($id: ID!) {{ rotateWebhookSecret(input: {{endpointId: $id}}) {{
  {ENDPOINT} secret userErrors {{ code }} }} }}"""
TEST = """mutation($id: ID!) { sendTestWebhook(input: {endpointId: $id}) {
  delivery { id status } userErrors { code message } } }"""
DELIVERIES = """query($e: ID) { webhookDeliveries(endpointId: $e, first: 20) { nodes {
  id eventType status nextAttemptAt body attempts { number statusCode error answer } } } }"""


class Receiver:
    """An HTTP server that records what it is sent and answers 200."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def ensure_started(self) -> None:
        if self._server is None:
            self.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, seconds: float = 20) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.received)


@pytest.fixture(scope="module")
def receivers() -> Iterator[list[Receiver]]:
    made = [Receiver(free_port()) for _ in range(3)]
    yield made
    for receiver in made:
        receiver.stop()


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory, receivers: list[Receiver]) -> Iterator[Server]:
    allowed = ",".join(f"127.0.0.1:{r.port}" for r in receivers)
    settings = {**QUICK, "webhook_allow_http": 1, "webhook_allow_hosts": allowed}
    with own_server(tmp_path_factory, "webhooks", settings) as server:
        yield server


def _endpoint(server: Server, tenant: Tenant, url: str, events: list[str]) -> tuple[str, str]:
    body = server.gql(CREATE_ENDPOINT, {"i": {"url": url, "events": events}}, tenant)
    made = body["data"]["createWebhookEndpoint"]
    assert made["userErrors"] == [], made
    return made["endpoint"]["id"], made["secret"]


def _verified(secret: str, delivery: tuple[dict[str, str], bytes]) -> dict[str, Any]:
    """The payload, verified as a receiver verifies it, at the attempt's own time: the
    server's clock and this process's are one machine's, except under libfaketime's fixed
    dates, where each process starts a clock of its own (tests/app/webhooks/test_rules.py
    shows a receiver refuses a timestamp ten minutes off its clock)."""
    headers, body = delivery
    at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    with time_machine.travel(at, tick=False):
        payload: dict[str, Any] = Webhook(secret).verify(body, headers)
    return payload


def test_a_provider_hears_of_its_approval_and_its_sale_and_nobody_else_does(
    hooked: Server, receivers: list[Receiver]
) -> None:
    mine, theirs = receivers[0], receivers[1]
    mine.ensure_started()
    theirs.ensure_started()
    provider, other = hooked.account("PROVIDER", "1000"), hooked.account("PROVIDER", "1000")
    events = ["LISTING_APPROVED", "SALE_CREATED"]
    _, secret = _endpoint(hooked, provider, mine.url, events)
    _endpoint(hooked, other, theirs.url, events)
    source = provider_image(hooked, provider)
    listing = hooked.gql(CREATE_LISTING, {"i": listing_input(source)}, provider)["data"]
    listing_id = listing["createListing"]["listing"]["id"]
    act(hooked, "submitListing", listing_id, provider)
    [market] = act(hooked, "approveListing", listing_id, hooked.admin)["listing"]["images"]
    buyer = hooked.account(balance="5000")
    bought = create(hooked, buyer, launch(market["id"], billing={"timing": "PREPAID", "months": 1}))
    assert bought["userErrors"] == [], bought
    # deliveries are sent side by side: they may arrive in any order
    by_type = {p["type"]: p for p in (_verified(secret, d) for d in mine.wait_for(2))}
    approved, sold = by_type["LISTING_APPROVED"], by_type["SALE_CREATED"]
    assert approved["data"]["listing"] == {
        "id": listing_id,
        "title": "Acme WAF 4.0",
        "kind": "MARKET",
        "status": "PUBLISHED",
        "reviewNote": None,
    }
    sale = sold["data"]["sale"]
    assert (sale["listingId"], sale["orderId"], sale["buyerAccountId"]) == (
        listing_id,
        bought["order"]["id"],
        buyer.id,
    )
    assert sale["instanceIds"] == [bought["instances"][0]["id"]]
    assert sale["amount"] == {"amount": "300.00", "currency": "CNY"}
    assert sale["providerShare"] == {"amount": "240.00", "currency": "CNY"}  # 80 %
    # each attempt is stamped with the server's time when it was made; uvicorn refreshes
    # its Date header once a second, so that header may trail the stamp by a second or two
    server_now = parsedate_to_datetime(hooked.post("{ __typename }").headers["date"])
    for stamped, _ in mine.received:
        sent = datetime.fromtimestamp(int(stamped["webhook-timestamp"]), UTC)
        assert -timedelta(seconds=3) <= server_now - sent < timedelta(minutes=2)
    # each delivery has its own id, and a signature made with another secret fails
    headers = [h for h, _ in mine.received]
    assert len({h["webhook-id"] for h in headers}) == 2
    with pytest.raises(WebhookVerificationError):
        _verified(new_secret(), mine.received[0])
    time.sleep(2)  # the other provider's endpoint hears nothing of it
    assert theirs.received == []


def test_a_receiver_down_then_up_gets_the_retry_and_both_attempts_are_recorded(
    hooked: Server, receivers: list[Receiver]
) -> None:
    late = receivers[2]  # not listening yet: the connection is refused
    tenant = hooked.account("PROVIDER", "100")
    endpoint_id, secret = _endpoint(hooked, tenant, late.url, ["LISTING_APPROVED"])
    sent = hooked.gql(TEST, {"id": endpoint_id}, tenant)["data"]["sendTestWebhook"]
    assert sent["userErrors"] == [] and sent["delivery"]["status"] == "PENDING"
    delivery_id = sent["delivery"]["id"]
    failed = _wait_attempts(hooked, tenant, endpoint_id, 1)
    assert failed["status"] == "PENDING" and failed["attempts"][0]["statusCode"] is None
    assert "Could not connect" in failed["attempts"][0]["error"]
    late.start()
    hooked.advance(10)  # past the first retry's 5 s, on the service clock
    [(headers, body)] = late.wait_for(1)
    assert headers["webhook-id"] == delivery_id
    assert _verified(secret, (headers, body))["type"] == "TEST"
    done = _wait_attempts(hooked, tenant, endpoint_id, 2)
    assert done["status"] == "SUCCEEDED"
    assert [(a["number"], a["statusCode"]) for a in done["attempts"]] == [(1, None), (2, 200)]
    assert done["attempts"][1]["answer"] == "ok" and done["nextAttemptAt"] is None


def test_during_a_rotation_deliveries_verify_with_either_secret(
    hooked: Server, receivers: list[Receiver]
) -> None:
    receiver = receivers[0]
    receiver.ensure_started()
    tenant = hooked.account("PROVIDER", "100")
    endpoint_id, old = _endpoint(hooked, tenant, receiver.url, ["SALE_CREATED"])
    rotated = hooked.gql(ROTATE, {"id": endpoint_id}, tenant)["data"]["rotateWebhookSecret"]
    new = rotated["secret"]
    assert new != old and rotated["endpoint"]["previousSecretExpiresAt"] is not None
    before = len(receiver.received)
    delivery_id = hooked.gql(TEST, {"id": endpoint_id}, tenant)["data"]["sendTestWebhook"][
        "delivery"
    ]["id"]
    received = receiver.wait_for(before + 1)
    [delivery] = [d for d in received if d[0]["webhook-id"] == delivery_id]
    assert len(delivery[0]["webhook-signature"].split(" ")) == 2
    assert _verified(old, delivery)["type"] == _verified(new, delivery)["type"] == "TEST"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/x",  # a name that resolves to 127.0.0.1
        "http://127.0.0.1:{port}/x",  # loopback, not on the allow-list
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::ffff:127.0.0.1]:{port}/x",  # loopback wrapped in IPv6
        "http://10.0.0.1/x",
    ],
)
def test_destinations_that_are_not_public_are_refused_at_the_attempt(
    hooked: Server, url: str
) -> None:
    tenant = hooked.account("PROVIDER", "100")
    endpoint_id, _ = _endpoint(hooked, tenant, url.format(port=free_port()), ["SALE_CREATED"])
    hooked.gql(TEST, {"id": endpoint_id}, tenant)
    refused = _wait_attempts(hooked, tenant, endpoint_id, 1)
    [attempt] = refused["attempts"]
    assert attempt["statusCode"] is None
    assert attempt["error"].startswith("Refused:") and "not a public address" in attempt["error"]


def test_bad_endpoints_are_refused_and_change_nothing(hooked: Server) -> None:
    tenant = hooked.account("PROVIDER", "100")
    for url, events, field in [
        ("ftp://example.com/x", ["SALE_CREATED"], ["input", "url"]),
        ("https://user:pw@example.com/x", ["SALE_CREATED"], ["input", "url"]),
        ("https://example.com/x", [], ["input", "events"]),
    ]:
        body = hooked.gql(CREATE_ENDPOINT, {"i": {"url": url, "events": events}}, tenant)
        made = body["data"]["createWebhookEndpoint"]
        assert [e["field"] for e in made["userErrors"]] == [field] and made["endpoint"] is None
    listed = hooked.gql("{ webhookEndpoints { id } }", tenant=tenant)["data"]["webhookEndpoints"]
    assert listed == []
    for _ in range(10):
        _endpoint(hooked, tenant, "https://example.com/x", ["SALE_CREATED"])
    body = hooked.gql(
        CREATE_ENDPOINT, {"i": {"url": "https://example.com/y", "events": ["SALE_CREATED"]}}, tenant
    )
    codes = [e["code"] for e in body["data"]["createWebhookEndpoint"]["userErrors"]]
    assert codes == ["WEBHOOK_ENDPOINT_QUOTA_EXCEEDED"]


def _wait_attempts(
    server: Server, tenant: Tenant, endpoint_id: str, count: int, seconds: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        nodes = server.gql(DELIVERIES, {"e": endpoint_id}, tenant)["data"]["webhookDeliveries"][
            "nodes"
        ]
        if nodes and len(nodes[0]["attempts"]) >= count:
            delivery: dict[str, Any] = nodes[0]
            assert json.loads(delivery["body"])["type"] == delivery["eventType"]
            return delivery
        assert time.monotonic() < deadline, f"no attempt {count} within {seconds} s: {nodes}"
        time.sleep(0.2)


UPDATE = """mutation($id: ID!) { updateWebhookEndpoint(input: {endpointId: $id, enabled: false}) {
  endpoint { id } userErrors { code } } }"""
DELETE = """mutation($id: ID!) { deleteWebhookEndpoint(input: {endpointId: $id}) {
  deletedEndpointId userErrors { code } } }"""
REDELIVER = """mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) {
  delivery { id } userErrors { code } } }"""
SECRET = """mutation($id: ID!) { rotateWebhookSecret(input: {endpointId: $id}) {
  secret userErrors { code } } }"""


def test_another_account_can_neither_see_nor_touch_an_endpoint_or_its_deliveries(
    hooked: Server,
) -> None:
    """Another account's endpoint and delivery answer as absent, and nothing changes."""
    owner, stranger = hooked.account("PROVIDER", "100"), hooked.account("PROVIDER", "100")
    endpoint_id, _ = _endpoint(hooked, owner, "https://203.0.113.10/x", ["SALE_CREATED"])
    delivery_id = hooked.gql(TEST, {"id": endpoint_id}, owner)["data"]["sendTestWebhook"][
        "delivery"
    ]["id"]
    refused = {
        "updateWebhookEndpoint": (UPDATE, endpoint_id, "WEBHOOK_ENDPOINT_NOT_FOUND"),
        "deleteWebhookEndpoint": (DELETE, endpoint_id, "WEBHOOK_ENDPOINT_NOT_FOUND"),
        "rotateWebhookSecret": (SECRET, endpoint_id, "WEBHOOK_ENDPOINT_NOT_FOUND"),
        "sendTestWebhook": (TEST, endpoint_id, "WEBHOOK_ENDPOINT_NOT_FOUND"),
        "redeliverWebhook": (REDELIVER, delivery_id, "WEBHOOK_DELIVERY_NOT_FOUND"),
    }
    for name, (document, the_id, code) in refused.items():
        answer = hooked.gql(document, {"id": the_id}, stranger)["data"][name]
        assert [e["code"] for e in answer["userErrors"]] == [code], (name, answer)
        # word for word what an id nobody has gets
        nobody = the_id[:4] + "0" * (len(the_id) - 4)
        absent = hooked.gql(document, {"id": nobody}, stranger)["data"][name]
        assert json.dumps(answer).replace(the_id, "<id>") == json.dumps(absent).replace(
            nobody, "<id>"
        )
    lists = (
        "query($e: ID) { webhookEndpoints { id } webhookDeliveries(endpointId: $e) { totalCount } }"
    )
    seen = hooked.gql(lists, {"e": endpoint_id}, stranger)["data"]
    assert seen == {"webhookEndpoints": [], "webhookDeliveries": {"totalCount": 0}}
    mine = hooked.gql(lists, {"e": endpoint_id}, owner)["data"]
    assert mine["webhookEndpoints"] == [{"id": endpoint_id}]
    assert mine["webhookDeliveries"] == {"totalCount": 1}
