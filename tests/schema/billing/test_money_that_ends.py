"""Money that ends (issue 24; R165-R167, R191, R192): a released instance is settled once, a
carry never flips, one advance of N hours leaves the ledger N one-hour advances leave, arrears
stop charging and end in a release after the grace period, a top-up restarts what arrears
stopped with usage counted from the restart, and imaging across arrears leaves the instance
stopped.

Each test runs its own server over a database of its own, with the simulated clock, and the
wall clock pinned (time-machine) to 09:30 UTC on 10 January 2027, so every hour boundary falls
where the test says. Every amount is computed here, from the price of the flavor and the times
the API shows, never read back from the service.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlmodel import select
from starlette.testclient import TestClient

from app.clock import Clock
from app.config import Settings
from app.database import make_engine, write_session
from app.main import create_app
from app.platform.schedule import ClockState
from app.platform.viewer import Role, Viewer
from app.seed import prepare
from app.workflows import instance_actions
from tests.conftest import fresh_database
from tests.factories import Factory, Tenant, gql
from tests.fixtures import CREATE, CREATE_IMAGE, launch

pytestmark = pytest.mark.money

START = datetime(2027, 1, 10, 9, 30, tzinfo=UTC)
HOUR = 3600
#: hourly prices in the seeded price book (CNY per hour, Beijing)
G5_C2M8 = Decimal("0.42")
G5_C16M64 = Decimal("3.36")

ADVANCE = """mutation($s: Int!) { advanceClock(input: {seconds: $s}) {
  now userErrors { code field message } } }"""
INSTANCE = """query($id: ID!) { instance(id: $id) { id status statusReason releaseReason
  createdAt releasedAt } }"""
RELEASE = """mutation($id: ID!) { releaseInstance(input: {instanceId: $id}) {
  instance { status releaseReason releasedAt } userErrors { code } } }"""
LEDGER = """{ viewer { balance { amount } inArrears arrearsSince
  transactions(first: 100) { nodes { kind amount { amount } createdAt } } } }"""
TOP_UP = """mutation($a: ID!, $m: Decimal!) { topUpAccount(input: {accountId: $a, amount: $m}) {
  account { inArrears arrearsSince } transaction { createdAt } userErrors { code } } }"""


@dataclass
class Service:
    """One server of its own, its factory and its administrator."""

    client: TestClient
    factory: Factory
    admin: Tenant

    def advance(self, seconds: int) -> None:
        body = gql(self.client, ADVANCE, {"s": seconds}, self.admin)["data"]["advanceClock"]
        assert body["userErrors"] == [], body

    def tick(self) -> None:
        """The worker finishes the operations that are due."""
        self.client.app.state.worker.tick()  # type: ignore[attr-defined]

    def launch(self, tenant: Tenant, flavor: str = "bcc.g5.c2m8") -> str:
        image = self.factory.public_image()
        body = gql(self.client, CREATE, {"i": launch(image, flavor=flavor)}, tenant)
        created = body["data"]["createInstances"]
        assert created["userErrors"] == [], created
        self.tick()
        return str(created["instances"][0]["id"])

    def instance(self, tenant: Tenant, instance_id: str) -> dict[str, Any]:
        body = gql(self.client, INSTANCE, {"id": instance_id}, tenant)
        return dict(body["data"]["instance"])

    def ledger(self, tenant: Tenant) -> dict[str, Any]:
        return dict(gql(self.client, LEDGER, {}, tenant)["data"]["viewer"])


def usage(ledger: dict[str, Any]) -> list[tuple[Decimal, datetime]]:
    """The USAGE entries, oldest first: (amount, when)."""
    entries = [
        (Decimal(n["amount"]["amount"]), _time(n["createdAt"]))
        for n in ledger["transactions"]["nodes"]
        if n["kind"] == "USAGE"
    ]
    return sorted(entries, key=lambda entry: entry[1])


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def fen(units: Decimal) -> Decimal:
    """CNY rounded once to the fen, half away from zero."""
    return units.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def hourly(price: Decimal, start: datetime, hours: list[datetime]) -> list[Decimal]:
    """What hourly settlements at ``hours`` charge an instance at ``price`` accruing from
    ``start``: whole minutes, each entry rounded once, the fraction carried exactly.
    """
    charged, carry, accrued = [], Decimal(0), start
    for hour in hours:
        minutes = int((hour - accrued) // timedelta(minutes=1))
        if minutes <= 0:
            continue
        accrued += timedelta(minutes=minutes)
        owed = carry + price * minutes / 60
        amount = fen(owed)
        carry = owed - amount
        if amount:
            charged.append(-amount)
    return charged


@contextmanager
def own_service(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, **more: object
) -> Iterator[Service]:
    """A server of its own (simulated clock, ``more`` settings), started at START."""
    with time_machine.travel(START, tick=True), fresh_database(tmp_path_factory) as url:
        own = settings.model_copy(
            update={
                "database_url": url,
                "data_dir": Path(tmp_path_factory.mktemp("money-data")),
                "simulated_clock": True,
                **more,
            }
        )
        engine = make_engine(own)
        prepare(engine, own.seed_dir, START)
        try:
            with TestClient(create_app(own)) as client:
                factory = Factory(engine)
                yield Service(client, factory, factory.account(Role.ADMIN))
        finally:
            engine.dispose()


@pytest.fixture
def service(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with own_service(settings, tmp_path_factory) as started:
        yield started


def test_a_released_instance_is_settled_once_and_its_carry_never_flips(service: Service) -> None:
    """Postpaid bcc.g5.c2m8 (0.42/h), 5 minutes, released: one USAGE of 0.04 (0.035 rounded
    half up) at the next hourly settlement, then nothing, however many hours pass (the old
    settlement posted -0.04, then +0.01, -0.01, +0.01 ... every hour).
    """
    tenant = service.factory.account(balance="500")
    instance_id = service.launch(tenant)
    service.advance(300)
    released = gql(service.client, RELEASE, {"id": instance_id}, tenant)["data"]
    assert released["releaseInstance"]["instance"]["releaseReason"] == "OWNER"
    for _ in range(6):
        service.advance(HOUR)
    shown = service.instance(tenant, instance_id)
    created, released_at = _time(shown["createdAt"]), _time(shown["releasedAt"])
    minutes = int((released_at - created) // timedelta(minutes=1))
    assert minutes == 5
    expected = fen(G5_C2M8 * minutes / 60)
    assert expected == Decimal("0.04")
    ledger = service.ledger(tenant)
    assert [amount for amount, _ in usage(ledger)] == [-expected]
    assert Decimal(ledger["balance"]["amount"]) == Decimal("500") - expected


def test_one_advance_of_ten_hours_leaves_the_ledger_of_ten_one_hour_advances(
    service: Service, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each hour is settled at its hour: ten USAGE entries, one per hour boundary, the same
    as ten advances of an hour each on a second server started at the same moment.
    """
    tenant = service.factory.account(balance="500")
    instance_id = service.launch(tenant)
    service.advance(10 * HOUR)
    start = _time(service.instance(tenant, instance_id)["createdAt"])
    boundaries = [START.replace(minute=0) + timedelta(hours=h) for h in range(1, 11)]
    once = usage(service.ledger(tenant))
    assert [when for _, when in once] == boundaries
    assert [amount for amount, _ in once] == hourly(G5_C2M8, start, boundaries)
    assert [amount for amount, _ in once][1:] == [Decimal("-0.42")] * 9
    stepped = _stepped_ledger(settings, tmp_path_factory)
    assert stepped == once


def _stepped_ledger(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[Decimal, datetime]]:
    """The USAGE entries of the same launch on a server of its own started at the same
    moment, advanced an hour at a time.
    """
    with own_service(settings, tmp_path_factory) as other:
        tenant = other.factory.account(balance="500")
        other.launch(tenant)
        for _ in range(10):
            other.advance(HOUR)
        return usage(other.ledger(tenant))


def _into_arrears(service: Service) -> tuple[Tenant, str, datetime]:
    """A customer with 100 CNY runs bcc.g5.c16m64 (3.36/h) until a settlement leaves the
    balance below zero; returns the customer, the instance and that settlement's hour.
    """
    tenant = service.factory.account(balance="100")
    instance_id = service.launch(tenant, flavor="bcc.g5.c16m64")
    start = _time(service.instance(tenant, instance_id)["createdAt"])
    hours = [START.replace(minute=0) + timedelta(hours=h) for h in range(1, 40)]
    balance, arrears_hour = Decimal("100"), None
    for charge, hour in zip(hourly(G5_C16M64, start, hours), hours, strict=False):
        balance += charge
        if balance < 0:
            arrears_hour = hour
            break
    assert arrears_hour is not None
    service.advance(int((arrears_hour - START).total_seconds()) + 60)
    ledger = service.ledger(tenant)
    assert ledger["inArrears"] is True
    assert _time(ledger["arrearsSince"]) == arrears_hour
    assert Decimal(ledger["balance"]["amount"]) == balance
    shown = service.instance(tenant, instance_id)
    assert (shown["status"], shown["statusReason"]) == ("STOPPED", "ARREARS")
    return tenant, instance_id, arrears_hour


def test_arrears_stop_the_charges_and_end_in_a_release_after_the_grace_period(
    service: Service,
) -> None:
    tenant, instance_id, arrears_hour = _into_arrears(service)
    debt = Decimal(service.ledger(tenant)["balance"]["amount"])
    service.advance(6 * 24 * HOUR)  # within the grace period: stopped, nothing accrues
    assert Decimal(service.ledger(tenant)["balance"]["amount"]) == debt
    assert service.instance(tenant, instance_id)["status"] == "STOPPED"
    service.advance(2 * 24 * HOUR)  # past it: released, the debt stays
    shown = service.instance(tenant, instance_id)
    assert (shown["status"], shown["releaseReason"]) == ("RELEASED", "ARREARS")
    assert _time(shown["releasedAt"]) == arrears_hour + timedelta(days=7)
    ledger = service.ledger(tenant)
    assert Decimal(ledger["balance"]["amount"]) == debt
    assert ledger["inArrears"] is True
    assert [when for _, when in usage(ledger)][-1] == arrears_hour


def test_a_top_up_restarts_what_arrears_stopped_and_usage_counts_from_the_restart(
    service: Service,
) -> None:
    tenant, instance_id, arrears_hour = _into_arrears(service)
    debt = Decimal(service.ledger(tenant)["balance"]["amount"])
    service.advance(3 * HOUR)  # stopped for three more hours: free
    body = gql(service.client, TOP_UP, {"a": tenant.id, "m": "500"}, service.admin)
    topped = body["data"]["topUpAccount"]
    assert topped["account"] == {"inArrears": False, "arrearsSince": None}
    restarted = _time(topped["transaction"]["createdAt"])
    assert service.instance(tenant, instance_id)["status"] == "RUNNING"
    service.advance(HOUR)
    next_hour = restarted.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    ledger = service.ledger(tenant)
    [(charged, when)] = [entry for entry in usage(ledger) if entry[1] > arrears_hour]
    assert when == next_hour
    assert [charged] == hourly(G5_C16M64, restarted, [next_hour])
    assert Decimal(ledger["balance"]["amount"]) == debt + 500 + charged


def test_imaging_across_arrears_leaves_the_instance_stopped(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """createImage on a running postpaid instance; arrears begin while the image is being
    made; when it is done the instance is STOPPED for arrears, not RUNNING.
    """
    # the launch takes 20 hours (the money lasts about 30), the image 20 more
    with own_service(settings, tmp_path_factory, operation_seconds=20 * HOUR) as service:
        client, factory = service.client, service.factory
        tenant = factory.account(balance="100")
        image = factory.public_image()
        created = gql(client, CREATE, {"i": launch(image, flavor="bcc.g5.c16m64")}, tenant)
        instance_id = created["data"]["createInstances"]["instances"][0]["id"]
        service.advance(20 * HOUR + 60)  # the launch ends
        service.tick()
        assert service.instance(tenant, instance_id)["status"] == "RUNNING"
        source = {"source": {"instanceId": instance_id}, "name": "across-arrears"}
        captured = gql(client, CREATE_IMAGE, {"i": source}, tenant)["data"]["createImage"]
        assert captured["userErrors"] == [], captured
        assert service.instance(tenant, instance_id)["status"] == "IMAGE_PROCESSING"
        service.advance(20 * HOUR + 60)  # arrears begin meanwhile
        assert service.ledger(tenant)["inArrears"] is True
        service.tick()  # the image is done
        shown = service.instance(tenant, instance_id)
        assert (shown["status"], shown["statusReason"]) == ("STOPPED", "ARREARS")


def test_advance_clock_moves_at_most_forty_days(service: Service) -> None:
    body = gql(service.client, ADVANCE, {"s": 40 * 24 * HOUR + 1}, service.admin)
    errors = body["data"]["advanceClock"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", ["input", "seconds"])]
    assert errors[0]["message"] == "seconds is 1 to 3456000 (40 days)."
    service.advance(40 * 24 * HOUR)


def test_a_release_that_waited_for_a_clock_advance_elsewhere_is_dated_after_it(
    service: Service,
) -> None:
    """The interleaving of a release racing advanceClock on two processes, made certain: the
    release's process read the time before the other advanced the clock a day and settled it
    (23 hourly entries); once it holds its locks it reads the time again, so the release is
    dated after the advance and nothing is charged past it (it was dated at the old time, with
    23 hours charged).
    """
    tenant = service.factory.account(balance="500")
    instance_id = service.launch(tenant)
    elsewhere = Clock(simulated=True)  # a process that has not heard of the advance yet
    stale = elsewhere.now()
    service.advance(24 * HOUR)
    with write_session(service.factory.engine) as session:
        instance, _ = instance_actions.release(
            session=session,
            viewer=Viewer(tenant.id, Role.CUSTOMER, tenant.token_id),
            instance_id=instance_id,
            now=stale,
            clock=elsewhere,
        )
        released_at = instance.released_at
    assert released_at is not None and released_at >= stale + timedelta(days=1)
    service.advance(HOUR)
    created = _time(service.instance(tenant, instance_id)["createdAt"])
    hours = [START.replace(minute=0) + timedelta(hours=h) for h in range(1, 26)]
    ran = [hour for hour in hours if hour < released_at] + [released_at]
    charged = [amount for amount, _ in usage(service.ledger(tenant))]
    assert charged == hourly(G5_C2M8, created, ran)


def test_mutations_that_waited_for_a_clock_advance_elsewhere_are_dated_after_it(
    service: Service,
) -> None:
    """R166 for every mutation: another process is moving the simulated clock a day (it holds
    the clock's row, its transaction still open). A top-up and a launch sent meanwhile wait
    for it and are dated after the advance: they read the time inside their transaction,
    before locking anything else (they were dated at the time they arrived, a day early).
    """
    tenant = service.factory.account(balance="500")
    image = service.factory.public_image()
    with ThreadPoolExecutor(2) as pool, write_session(service.factory.engine) as session:
        state = session.exec(
            select(ClockState).where(ClockState.id == 1).with_for_update()
        ).first() or ClockState(id=1, offset_seconds=0.0)
        state.offset_seconds += 24 * HOUR
        session.add(state)
        session.flush()
        topped = pool.submit(
            gql, service.client, TOP_UP, {"a": tenant.id, "m": "10.00"}, service.admin
        )
        launched = pool.submit(gql, service.client, CREATE, {"i": launch(image)}, tenant)
        time.sleep(1.0)
        assert not topped.done() and not launched.done(), "they did not wait for the clock"
    top_up = topped.result()["data"]["topUpAccount"]
    created = launched.result()["data"]["createInstances"]
    assert top_up["userErrors"] == [] and created["userErrors"] == [], (top_up, created)
    instance_id = created["instances"][0]["id"]
    day_later = START + timedelta(days=1)
    assert _time(top_up["transaction"]["createdAt"]) >= day_later
    assert _time(service.instance(tenant, instance_id)["createdAt"]) >= day_later
