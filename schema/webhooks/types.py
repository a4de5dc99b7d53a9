"""Webhook endpoints, deliveries and attempts as GraphQL types."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.webhooks import service
from app.webhooks.models import WebhookAttempt as AttemptRow
from app.webhooks.models import WebhookDelivery as DeliveryRow
from app.webhooks.models import WebhookEndpoint as EndpointRow
from app.webhooks.rules import WebhookDeliveryStatus, WebhookEventType

#: the most attempts a delivery shows (the newest)
MAX_ATTEMPTS_SHOWN = 20


@strawberry.type(description="A URL your account has webhook deliveries sent to.")
class WebhookEndpoint:
    id: strawberry.ID = strawberry.field(description="Endpoint id (whe-...).")
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    description: str = strawberry.field(description="What it is for, in your words.")
    events: list[WebhookEventType] = strawberry.field(description="The events it hears of.")
    enabled: bool = strawberry.field(
        description="Whether deliveries are sent to it (false once it has failed for 5 days)."
    )
    disabled_reason: str | None = strawberry.field(
        description="Why the platform disabled it; null while enabled or disabled by you."
    )
    failing_since: datetime | None = strawberry.field(
        description="Since when its deliveries fail without a success; null when they succeed."
    )
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="Until when the secret rotated out last keeps signing beside the new one."
    )
    created_at: datetime = strawberry.field(description="When it was registered.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: EndpointRow) -> WebhookEndpoint:
        """The endpoint as its owner reads it (never its secret)."""
        return cls(
            id=strawberry.ID(row.id),
            url=row.url,
            description=row.description,
            events=service.events_of(row),
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            failing_since=row.failing_since,
            previous_secret_expires_at=row.previous_until if row.previous_secret else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="One attempt to send a webhook delivery.")
class WebhookAttempt:
    number: int = strawberry.field(description="1 for the first attempt, then 2, 3, ...")
    at: datetime = strawberry.field(description="When it was made (real time).")
    status_code: int | None = strawberry.field(
        description="The HTTP status of the answer; null when no answer came."
    )
    duration_ms: int = strawberry.field(description="How long it took, in milliseconds.")
    answer: str = strawberry.field(description="The first KiB of the answer's body.")
    error: str | None = strawberry.field(description="Why it failed; null when it succeeded.")

    @classmethod
    def from_row(cls, row: AttemptRow) -> WebhookAttempt:
        """An attempt as recorded."""
        return cls(
            number=row.number,
            at=row.at,
            status_code=row.status_code,
            duration_ms=row.duration_ms,
            answer=row.answer,
            error=row.error,
        )


@strawberry.type(description="An event owed to one of your endpoints, and its attempts.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(
        description="Delivery id (whd-...), sent as the webhook-id header by every attempt."
    )
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint it is sent to.")
    event_type: WebhookEventType = strawberry.field(description="What it tells.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where it stands.")
    body: str = strawberry.field(
        description='The JSON body every attempt sends: {"type", "timestamp", "data"}.'
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is next tried (service clock); null once it succeeded or failed."
    )
    created_at: datetime = strawberry.field(description="When the event happened.")
    attempts: list[WebhookAttempt] = strawberry.field(
        description=f"Its attempts, first first (the last {MAX_ATTEMPTS_SHOWN} at most)."
    )

    @classmethod
    def from_row(cls, row: DeliveryRow, attempts: list[AttemptRow]) -> WebhookDelivery:
        """A delivery with its attempts."""
        return cls(
            id=strawberry.ID(row.id),
            endpoint_id=strawberry.ID(row.endpoint_id),
            event_type=WebhookEventType(row.event_type),
            status=WebhookDeliveryStatus(row.status),
            body=row.body,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
            attempts=[WebhookAttempt.from_row(a) for a in attempts[-MAX_ATTEMPTS_SHOWN:]],
        )
