"""Postpaid settlement (R74): per-minute accrual, carried fractions, idempotence, arrears."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from app.accounts.models import Account
from app.billing import service as billing_service
from app.database import read_session, write_session
from app.instances.models import Instance, InstanceRate
from app.money import from_minor
from app.platform.viewer import Role
from app.workflows.settlement import last_whole_hour, settle, settle_hourly
from tests.factories import Factory, Tenant, gql
from tests.fixtures import CREATE, launch


def _instance(client: TestClient, tenant: Tenant, image: str, **overrides: object) -> Instance:
    body = gql(client, CREATE, {"i": launch(image, **overrides)}, tenant)["data"]["createInstances"]
    assert body["userErrors"] == [], body["userErrors"]
    instance_id = body["instances"][0]["id"]
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with read_session(engine) as session:
        row = session.get(Instance, instance_id)
        assert row is not None
        return row


def _settle(engine: Engine, until: datetime, account_id: str) -> list[Decimal]:
    with write_session(engine) as session:
        entries = settle(session=session, until=until, account_id=account_id)
        return [from_minor(e.amount_minor) for e in entries]


def _account(engine: Engine, account_id: str) -> Account:
    with read_session(engine) as session:
        account = session.get(Account, account_id)
        assert account is not None
        return account


def test_each_minute_accrues_and_fractions_of_a_fen_carry(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    tenant = factory.account(balance="200")
    row = _instance(app_client, tenant, factory.public_image())  # 0.42 CNY/h = 0.007 per minute
    start = row.accrued_until
    assert start is not None
    charged = [
        _settle(engine, start + timedelta(minutes=m, seconds=30), tenant.id) for m in (1, 2, 3)
    ]
    account = _account(engine, tenant.id)
    # 0.007 -> 0.01 (carry -0.003); 0.004 -> nothing (carry 0.004); 0.011 -> 0.01 (carry 0.001)
    assert charged == [[Decimal("-0.01")], [], [Decimal("-0.01")]]
    assert _carries(engine, row.id) == {"COMPUTE": 600_000 // 10}  # 0.001 CNY in usage units
    assert account.balance_minor == 20000 - 2


def _carries(engine: Engine, instance_id: str) -> dict[str, int]:
    with read_session(engine) as session:
        lines = session.exec(select(InstanceRate).where(InstanceRate.instance_id == instance_id))
        return {line.kind: line.carry for line in lines}


def test_each_line_of_each_instance_is_rounded_on_its_own(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    """R167, R191: carries are kept per instance and per charge line; an hour's entry is the
    sum of its rounded lines. Two Windows bcc.g5.c2m8: compute 0.42 CNY/h (0.7 fen a minute),
    licence 2 vCPUs x 0.03 (0.1 fen a minute) each."""
    tenant = factory.account(balance="200")
    first = _instance(app_client, tenant, factory.public_image(os_type="WINDOWS"), count=2)
    start = first.accrued_until
    assert start is not None
    # 5 minutes: per line 3.5 -> 4 fen and 0.5 -> 1 fen, per instance 5, for two 10 fen
    # (rounded per account, 2 x 4.0 fen would have been 8)
    assert _settle(engine, start + timedelta(minutes=5), tenant.id) == [Decimal("-0.10")]
    assert _carries(engine, first.id) == {"COMPUTE": -300_000, "WINDOWS_LICENSE": -300_000}
    # 5 more: -0.5 + 3.5 = 3 fen and -0.5 + 0.5 = 0, for two 6 fen: 16 fen for 10 minutes of
    # 1.6 fen, exact, nothing carried
    assert _settle(engine, start + timedelta(minutes=10), tenant.id) == [Decimal("-0.06")]
    assert _carries(engine, first.id) == {"COMPUTE": 0, "WINDOWS_LICENSE": 0}
    assert _account(engine, tenant.id).balance_minor == 20000 - 16


def test_settling_the_same_period_twice_charges_nothing_more(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    tenant = factory.account(balance="500")
    row = _instance(app_client, tenant, factory.public_image(os_type="WINDOWS"))
    assert row.accrued_until is not None
    until = row.accrued_until + timedelta(hours=2)
    _settle(engine, until, tenant.id)
    first = _account(engine, tenant.id).balance_minor
    _settle(engine, until, tenant.id)
    _settle(engine, until - timedelta(minutes=30), tenant.id)
    assert _account(engine, tenant.id).balance_minor == first
    # two hours of one Windows bcc.g5.c2m8: 2 x (0.42 + 2 x 0.03)
    assert first == 50000 - 2 * 48


def test_release_stops_accrual(app_client: TestClient, factory: Factory, engine: Engine) -> None:
    tenant = factory.account(balance="500")
    row = _instance(app_client, tenant, factory.public_image())
    app_client.app.state.worker.tick()  # type: ignore[attr-defined]
    assert row.accrued_until is not None
    with write_session(engine) as session:
        instance = session.get(Instance, row.id)
        assert instance is not None
        instance.status = "RELEASED"
        instance.released_at = row.accrued_until + timedelta(hours=1)
        session.add(instance)
    _settle(engine, row.accrued_until + timedelta(hours=5), tenant.id)
    assert _account(engine, tenant.id).balance_minor == 50000 - 42


def test_arrears_stop_postpaid_instances_until_a_top_up(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    tenant = factory.account(balance="100")
    row = _instance(app_client, tenant, factory.public_image(), flavor="bcc.g5.c16m64")
    app_client.app.state.worker.tick()  # type: ignore[attr-defined]
    assert row.accrued_until is not None
    _settle(engine, row.accrued_until + timedelta(hours=30), tenant.id)  # 3.36 CNY/h x 30 > 100
    account = _account(engine, tenant.id)
    assert account.in_arrears
    assert account.balance_minor < 0
    with read_session(engine) as session:
        stopped = session.get(Instance, row.id)
        assert stopped is not None
        assert (stopped.status, stopped.status_reason) == ("STOPPED", "ARREARS")
    refused = gql(app_client, CREATE, {"i": launch(factory.public_image())}, tenant)
    assert refused["data"]["createInstances"]["userErrors"][0]["code"] == "ACCOUNT_IN_ARREARS"
    start = gql(
        app_client,
        f'mutation {{ startInstance(input: {{instanceId: "{row.id}"}}) {{ userErrors {{ code }} }} }}',
        tenant=tenant,
    )
    assert start["data"]["startInstance"]["userErrors"] == [{"code": "ACCOUNT_IN_ARREARS"}]
    admin = factory.account(Role.ADMIN)
    top_up = """mutation($a: ID!) { topUpAccount(input: {accountId: $a, amount: "500"}) {
        account { inArrears } userErrors { code } } }"""
    assert gql(app_client, top_up, {"a": tenant.id}, admin)["data"]["topUpAccount"]["account"] == {
        "inArrears": False
    }
    with read_session(engine) as session:
        again = session.get(Instance, row.id)
        assert again is not None
        assert (again.status, again.status_reason) == ("RUNNING", None)


def test_hourly_job_settles_once_per_hour(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    tenant = factory.account(balance="500")
    row = _instance(app_client, tenant, factory.public_image())
    assert row.accrued_until is not None
    later = last_whole_hour(row.accrued_until) + timedelta(hours=3, minutes=10)
    with write_session(engine) as session:
        settle_hourly(session, later)
    once = _account(engine, tenant.id).balance_minor
    with write_session(engine) as session:
        settle_hourly(session, later + timedelta(minutes=20))
    assert _account(engine, tenant.id).balance_minor == once < 50000


def test_balance_always_equals_the_ledger(engine: Engine) -> None:
    with read_session(engine) as session:
        accounts = session.exec(select(Account)).all()
        for account in accounts:
            assert account.balance_minor == billing_service.ledger_sum(
                session=session, account_id=account.id
            ), account.id
