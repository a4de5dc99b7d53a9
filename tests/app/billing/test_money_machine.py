"""The money model under any sequence of actions (hypothesis stateful test, R72-R75,
R100-R103, R126, R127).

A buyer tops up, launches (public Linux or Windows, market listings A and B prepaid, an
hourly integration listing C postpaid), rebuilds one instance or a batch onto any of those,
stops, starts, releases, lets the simulated clock run and settles. The test keeps its own
account of what each listing earned, re-deriving the rules (80 % of each SOFTWARE line,
rounded per line; pro-rated DAY lines for a listing not paid for in the term; refunds line
by line; reversals in the refund's proportion, never more than credited; hourly software
credited to the listing it ran under) and checks, after every step:

- every balance equals the sum of its ledger, and nothing is charged twice;
- no postpaid instance runs while its account is in arrears;
- each provider's net revenue is exactly what its listing earned (exact in the service's
  integer units, the hourly remainder carried per listing included);
- every quote equals the order it priced, and a refused action changes nothing;
- one advance of N hours leaves the ledger N one-hour advances leave.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.accounts.models import Account
from app.accounts.permissions import OPERATOR
from app.billing import service as billing_service
from app.billing.models import LedgerEntry, Order
from app.billing.pricing import ChargeKind, Timing
from app.clock import Clock
from app.config import Settings
from app.database import make_engine, read_session, write_session
from app.errors import DomainError
from app.images import service as images_service
from app.instances import service as instances_service
from app.instances.models import Instance, InstanceRate
from app.instances.rules import LaunchInput
from app.marketplace import lifecycle as listings
from app.marketplace.lifecycle import ListingInput
from app.marketplace.models import ListingRevenue
from app.marketplace.rules import Plan
from app.money import RATE_SCALE, USAGE_UNITS_PER_FEN
from app.operations.models import Operation
from app.operations.worker import Worker, hours_between
from app.platform.schedule import ClockState
from app.platform.viewer import Role, Viewer
from app.policy import Policy
from app.seed import prepare
from app.workflows import (
    arrears,
    capture,
    instance_actions,
    launch,
    launch_plan,
    publish,
    rebuild,
    rebuild_plan,
    settlement,
)
from tests.conftest import fresh_database
from tests.factories import Factory, custom_image

FEN = Decimal("0.01")
SHARE = Decimal("0.8")  # the provider's share with the seeded 20 % commission
FLAVOR = "bcc.g5.c2m8"
IMAGES = ("linux", "windows", "market_a", "market_b", "hourly_c")
PRICES = {"market_a": Decimal("199.00"), "market_b": Decimal("500.00")}
HOURLY_C = Decimal("5.00")
GRACE_DAYS = 7.0  # BCC_IMAGES_ARREARS_GRACE_DAYS's default
#: the wall clock while a release reads the service's time (the offset makes it self.now)
REAL = datetime(2026, 11, 1, tzinfo=UTC)

#: operations take no time here; postpaid needs 100 CNY, as the default settings say
POLICY = Policy(operation_seconds=0, operation_seconds_per_gb=0)


def fen(amount: Decimal) -> int:
    """A CNY amount in fen, rounded once, half up."""
    return int((amount / FEN).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def days_up(start: datetime, end: datetime) -> int:
    return max(0, math.ceil((end - start) / timedelta(days=1)))


@dataclass
class Line:
    """The model's record of one instance's share of one prepaid line."""

    kind: str
    listing: str | None
    amount: int
    revenue: int
    start: datetime
    end: datetime
    consumed: bool = False
    refunded: bool = False


@dataclass
class Box:
    """The model's record of one instance."""

    id: str
    timing: str
    image: str
    expires: datetime | None
    lines: list[Line] = field(default_factory=list)
    accrued_until: datetime | None = None
    released_at: datetime | None = None
    rates: dict[str, int] = field(default_factory=dict)  # postpaid: micros/hour by line
    carries: dict[str, int] = field(default_factory=dict)  # usage units each line carries
    held: bool = False  # stopped (or released) for arrears: accrues nothing


class MoneyMachine(RuleBasedStateMachine):
    """One buyer, three providers with one listing each, and the simulated clock."""

    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2026, 12, 1, tzinfo=UTC)
        self.boxes: dict[str, Box] = {}
        self.expected_revenue: dict[str, int] = defaultdict(int)  # prepaid fen per listing
        self.software_units: dict[str, int] = defaultdict(int)  # hourly units per listing
        self.usage_fen = 0  # all hourly usage charged to the buyer, line by line
        self.pending: list[str] = []  # operations the worker has not finished yet
        self.images_made = 0

    # -- set-up --------------------------------------------------------------------------------

    @initialize()
    def accounts_and_listings(self) -> None:
        factory = Factory(self.engine)
        self.buyer = factory.account(balance="3000")
        self.viewer = Viewer(self.buyer.id, Role.CUSTOMER, self.buyer.token_id)
        self.providers: dict[str, str] = {}
        self.listing_of: dict[str, str] = {}
        self.images: dict[str, str] = {
            "linux": factory.public_image(os_type="LINUX"),
            "windows": factory.public_image(os_type="WINDOWS"),
        }
        with write_session(self.engine) as session:
            admin = OPERATOR
        for name, plans in (
            ("market_a", [Plan(Timing.PREPAID, 1, PRICES["market_a"])]),
            ("market_b", [Plan(Timing.PREPAID, 1, PRICES["market_b"])]),
            ("hourly_c", [Plan(Timing.POSTPAID, None, HOURLY_C)]),
        ):
            provider = factory.account(Role.PROVIDER)
            seller = Viewer(provider.id, Role.PROVIDER, provider.token_id)
            source = custom_image(self.engine, provider.id)
            kind = "INTEGRATION" if name == "hourly_c" else "MARKET"
            with write_session(self.engine) as session:
                listing = publish.create(
                    session=session,
                    viewer=seller,
                    data=ListingInput(
                        kind=kind,
                        title=f"listing {name}",
                        summary="",
                        category="test",
                        version="1",
                        image_ids=[source],
                        plans=plans,
                    ),
                    now=self.now,
                )
                listings.submit(session=session, viewer=seller, listing_id=listing.id, now=self.now)
                publish.approve(session=session, viewer=admin, listing_id=listing.id, now=self.now)
                published = images_service.images_of_listings(
                    session=session, listing_ids=[listing.id]
                )[listing.id]
            self.providers[listing.id] = provider.id
            self.images[name] = published[0].id
            self.listing_of[name] = listing.id
        # every sequence starts from a fleet of each kind, up and running
        for image, timing in (
            ("market_a", "PREPAID"),
            ("market_b", "PREPAID"),
            ("windows", "PREPAID"),
            ("hourly_c", "POSTPAID"),
            ("linux", "POSTPAID"),
        ):
            self.launch_instances(image, timing, 1)
        self.run_operations()
        assert len(self.boxes) == 5

    # -- helpers ---------------------------------------------------------------------------------

    def _snapshot(self) -> tuple[Any, ...]:
        """Everything a refused action must leave as it was."""
        with read_session(self.engine) as session:
            ledger = session.exec(select(LedgerEntry.id)).all()
            rows = session.exec(
                select(Instance.id, Instance.status, Instance.charge_listing_id).where(
                    Instance.owner_id == self.buyer.id
                )
            ).all()
            orders = session.exec(select(Order.id).where(Order.account_id == self.buyer.id)).all()
        return (sorted(ledger), sorted(rows), sorted(orders))

    def _try(self, action: Any) -> Any:
        """Run a service action in one transaction; a refusal must change nothing."""
        before = self._snapshot()
        try:
            with write_session(self.engine) as session:
                return action(session)
        except DomainError:
            assert self._snapshot() == before, "a refused action changed something"
            return None

    def _launch_input(self, image: str, timing: str, count: int) -> LaunchInput:
        return LaunchInput(
            region="bj",
            flavor=FLAVOR,
            image_id=self.images[image],
            storage_type="CDS_SSD",
            disk_gb=40,
            timing=Timing(timing),
            months=1 if timing == "PREPAID" else None,
            count=count,
        )

    def _hourly(self, image: str) -> dict[str, int]:
        """The hourly micros one instance on this image pays postpaid, line by line."""
        with read_session(self.engine) as session:
            plan = launch_plan.quote(
                session=session,
                viewer=self.viewer,
                launch=self._launch_input(image, "POSTPAID", 1),
                now=self.now,
            )
        return {
            line.kind.value: int(line.quantity * line.unit_price * RATE_SCALE)
            for line in plan.lines
        }

    def _accrue(self, box: Box, until: datetime) -> None:
        """Hourly usage of a postpaid instance, minute by minute, as the rules say: a released
        one is settled once, in whole minutes up to its release; one held for arrears accrues
        nothing (R165, R167).
        """
        if box.accrued_until is None:
            return
        released = box.released_at is not None and box.released_at <= until
        end = box.released_at if released and box.released_at else until
        minutes = int((end - box.accrued_until) // timedelta(minutes=1))
        if released:
            box.accrued_until = max(end, box.accrued_until)
        elif minutes > 0:
            box.accrued_until += timedelta(minutes=minutes)
        if minutes <= 0 or box.held:
            return
        for kind, rate in box.rates.items():
            # each line rounds its own carry to the fen, half away from zero (R167, R191)
            carried = box.carries.get(kind, 0) + minutes * rate
            charged = int(
                (Decimal(carried) / USAGE_UNITS_PER_FEN).quantize(Decimal(1), ROUND_HALF_UP)
            )
            box.carries[kind] = carried - charged * USAGE_UNITS_PER_FEN
            self.usage_fen += charged
        listing = self.listing_of.get(box.image)
        if listing is not None and box.rates.get("SOFTWARE"):
            self.software_units[listing] += minutes * box.rates["SOFTWARE"]

    def _follow_holds(self) -> None:
        """Follow which instances arrears hold (the service decides when an account is in
        arrears; the money they then do not accrue is the model's own rule): a hold that
        ended (a top-up, a start, a release by the owner) counts usage again from now; an
        instance released at the end of the grace period is released when the service says.
        """
        with read_session(self.engine) as session:
            rows = {
                row.id: row
                for row in session.exec(select(Instance).where(Instance.owner_id == self.buyer.id))
            }
        for box in self.boxes.values():
            row = rows[box.id]
            held = row.status_reason == "ARREARS"
            if box.held and not held and box.accrued_until is not None:
                box.accrued_until = max(box.accrued_until, self.now)
            box.held = held
            if row.release_reason == "ARREARS":
                box.released_at = row.released_at

    # -- rules -----------------------------------------------------------------------------------

    @rule(amount=st.sampled_from(["50.00", "800.00", "5000.00"]))
    def top_up(self, amount: str) -> None:
        with write_session(self.engine) as session:
            settlement.top_up(
                session=session,
                viewer=OPERATOR,
                account_id=self.buyer.id,
                amount=Decimal(amount),
                now=self.now,
            )
        self._follow_holds()

    @rule(
        image=st.sampled_from(IMAGES),
        timing=st.sampled_from(["PREPAID", "POSTPAID"]),
        count=st.integers(1, 2),
    )
    def launch_instances(self, image: str, timing: str, count: int) -> None:
        request = self._launch_input(image, timing, count)
        with read_session(self.engine) as session:
            try:
                quoted = launch_plan.quote(
                    session=session, viewer=self.viewer, launch=request, now=self.now
                )
            except DomainError:
                quoted = None

        def create(session: Session) -> launch.Launched:
            return launch.create_instances(
                session=session,
                viewer=self.viewer,
                launch=request,
                now=self.now,
                policy=POLICY,
            )

        launched = self._try(create)
        if launched is None:
            return
        assert quoted is not None, "createInstances accepted what the quote refused"
        ids = [i.id for i in launched.instances]
        self.pending.append(launched.operation.id)
        if timing == "PREPAID":
            self._record_order(
                launched.order.id if launched.order else None, ids, quoted.total, self.now, image
            )
        else:
            rates = self._hourly(image)
            for instance_id in ids:
                self.boxes[instance_id] = Box(
                    instance_id, timing, image, None, accrued_until=self.now, rates=dict(rates)
                )

    def _record_order(
        self, order_id: str | None, ids: list[str], quoted: Decimal, start: datetime, image: str
    ) -> None:
        """A NEW_INSTANCES order: each line split among the instances; SOFTWARE pays 80 %."""
        assert order_id is not None
        with read_session(self.engine) as session:
            order = session.get(Order, order_id)
            assert order is not None
            assert order.total_minor == fen(quoted), "the order is not what was quoted"
            lines = billing_service.order_lines(session=session, order_ids=[order_id])[order_id]
            expires = {
                i: (session.get(Instance, i).expires_at or start)  # type: ignore[union-attr]
                for i in ids
            }
        for instance_id in ids:
            self.boxes[instance_id] = Box(instance_id, "PREPAID", image, expires[instance_id])
        listing = self.listing_of.get(image)
        for line in lines:
            amount = fen(line.amount)
            parts = [
                amount // len(ids) + (1 if k < amount % len(ids) else 0) for k in range(len(ids))
            ]
            revenue = fen(line.amount * SHARE) if line.kind is ChargeKind.SOFTWARE else 0
            revenues = [
                revenue // len(ids) + (1 if k < revenue % len(ids) else 0) for k in range(len(ids))
            ]
            if line.kind is ChargeKind.SOFTWARE:
                assert listing is not None
                self.expected_revenue[listing] += revenue
            for k, instance_id in enumerate(ids):
                self.boxes[instance_id].lines.append(
                    Line(
                        line.kind.value,
                        listing if line.kind is ChargeKind.SOFTWARE else None,
                        parts[k],
                        revenues[k],
                        start,
                        expires[instance_id],
                    )
                )

    def _live(self) -> list[str]:
        # in launch order: ids are random, and draws must pick the same instance on a replay
        return [i for i, box in self.boxes.items() if box.released_at is None]

    def _pick(self, data: st.DataObject, most: int = 1) -> list[str]:
        """Instances not released yet (a released one only ever answers not found)."""
        live = self._live()
        return data.draw(st.lists(st.sampled_from(live), min_size=1, max_size=most, unique=True))

    @precondition(lambda self: bool(self._live()))
    @rule(data=st.data(), image=st.sampled_from(IMAGES))
    def rebuild_one(self, data: st.DataObject, image: str) -> None:
        """rebuildInstance: the one-instance form."""
        self._rebuild(
            rebuild_plan.RebuildRequest(tuple(self._pick(data)), self.images[image], batch=False),
            image,
        )

    @precondition(lambda self: bool(self._live()))
    @rule(data=st.data(), image=st.sampled_from(IMAGES))
    def rebuild_batch(self, data: st.DataObject, image: str) -> None:
        """rebuildInstances: several at once, all or nothing."""
        self._rebuild(
            rebuild_plan.RebuildRequest(tuple(self._pick(data, 3)), self.images[image]), image
        )

    def _rebuild(self, request: rebuild_plan.RebuildRequest, image: str) -> None:
        with read_session(self.engine) as session:
            try:
                quoted = rebuild_plan.quote(
                    session=session, viewer=self.viewer, request=request, now=self.now
                )
            except DomainError:
                quoted = None

        def run(session: Session) -> rebuild.Rebuilt:
            return rebuild.rebuild(
                session=session,
                viewer=self.viewer,
                request=request,
                now=self.now,
                policy=POLICY,
            )

        done = self._try(run)
        if done is None:
            return
        assert quoted is not None, "rebuildInstances accepted what the quote refused"
        with read_session(self.engine) as session:
            order = done.order
            lines = (
                billing_service.order_lines(session=session, order_ids=[order.id])[order.id]
                if order
                else []
            )
        assert (order.total_minor if order else 0) == fen(quoted.total), "quote != order"
        listing = self.listing_of.get(image)
        for instance_id in request.instance_ids:
            self._rebuild_one(self.boxes[instance_id], image, listing, lines)
        self.pending += [o.id for o in done.operations]
        # a postpaid instance pays from now on exactly the hourly lines it was quoted (R169)
        with read_session(self.engine) as session:
            for change in quoted.changes:
                if change.timing is not Timing.POSTPAID:
                    continue
                paid = session.exec(
                    select(InstanceRate).where(InstanceRate.instance_id == change.instance.id)
                ).all()
                quoted_rates = {
                    line.kind.value: int(line.quantity * line.unit_price * RATE_SCALE)
                    for line in change.after
                }
                assert {r.kind: r.hourly_micros for r in paid} == quoted_rates, "quote != rates"
                assert self.boxes[change.instance.id].rates == quoted_rates

    @rule()
    def run_operations(self) -> None:
        """The worker finishes the operations started so far (instances come up, rebuilds
        end), at the service's time, whatever happened meanwhile."""
        handlers: dict[str, Any] = {
            "CREATE_INSTANCES": launch.CreateInstancesHandler(),
            "REBUILD_INSTANCE": rebuild.RebuildHandler(),
            "CREATE_IMAGE": capture.CreateImageHandler(),
        }
        with write_session(self.engine) as session:
            for operation_id in self.pending:
                operation = session.get(Operation, operation_id)
                assert operation is not None
                handlers[operation.kind].complete(session, operation, self.now, None)
        self.pending = []
        self._follow_holds()

    def _rebuild_one(self, box: Box, image: str, listing: str | None, lines: list[Any]) -> None:
        if box.timing == "POSTPAID":
            self._accrue(box, self.now)  # owed to the listing it ran under until now
            # the image lines start afresh; compute and disk keep the launch's rates (R168)
            new = self._hourly(image)
            for kind in ("WINDOWS_LICENSE", "SOFTWARE"):
                box.carries.pop(kind, None)
                box.rates.pop(kind, None)
                if kind in new:
                    box.rates[kind] = new[kind]
        else:
            windows = image == "windows"
            for line in box.lines:
                if line.kind == "WINDOWS_LICENSE" and not windows:
                    line.consumed = True
                if line.kind == "SOFTWARE" and line.listing != listing:
                    line.consumed = True
            paid = {(line.kind, line.listing) for line in box.lines}
            assert box.expires is not None
            for kind, paid_listing in (("WINDOWS_LICENSE", None), ("SOFTWARE", listing)):
                if kind == "WINDOWS_LICENSE" and not windows:
                    continue
                if kind == "SOFTWARE" and listing is None:
                    continue
                if (kind, paid_listing) in paid:
                    continue  # paid for in this term: nothing charged again
                [line] = [
                    ln
                    for ln in lines
                    if ln.kind.value == kind and ln.description.endswith(f"({box.id})")
                ]
                amount = fen(line.amount)
                if kind == "SOFTWARE":
                    # the plan's price for the term, per day, for the days left (6 places)
                    term = days_up(box.lines[0].start, box.expires)
                    left = days_up(self.now, box.expires)
                    per_day = (PRICES[image] / term).quantize(Decimal("0.000001"), ROUND_HALF_UP)
                    assert amount == fen(left * per_day), "a pro-rated line is priced wrong"
                revenue = fen(line.amount * SHARE) if kind == "SOFTWARE" else 0
                if listing is not None and kind == "SOFTWARE":
                    self.expected_revenue[listing] += revenue
                box.lines.append(Line(kind, paid_listing, amount, revenue, self.now, box.expires))
        box.image = image

    @precondition(lambda self: bool(self._live()))
    @rule(data=st.data())
    def image_instance(self, data: st.DataObject) -> None:
        """createImage from an instance: it is IMAGE_PROCESSING until the worker finishes,
        whatever arrears or the end of its term do meanwhile (R168)."""
        [instance] = self._pick(data)
        self.images_made += 1
        new = capture.NewImage(name=f"made-{self.images_made}", instance_id=instance)
        started = self._try(
            lambda s: capture.create_image(
                session=s, viewer=self.viewer, new=new, policy=POLICY, now=self.now
            )
        )
        if started is not None:
            self.pending.append(started.operation.id)

    @precondition(lambda self: bool(self._live()))
    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        [instance] = self._pick(data)
        self._try(
            lambda s: instance_actions.stop(session=s, viewer=self.viewer, instance_id=instance)
        )

    @precondition(lambda self: bool(self._live()))
    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        [instance] = self._pick(data)
        self._try(
            lambda s: instance_actions.start(
                session=s, viewer=self.viewer, instance_id=instance, now=self.now
            )
        )
        self._follow_holds()

    @precondition(lambda self: bool(self._live()))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        [instance] = self._pick(data)
        done = self._try(
            lambda s: instance_actions.release(
                session=s, viewer=self.viewer, instance_id=instance, now=self.now
            )
        )
        if done is not None:
            self._released(instance, done[1])

    @precondition(lambda self: bool(self._live()))
    @rule(data=st.data(), minutes=st.sampled_from([60, 24 * 60]))
    def release_racing_an_advance(self, data: st.DataObject, minutes: int) -> None:
        """releaseInstance read the time, then waited while another process advanced the
        clock and settled the hours passed: once it holds its locks it reads the time again,
        so it is dated after the advance and nothing is charged past it (R166)."""
        [instance] = self._pick(data)
        stale = self.now
        self.advance_clock(minutes)
        with write_session(self.engine) as session:  # the shared offset the advance left
            state = session.get(ClockState, 1) or ClockState(id=1, offset_seconds=0.0)
            state.offset_seconds = (self.now - REAL).total_seconds()
            session.add(state)
        with time_machine.travel(REAL, tick=False):  # the service's clock reads self.now
            done = self._try(
                lambda s: instance_actions.release(
                    session=s,
                    viewer=self.viewer,
                    instance_id=instance,
                    now=stale,
                    clock=Clock(simulated=True),
                )
            )
        if done is not None:
            assert done[0].released_at == self.now, "the release was dated before the advance"
            self._released(instance, done[1])

    def _released(self, instance: str, refund: int) -> None:
        """The model's release at ``self.now``: usage up to it, each line refunded."""
        self._follow_holds()
        box = self.boxes[instance]
        box.released_at = self.now
        expected = 0
        for line in box.lines:
            if line.consumed or line.refunded:
                continue
            line.refunded = True
            term = max(1, days_up(line.start, line.end))
            used = days_up(line.start, self.now)
            value = Decimal(line.amount) / 100
            back = (
                fen(value - Decimal(used) * value / term * Decimal("1.5"))
                if self.now < line.end
                else 0
            )
            back = max(0, back)
            expected += back
            if line.kind == "SOFTWARE" and line.listing and back and line.revenue:
                reversal = min(line.revenue, fen(Decimal(line.revenue) / 100 * back / line.amount))
                self.expected_revenue[line.listing] -= reversal
        assert refund == expected, f"refund {refund} != {expected}"

    @rule(minutes=st.sampled_from([61, 24 * 60, 37, 7 * 24 * 60, 1, 31 * 24 * 60]))
    def advance_clock(self, minutes: int) -> None:
        """Time passes; as the scheduler does, usage is settled up to the last whole hour
        (for this buyer: the scheduler's own once-an-hour bookkeeping is shared by every
        example) and terms that ended stop their instances. (That one advance of N hours
        settles each of them as N one-hour advances would is
        tests/schema/billing/test_money_that_ends.py's.)"""
        self.now += timedelta(minutes=minutes)
        hour = settlement.last_whole_hour(self.now)
        with write_session(self.engine) as session:
            settlement.settle(session=session, until=hour, account_id=self.buyer.id)
            instances_service.expire_due(session, self.now)
            arrears.ArrearsReleases(GRACE_DAYS)(session, self.now)
        self._accrue_all(hour)
        self._follow_holds()

    @precondition(lambda self: hasattr(self, "buyer"))
    @rule(hours=st.integers(2, 12), minutes=st.sampled_from([0, 23]))
    def advance_hours(self, hours: int, minutes: int) -> None:
        """One advance of N hours, as advanceClock runs it (Worker.run_periodic: every job at
        each whole hour in turn) must leave the ledger N one-hour advances leave: one USAGE
        entry per hour, dated at its hour, of exactly the model's hour (R166). Only while
        the balance covers the hours: when arrears start mid-way, which instances they stop
        is the service's to say, and the model learns it only after the move."""
        with read_session(self.engine) as session:
            account = session.get(Account, self.buyer.id)
            assert account is not None
            balance = account.balance_minor
        burn = sum(
            sum(box.rates.values()) // (RATE_SCALE // 100) + 1
            for box in self.boxes.values()
            if box.timing == "POSTPAID" and box.released_at is None and not box.held
        )
        if balance - burn * (hours + 1) < 0:
            return
        before, self.now = self.now, self.now + timedelta(hours=hours, minutes=minutes)

        def settle_buyer(session: Session, moment: datetime) -> None:
            until = settlement.last_whole_hour(moment)
            settlement.settle(session=session, until=until, account_id=self.buyer.id)

        jobs: list[Callable[[Session, datetime], None]] = [
            settle_buyer,
            instances_service.expire_due,
            arrears.ArrearsReleases(GRACE_DAYS),
        ]
        clock: Any = SimpleNamespace(now=lambda: self.now, simulated=False)
        Worker(self.engine, clock, {}, periodic=jobs).run_periodic(since=before)
        expected = []
        for hour in hours_between(before, self.now):
            charged = self.usage_fen
            self._accrue_all(hour)
            if self.usage_fen != charged:
                expected.append((hour, charged - self.usage_fen))
        with read_session(self.engine) as session:
            entries = session.exec(
                select(LedgerEntry)
                .where(
                    LedgerEntry.account_id == self.buyer.id,
                    LedgerEntry.kind == "USAGE",
                    col(LedgerEntry.created_at) > before,
                )
                .order_by(col(LedgerEntry.created_at))
            ).all()
        assert [(e.created_at, e.amount_minor) for e in entries] == expected, (
            "an advance of hours was not settled hour by hour"
        )
        self._follow_holds()

    @rule()
    def settle(self) -> None:
        """An admin settles everything up to now."""
        with write_session(self.engine) as session:
            settlement.settle(session=session, until=self.now, account_id=self.buyer.id)
        self._accrue_all(self.now)
        self._follow_holds()

    def _accrue_all(self, until: datetime) -> None:
        for box in self.boxes.values():
            if box.timing == "POSTPAID":
                self._accrue(box, until)

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def balances_are_their_ledgers(self) -> None:
        if not hasattr(self, "buyer"):
            return
        with read_session(self.engine) as session:
            for account_id in [self.buyer.id, *self.providers.values()]:
                account = session.get(Account, account_id)
                assert account is not None
                total = billing_service.ledger_sum(session=session, account_id=account_id)
                assert account.balance_minor == total, "balance != sum of ledger"
            orders = session.exec(select(Order).where(Order.account_id == self.buyer.id)).all()
            charged = session.exec(
                select(LedgerEntry).where(
                    LedgerEntry.account_id == self.buyer.id, LedgerEntry.kind == "ORDER"
                )
            ).all()
            assert sorted((-e.amount_minor, e.reference) for e in charged) == sorted(
                (o.total_minor, o.id) for o in orders
            ), "an order was charged twice or not at all"

    @invariant()
    def nothing_runs_in_arrears(self) -> None:
        if not hasattr(self, "buyer"):
            return
        with read_session(self.engine) as session:
            account = session.get(Account, self.buyer.id)
            assert account is not None
            if account.in_arrears:
                running = session.exec(
                    select(Instance.id).where(
                        Instance.owner_id == self.buyer.id,
                        Instance.billing_timing == "POSTPAID",
                        Instance.status == "RUNNING",
                    )
                ).all()
                assert running == [], "a postpaid instance runs while its account is in arrears"

    @invariant()
    def nothing_is_settled_past_a_release(self) -> None:
        """A released instance is settled up to its release and never past it (R167)."""
        with read_session(self.engine) as session:
            past = session.exec(
                select(Instance.id).where(
                    Instance.released_at.is_not(None),  # type: ignore[union-attr]
                    Instance.accrued_until > Instance.released_at,  # type: ignore[operator]
                )
            ).all()
        assert past == [], "an instance was settled past its release"

    @invariant()
    def nothing_runs_past_its_term(self) -> None:
        """Once the clock has passed a prepaid term's end, the instance never runs again:
        not after a start, nor when imaging or a rebuild gives it back (R168)."""
        if not hasattr(self, "buyer"):
            return
        with read_session(self.engine) as session:
            running = session.exec(
                select(Instance.id).where(
                    Instance.owner_id == self.buyer.id,
                    Instance.billing_timing == "PREPAID",
                    Instance.status == "RUNNING",
                    Instance.expires_at <= self.now,  # type: ignore[operator]
                )
            ).all()
        assert running == [], "a prepaid instance runs past the end of its term"

    @invariant()
    def each_listing_earned_exactly_its_share(self) -> None:
        if not hasattr(self, "providers"):
            return
        with read_session(self.engine) as session:
            for listing, provider in self.providers.items():
                net = session.exec(
                    select(LedgerEntry.amount_minor).where(
                        LedgerEntry.account_id == provider,
                        LedgerEntry.kind.in_(["PROVIDER_REVENUE", "PROVIDER_REVERSAL"]),  # type: ignore[attr-defined]
                    )
                ).all()
                carried = session.get(ListingRevenue, listing)
                carry = carried.carry if carried else 0
                # what the hourly usage under the listing earned, exactly (in millionths of
                # usage units), is what was credited in fen plus what is carried
                hourly_fen_scaled = (sum(net) - self.expected_revenue[listing]) * (
                    USAGE_UNITS_PER_FEN * RATE_SCALE
                )
                owed = self.software_units[listing] * int(SHARE * RATE_SCALE)
                assert hourly_fen_scaled + carry == owed, f"listing {listing} earned the wrong sum"

    @invariant()
    def hourly_usage_is_charged_exactly_once(self) -> None:
        if not hasattr(self, "buyer"):
            return
        with read_session(self.engine) as session:
            usage = session.exec(
                select(LedgerEntry.amount_minor).where(
                    LedgerEntry.account_id == self.buyer.id, LedgerEntry.kind == "USAGE"
                )
            ).all()
            assert -sum(usage) == self.usage_fen, "hourly usage charged wrong, line by line"


@pytest.fixture(scope="module")
def own_engine(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database of its own: the machine publishes many listings and images, which other
    tests' catalogue pages must not see."""
    with fresh_database(tmp_path_factory) as url:
        engine = make_engine(settings.model_copy(update={"database_url": url}))
        prepare(engine, settings.seed_dir, datetime(2026, 11, 30, tzinfo=UTC))
        try:
            yield engine
        finally:
            engine.dispose()


def test_the_money_model_holds_under_any_sequence(own_engine: Engine) -> None:
    MoneyMachine.engine = own_engine
    run = MoneyMachine.TestCase
    run.settings = settings(
        max_examples=50,
        stateful_step_count=40,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    run().runTest()
