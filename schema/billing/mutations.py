"""Admin billing mutations: settle usage, advance the simulated clock (R63, R74, R82)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import strawberry

from app.operations import service as operations_service
from app.workflows import settlement
from schema.accounts.types import Transaction
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.mutation import argument, mutation


@strawberry.type(description="Result of settleUsage.")
class SettleUsagePayload(Payload):
    transactions: list[Transaction] = strawberry.field(description="The USAGE entries charged.")


@strawberry.type(description="Result of advanceClock.")
class AdvanceClockPayload(Payload):
    now: datetime | None = strawberry.field(description="The service's time afterwards.")


@strawberry.type
class BillingMutations:
    @mutation(
        "Charge postpaid usage up to a time (admin only).",
        input="Settle postpaid usage up to a time.",
    )
    def settle_usage(
        self,
        info: Info,
        until: Annotated[
            datetime | None,
            argument("Up to when (UTC); defaults to now and may not be later."),
        ] = None,
    ) -> SettleUsagePayload:
        def work(c: Call) -> SettleUsagePayload:
            entries = settlement.settle_usage(**c.acting, until=until, now=c.now)
            return SettleUsagePayload(transactions=[Transaction.from_row(e) for e in entries])

        return mutate(info, SettleUsagePayload, work)

    @mutation(
        "Advance the simulated clock (admin only; the service must run with a simulated "
        "clock) by at most 40 days. The scheduled jobs that became due run before it "
        "answers, in time order: each hourly settlement at its hour, the end of prepaid "
        "terms, releases at the end of the arrears grace period, purges; so one advance of "
        "N hours leaves the ledger N one-hour advances would.",
        input="Move the simulated clock forward.",
    )
    def advance_clock(
        self,
        info: Info,
        seconds: Annotated[int, argument("Seconds to add (1 to 3,456,000: 40 days).")],
    ) -> AdvanceClockPayload:
        clock = info.context.services.clock

        def work(c: Call) -> AdvanceClockPayload:
            offset = operations_service.advance_clock(**c.acting, clock=clock, seconds=seconds)
            clock.set_offset(offset)
            return AdvanceClockPayload(now=clock.now())

        payload = mutate(info, AdvanceClockPayload, work)
        if payload.now is not None and info.context.services.worker is not None:
            # the scheduled jobs that became due run before we answer, hour by hour
            since = payload.now - timedelta(seconds=seconds)
            info.context.services.worker.run_periodic(since)
        return payload
