"""Webhook rules: destinations (R178, R200), Standard Webhooks signatures (R177) checked with
the ``standardwebhooks`` package receivers use, and the retry schedule."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.webhooks.destinations import (
    address_problem,
    destination,
    resolved_problem,
    url_problem,
)
from app.webhooks.rules import (
    RETRY_AFTER,
    headers,
    new_secret,
    next_attempt,
)

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # shared address space
    "0.0.0.1",
    "169.254.169.254",  # cloud metadata
    "224.0.0.1",  # multicast: the standard library calls it global
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fd00:ec2::254",  # cloud metadata over IPv6
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "2002:7f00:1::",  # 6to4 around 127.0.0.1: the standard library calls it global
    "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1: the standard library calls it global
    "64:ff9b::a9fe:a9fe",  # NAT64 around the metadata address
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "64:ff9b:1::1",  # NAT64 for local use
    "2001:db8::1",  # documentation
]


@pytest.mark.parametrize("address", REFUSED)
def test_no_destination_that_is_not_public(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1", "64:ff9b::808:808"])
def test_public_destinations_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "allow_http", "refused"),
    [
        ("https://hooks.example.com/x", False, None),
        ("http://hooks.example.com/x", False, "The URL must start with https://."),
        ("http://hooks.example.com/x", True, None),
        ("ftp://hooks.example.com/x", True, "The URL must start with https:// or http://."),
        ("https://user:pw@hooks.example.com/", False, "user name or password"),
        ("https://hooks.example.com:0/", False, "port must be a number from 1 to 65535"),
        ("https://hooks.example.com:70000/", False, "port must be a number from 1 to 65535"),
        ("https:///path", False, "The URL has no host."),
        ("https://hooks.example.com/a b", False, "spaces or control characters"),
        ("https://hooks.example.com/" + "a" * 2100, False, "longer than 2048"),
    ],
)
def test_endpoint_urls(url: str, allow_http: bool, refused: str | None) -> None:
    problem = url_problem(url, allow_http=allow_http)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem


def test_every_resolved_address_must_be_public_unless_allowed() -> None:
    target = destination("https://Hooks.Example.com/in")
    assert (target.host, target.port) == ("hooks.example.com", 443)
    mixed = ["8.8.8.8", "127.0.0.1"]  # a name that also resolves to loopback
    assert "127.0.0.1" in str(resolved_problem(target, mixed, allow_private=False, allow_hosts=()))
    assert resolved_problem(target, ["8.8.8.8"], allow_private=False, allow_hosts=()) is None
    assert resolved_problem(target, [], allow_private=True, allow_hosts=()) is not None
    assert resolved_problem(target, mixed, allow_private=True, allow_hosts=()) is None
    local = destination("http://127.0.0.1:8123/hook")
    exact = {"127.0.0.1:8123"}
    assert resolved_problem(local, ["127.0.0.1"], allow_private=False, allow_hosts=exact) is None
    other = destination("http://127.0.0.1:8124/hook")
    assert resolved_problem(other, ["127.0.0.1"], allow_private=False, allow_hosts=exact)


def test_a_delivery_verifies_with_the_standard_webhooks_library() -> None:
    secret, body, at = new_secret(), b'{"type":"TEST","data":{}}', datetime.now(UTC)
    sent = headers([secret], "msg_1", at, body)
    assert Webhook(secret).verify(body, sent) == {"type": "TEST", "data": {}}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", sent)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    body, at = b'{"type":"TEST"}', datetime.now(UTC)
    sent = headers([new, old], "msg_2", at, body)
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, sent)


def test_a_stale_timestamp_is_refused_by_receivers() -> None:
    """The timestamp is the attempt's real time, so each retry is signed afresh."""
    secret, body = new_secret(), b"{}"
    sent = headers([secret], "msg_3", datetime.now(UTC) - timedelta(minutes=10), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, sent)


def test_retries_follow_the_schedule_then_stop() -> None:
    last = datetime(2027, 1, 10, tzinfo=UTC)
    waits = [next_attempt(n, last) for n in range(1, len(RETRY_AFTER) + 2)]
    assert [w - last if w else None for w in waits] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
        None,  # eight attempts failed: FAILED
    ]


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    import base64

    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 32
