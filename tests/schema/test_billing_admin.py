"""Admin billing mutations: settleUsage and advanceClock (R63, R82)."""

from __future__ import annotations

from starlette.testclient import TestClient

from app.accounts.rules import Role
from tests.factories import Factory, gql

SETTLE = """mutation($u: DateTime) { settleUsage(input: {until: $u}) {
  transactions { kind } userErrors { code field message } } }"""
ADVANCE = """mutation($s: Int!) { advanceClock(input: {seconds: $s}) {
  now userErrors { code field message } } }"""


def test_settle_is_admin_only(app_client: TestClient, factory: Factory) -> None:
    body = gql(app_client, SETTLE, {}, factory.account())["data"]["settleUsage"]
    assert body["userErrors"] == [
        {
            "code": "PERMISSION_DENIED",
            "field": None,
            "message": "Only an administrator may do this.",
        }
    ]


def test_settle_refuses_the_future(app_client: TestClient, factory: Factory) -> None:
    admin = factory.account(Role.ADMIN)
    body = gql(app_client, SETTLE, {"u": "2999-01-01T00:00:00Z"}, admin)["data"]["settleUsage"]
    assert [(e["code"], e["field"]) for e in body["userErrors"]] == [
        ("INVALID_INPUT", ["input", "until"])
    ]
    assert body["userErrors"][0]["message"].startswith("until may not be later than now")


def test_advance_clock_needs_the_simulated_clock(app_client: TestClient, factory: Factory) -> None:
    admin = factory.account(Role.ADMIN)
    body = gql(app_client, ADVANCE, {"s": 60}, admin)["data"]["advanceClock"]
    assert body == {
        "now": None,
        "userErrors": [
            {
                "code": "CLOCK_NOT_SIMULATED",
                "field": None,
                "message": "The clock is real; start the service with BCC_IMAGES_SIMULATED_CLOCK=1.",
            }
        ],
    }
    customer = gql(app_client, ADVANCE, {"s": 60}, factory.account())["data"]["advanceClock"]
    assert customer["userErrors"][0]["code"] == "PERMISSION_DENIED"
