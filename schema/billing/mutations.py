"""Admin billing mutations: settle usage, advance the simulated clock (R63, R74, R82)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlmodel import Session

from app.operations import service as operations_service
from app.workflows import settlement
from schema.accounts.types import Transaction
from schema.context import Info
from schema.errors import UserError, mutate
from schema.permissions import SignedIn


@strawberry.input(description="Settle postpaid usage up to a time.")
class SettleUsageInput:
    until: datetime | None = strawberry.field(
        default=None, description="Up to when (UTC); defaults to now and may not be later."
    )


@strawberry.type(description="Result of settleUsage.")
class SettleUsagePayload:
    transactions: list[Transaction] = strawberry.field(description="The USAGE entries charged.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was settled.")


@strawberry.input(description="Move the simulated clock forward.")
class AdvanceClockInput:
    seconds: int = strawberry.field(description="Seconds to add (1 to ten years).")


@strawberry.type(description="Result of advanceClock.")
class AdvanceClockPayload:
    now: datetime | None = strawberry.field(description="The service's time afterwards.")
    user_errors: list[UserError] = strawberry.field(description="Why the clock did not move.")


@strawberry.type
class BillingMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Charge postpaid usage up to a time (admin only).",
    )
    def settle_usage(self, info: Info, input: SettleUsageInput) -> SettleUsagePayload:
        viewer = info.context.require_viewer()
        now = info.context.clock.now()

        def action(session: Session) -> SettleUsagePayload:
            entries = settlement.settle_usage(
                session=session, actor=viewer, until=input.until, now=now
            )
            return SettleUsagePayload(
                transactions=[Transaction.from_row(e) for e in entries], user_errors=[]
            )

        return mutate(info, action, SettleUsagePayload)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Advance the simulated clock (admin only; the service must run with a simulated "
            "clock). Scheduled jobs that became due (hourly settlement, the end of prepaid "
            "terms) run before it answers."
        ),
    )
    def advance_clock(self, info: Info, input: AdvanceClockInput) -> AdvanceClockPayload:
        viewer = info.context.require_viewer()
        clock = info.context.clock

        def action(session: Session) -> AdvanceClockPayload:
            offset = operations_service.advance_clock(
                session=session, actor=viewer, clock=clock, seconds=input.seconds
            )
            clock.set_offset(offset)
            return AdvanceClockPayload(now=clock.now(), user_errors=[])

        payload = mutate(info, action, AdvanceClockPayload)
        if payload.now is not None and info.context.worker is not None:
            # the scheduled jobs that became due (settlement, expiry) run before we answer
            info.context.worker.run_periodic()
        return payload
