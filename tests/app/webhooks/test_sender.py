"""What an attempt's outcome makes of its delivery and endpoint (R177): retries on the
schedule, FAILED after the last, an endpoint failing for 5 days disabled and saying so, a
success clearing the failure; a secret sealed under another key fails its deliveries at once
instead of blocking the sender."""

from __future__ import annotations

import contextlib
import pathlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

import pytest
import trustme
from sqlalchemy import Engine

from app.clock import Clock
from app.database import read_session, write_session
from app.ids import new_id
from app.webhooks import rules
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.rules import RETRY_AFTER, Outcome
from app.webhooks.sealing import Sealer
from app.webhooks.sender import Claim, Sender, _follow
from tests.factories import Factory

START = datetime(2027, 1, 10, 9, 30, tzinfo=UTC)


def _pair() -> tuple[WebhookDelivery, WebhookEndpoint]:
    endpoint = WebhookEndpoint(
        id="whe-AAAAAAAA",
        owner_id="acc-AAAAAAAA",
        url="https://203.0.113.10/x",
        events='["SALE_CREATED"]',
        secret="sealed",
        created_at=START,
        updated_at=START,
    )
    delivery = WebhookDelivery(
        id="whd-AAAAAAAAAAAAAAAA",
        endpoint_id=endpoint.id,
        owner_id=endpoint.owner_id,
        event_type="SALE_CREATED",
        body="{}",
        status="PENDING",
        next_attempt_at=START,
        created_at=START,
    )
    return delivery, endpoint


def test_failures_follow_the_schedule_then_fail_and_disable_after_five_days() -> None:
    delivery, endpoint = _pair()
    now = START
    for wait in RETRY_AFTER:
        delivery.attempts += 1
        _follow(delivery, endpoint, Outcome(503, "Answered 503."), now)
        assert delivery.status == "PENDING" and delivery.next_attempt_at == now + wait
        now += wait
    delivery.attempts += 1
    _follow(delivery, endpoint, Outcome(None, "No answer."), now)
    assert delivery.status == "FAILED" and delivery.next_attempt_at is None
    assert endpoint.failing_since == START and endpoint.enabled  # 28 h 35 min of failures
    later, _ = _pair()
    later.attempts = 1
    _follow(later, endpoint, Outcome(None, "No answer."), START + timedelta(days=5))
    assert not endpoint.enabled
    assert endpoint.disabled_reason is not None
    assert "every delivery has failed since 2027-01-10 09:30 UTC" in endpoint.disabled_reason


def test_a_success_clears_the_failure() -> None:
    delivery, endpoint = _pair()
    endpoint.failing_since = START
    delivery.attempts = 2
    _follow(delivery, endpoint, Outcome(204), START + timedelta(hours=1))
    assert delivery.status == "SUCCEEDED"
    assert delivery.next_attempt_at is None and endpoint.failing_since is None


def test_a_secret_sealed_under_another_key_fails_its_delivery_and_blocks_nothing(
    factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    delivery, endpoint = _pair()
    endpoint.owner_id = delivery.owner_id = owner.id
    endpoint.secret = Sealer(b"the old key").seal("whsec_x")
    delivery.next_attempt_at = datetime.now(UTC) - timedelta(minutes=1)  # due on a real clock
    with write_session(engine) as session:
        session.add(endpoint)
        session.flush()
        session.add(delivery)
    sender = Sender(engine, Clock(simulated=False), Sealer(b"a new key"))
    try:
        assert sender.run_due() == 0
    finally:
        sender.close()
    with read_session(engine) as session:
        failed = session.get(WebhookDelivery, delivery.id)
        attempt = session.get(WebhookAttempt, (delivery.id, 1))
        assert failed is not None and failed.status == "FAILED"
        assert attempt is not None and "BCC_IMAGES_SECRET_KEY" in str(attempt.error)


def test_an_answer_dripped_a_byte_at_a_time_ends_the_attempt_at_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each byte comes well within the read timeout, but the whole answer would take 30 s:
    the attempt ends at its own deadline and says so, and the thread is free again."""
    monkeypatch.setattr(rules, "ATTEMPT_TIMEOUT_SECONDS", 1.0)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 60\r\n\r\n")
            for _ in range(60):
                if stop.wait(0.5):
                    return
                with contextlib.suppress(OSError):
                    connection.sendall(b"x")

    threading.Thread(target=drip, daemon=True).start()
    sender = Sender(
        cast(Engine, None),
        Clock(simulated=False),
        Sealer(b"k"),
        allow_hosts=[f"127.0.0.1:{port}"],
    )
    claim = Claim("whd-AAAAAAAAAAAAAAAA", f"http://127.0.0.1:{port}/x", b"{}", ("whsec_eA==",))
    started = time.monotonic()
    try:
        outcome, answer = sender._attempt(claim, datetime.now(UTC))
    finally:
        stop.set()
        sender.close()
        listener.close()
    assert outcome == Outcome(None, "No answer within 1 s.") and answer == b""
    assert time.monotonic() - started < 5


@contextlib.contextmanager
def _https_receiver(ca: trustme.CA, name: str, seen: list[str | None]) -> Iterator[int]:
    """An https receiver on 127.0.0.1 whose certificate (signed by ``ca``) names ``name``;
    ``seen`` gets the host name each client asked for (SNI)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    context.sni_callback = lambda _socket, server_name, _context: seen.append(server_name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_https_receivers_are_checked_against_the_host_name_of_their_url(
    tmp_path: pathlib.Path,
) -> None:
    """R200: the sender connects to the address it checked, sends the URL's host name as SNI
    and checks the certificate against it; a receiver signed by a private authority is trusted
    only when BCC_IMAGES_WEBHOOK_CA_FILE names it."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    host = "hooks.example.test"

    def attempt(cert_name: str, trusted: str) -> tuple[Outcome, list[str | None]]:
        seen: list[str | None] = []
        with _https_receiver(ca, cert_name, seen) as port:
            sender = Sender(
                cast(Engine, None),
                Clock(simulated=False),
                Sealer(b"k"),
                allow_hosts=[f"{host}:{port}"],
                resolver=lambda _host, _port: ["127.0.0.1"],
                ca_file=trusted,
            )
            claim = Claim(
                "whd-AAAAAAAAAAAAAAAA", f"https://{host}:{port}/x", b"{}", ("whsec_eA==",)
            )
            try:
                outcome, _ = sender._attempt(claim, datetime.now(UTC))
            finally:
                sender.close()
        return outcome, seen

    assert attempt(host, str(ca_file)) == (Outcome(204), [host])
    wrong_name, _ = attempt("another.example.test", str(ca_file))
    assert wrong_name == Outcome(None, "Could not connect (ConnectError).")
    untrusted, _ = attempt(host, "")
    assert untrusted == Outcome(None, "Could not connect (ConnectError).")


def test_one_accounts_slow_receiver_holds_back_no_other_account(
    factory: Factory, engine: Engine
) -> None:
    """Eight deliveries of one account to a receiver that holds every request, all due before
    one of another account's: that one is sent at once, beside two of the first account's
    (at most two of one account's are under way at a time in a process)."""
    sealer = Sealer(b"fair")
    release, victim_heard = threading.Event(), threading.Event()
    arrived: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            arrived.append(self.path)
            if self.path == "/slow":
                release.wait(20)
            else:
                victim_heard.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    attacker, victim = factory.account(), factory.account()
    long_ago = datetime.now(UTC) - timedelta(days=1)
    with write_session(engine) as session:
        for owner, path, count, at in (
            (attacker.id, "/slow", 8, long_ago),
            (victim.id, "/fast", 1, long_ago + timedelta(minutes=1)),
        ):
            endpoint = WebhookEndpoint(
                id=new_id("whe"),
                owner_id=owner,
                url=f"http://127.0.0.1:{port}{path}",
                events='["SALE_CREATED"]',
                secret=sealer.seal(rules.new_secret()),
                created_at=at,
                updated_at=at,
            )
            session.add(endpoint)
            session.flush()
            for n in range(count):
                session.add(
                    WebhookDelivery(
                        id=new_id("whd"),
                        endpoint_id=endpoint.id,
                        owner_id=owner,
                        event_type="SALE_CREATED",
                        body="{}",
                        status="PENDING",
                        next_attempt_at=at + timedelta(seconds=n),
                        created_at=at,
                    )
                )
    sender = Sender(engine, Clock(simulated=False), sealer, allow_hosts=[f"127.0.0.1:{port}"])
    running = threading.Thread(target=sender.run_due)
    running.start()
    try:
        assert victim_heard.wait(5), "the other account's delivery waited for the slow receiver"
        time.sleep(0.3)
        assert arrived.count("/slow") == 2
    finally:
        release.set()
        running.join(60)
        sender.close()
        server.shutdown()
        server.server_close()
    assert arrived.count("/slow") == 8  # the rest, two at a time, once the receiver answers
