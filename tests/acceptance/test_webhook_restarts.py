"""Webhook deliveries across a kill -9 (issue 26; R177): a delivery owed when the server
dies is sent by the server started again, with the same ``webhook-id``; a receiver holding an
attempt delays no operation, and a kill in the middle of that attempt loses nothing.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.acceptance.conftest import (
    QUICK,
    free_port,
    own_server,
    running_instance,
    start_server,
    stop_server,
)
from tests.acceptance.test_webhooks import (
    DELIVERIES,
    TEST,
    Receiver,
    _endpoint,
    _verified,
    _wait_attempts,
)


def test_a_delivery_pending_when_the_server_is_killed_is_delivered_after_the_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """kill -9 with a delivery owed (its first attempt failed: the receiver was down); the
    server started again on the same database sends it, with the same webhook-id."""
    receiver = Receiver(free_port())
    settings = {
        **QUICK,
        "webhook_allow_http": 1,
        "webhook_allow_hosts": f"127.0.0.1:{receiver.port}",
    }
    with own_server(tmp_path_factory, "webhooks-kill", settings) as server:
        tenant = server.account("PROVIDER", "100")
        endpoint_id, secret = _endpoint(server, tenant, receiver.url, ["SALE_CREATED"])
        sent = server.gql(TEST, {"id": endpoint_id}, tenant)["data"]["sendTestWebhook"]
        delivery_id = sent["delivery"]["id"]
        assert _wait_attempts(server, tenant, endpoint_id, 1)["status"] == "PENDING"
        assert server.process is not None and server.log_path is not None
        server.process.kill()  # SIGKILL: no shutdown of any kind
        server.process.wait()
        receiver.start()
        port = free_port()
        restarted = server.process = start_server(server.env, server.log_path, port)
        server.url = f"http://127.0.0.1:{port}"
        try:
            server.advance(10)  # past the first retry, on the service clock
            [(headers, body)] = receiver.wait_for(1)
            assert headers["webhook-id"] == delivery_id
            assert _verified(secret, (headers, body))["type"] == "TEST"
            assert _wait_attempts(server, tenant, endpoint_id, 2)["status"] == "SUCCEEDED"
        finally:
            stop_server(restarted)
            receiver.stop()


class Holder(Receiver):
    """A receiver that holds each request until ``release`` is set (then answers 200)."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.arrived = threading.Event()
        self.release = threading.Event()

    def start(self) -> None:
        holder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                holder.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                holder.arrived.set()
                holder.release.wait(60)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()


def test_a_receiver_holding_an_attempt_delays_no_operation_and_a_kill_mid_attempt_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The sender runs beside the operation worker: while a receiver holds an attempt, an
    instance is launched and its operation finishes. Then kill -9 during that attempt: the
    server started again sends the delivery once its claim has ended, with the same
    webhook-id (a receiver may see an id twice, never miss one)."""
    holder = Holder(free_port())
    holder.start()
    settings = {**QUICK, "webhook_allow_http": 1, "webhook_allow_hosts": f"127.0.0.1:{holder.port}"}
    with own_server(tmp_path_factory, "webhooks-held", settings) as server:
        tenant = server.account("PROVIDER", "1000")
        endpoint_id, secret = _endpoint(server, tenant, holder.url, ["SALE_CREATED"])
        sent = server.gql(TEST, {"id": endpoint_id}, tenant)["data"]["sendTestWebhook"]
        delivery_id = sent["delivery"]["id"]
        assert holder.arrived.wait(20), "the first attempt never came"
        running_instance(server, tenant)  # its operation finishes while the attempt is held
        [held] = server.gql(DELIVERIES, {"e": endpoint_id}, tenant)["data"]["webhookDeliveries"][
            "nodes"
        ]
        assert (held["status"], held["attempts"]) == ("PENDING", [])  # still under way
        assert server.process is not None and server.log_path is not None
        server.process.kill()  # SIGKILL in the middle of the attempt
        server.process.wait()
        holder.release.set()
        port = free_port()
        restarted = server.process = start_server(server.env, server.log_path, port)
        server.url = f"http://127.0.0.1:{port}"
        try:
            again = holder.wait_for(2, seconds=120)  # after the killed process's 60 s claim
            assert [h["webhook-id"] for h, _ in again] == [delivery_id, delivery_id]
            assert _verified(secret, again[1])["type"] == "TEST"
            done = _wait_attempts(server, tenant, endpoint_id, 1)
            assert done["status"] == "SUCCEEDED" and len(done["attempts"]) == 1
        finally:
            stop_server(restarted)
            holder.stop()
