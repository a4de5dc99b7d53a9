"""The ``accountEvents`` subscription: the viewer's account's events as they happen, in the
envelopes its webhooks carry.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

import orjson
import strawberry
from strawberry.scalars import JSON

from app.errors import BadRequest, shown
from app.ids import is_id
from app.platform.events import FEED
from app.webhooks import stream
from app.webhooks.models import AccountEvent as EventRow
from app.webhooks.outbox import events_key
from app.webhooks.rules import WebhookEventType
from schema.context import Info
from schema.mutation import argument
from schema.permissions import SignedIn


@strawberry.type(
    description=(
        "Something your account heard of: the envelope a webhook delivery of it carries "
        "({type, timestamp, data}) and the event's id."
    )
)
class AccountEvent:
    id: strawberry.ID = strawberry.field(
        description="Event id (evt-...): give it as accountEvents' after to resume after it."
    )
    type: WebhookEventType = strawberry.field(description="What happened.")
    timestamp: datetime = strawberry.field(description="When it happened (service clock).")
    data: JSON = strawberry.field(
        description="What happened to what, as your account may read it: the same object "
        "as the data of the webhook delivery."
    )

    @classmethod
    def from_row(cls, row: EventRow) -> AccountEvent:
        """An event as recorded."""
        data: Any = orjson.loads(row.data)
        return cls(
            id=strawberry.ID(row.id),
            type=WebhookEventType(row.event_type),
            timestamp=row.created_at,
            data=data,
        )


Types = Annotated[
    list[WebhookEventType] | None,
    argument("Only these events (default: every event your account hears of)."),
]
After = Annotated[
    strawberry.ID | None,
    argument(
        "Resume just after this event of yours (evt-..., from the last 7 days): the events "
        "since then are sent first. Default: only events from now on."
    ),
]


@strawberry.type
class WebhookSubscriptions:
    @strawberry.subscription(
        permission_classes=[SignedIn],
        description=(
            "Your account's events as they happen, oldest first, each once: listings "
            "reviewed, sales and refunds, shares, image deprecations and disablings, finished "
            "operations, released instances, arrears. Every event is kept for 7 days, so a "
            "client that reconnects with after loses nothing."
        ),
    )
    async def account_events(
        self, info: Info, types: Types = None, after: After = None
    ) -> AsyncGenerator[AccountEvent, None]:
        context = info.context
        viewer = context.require_viewer()
        account_id = viewer.account_id
        wanted = [t.value for t in types] if types else None
        if after is not None and not is_id(str(after), "evt"):
            raise BadRequest(
                f"{shown(str(after))} is not an event id (evt- followed by 16 letters or digits).",
                ["after"],
            )
        async with context.one_event():
            cursor = stream.open_cursor(
                context.session, account_id, wanted, str(after) if after is not None else None
            )
        if cursor is None:
            raise BadRequest(
                f"Your account has no event {shown(str(after))} in the last 7 days: "
                "subscribe without after to hear of events from now on.",
                ["after"],
            )
        while True:
            # one slot and session per read, given back before the events are sent
            async with context.one_event():
                rows = stream.read(context.session, cursor)
                events = [AccountEvent.from_row(row) for row in rows]
            for event in events:
                yield event
            if len(events) < stream.BATCH:
                await FEED.wait(
                    events_key(account_id), context.services.settings.event_fallback_seconds
                )
