"""Admin billing mutations: settleUsage and advanceClock (R63, R82)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.clock import Clock
from app.config import Settings
from app.database import make_engine
from app.main import create_app
from app.platform.viewer import Role
from app.seed import prepare
from tests.conftest import fresh_database
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


def test_an_api_process_without_a_worker_follows_the_shared_clock(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """R63: the offset one process moves is the one every other process answers with, read
    in the statement each request already sends (anonymous or signed in)."""
    with fresh_database(tmp_path_factory) as url:
        mover_settings = settings.model_copy(
            update={
                "database_url": url,
                "data_dir": Path(tmp_path_factory.mktemp("clock-data")),
                "simulated_clock": True,
            }
        )
        api_settings = mover_settings.model_copy(update={"run_worker": False})
        engine = make_engine(mover_settings)
        prepare(engine, mover_settings.seed_dir, Clock(simulated=False).now())
        try:
            with (
                TestClient(create_app(mover_settings)) as mover,
                TestClient(create_app(api_settings)) as api,
            ):
                factory = Factory(engine)
                admin, customer = factory.account(Role.ADMIN), factory.account()
                clock: Clock = api.app.state.clock  # type: ignore[attr-defined]
                body = gql(mover, ADVANCE, {"s": 7200}, admin)["data"]["advanceClock"]
                assert body["userErrors"] == []
                assert clock.offset_seconds == 0
                gql(api, "{ regions { code } }", {})
                assert clock.offset_seconds == 7200
                gql(mover, ADVANCE, {"s": 3600}, admin)
                gql(api, "{ regions { code } }", {}, customer)
                assert clock.offset_seconds == 10800
        finally:
            engine.dispose()
