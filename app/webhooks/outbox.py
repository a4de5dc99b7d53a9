"""The webhook outbox (R177): a change that tells of itself writes one delivery per endpoint
that hears of it, in its own transaction, so the delivery exists exactly when the change does
(a process killed after the commit loses nothing; one killed before it sends nothing). Any
service may write to it: it reads and writes only the webhook tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlmodel import Session, col, select

from app.ids import new_id
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.rules import WebhookDeliveryStatus, WebhookEventType

PENDING = WebhookDeliveryStatus.PENDING.value
SUCCEEDED = WebhookDeliveryStatus.SUCCEEDED.value
FAILED = WebhookDeliveryStatus.FAILED.value


def delivery(
    endpoint: WebhookEndpoint, event: WebhookEventType, data: Mapping[str, Any], now: datetime
) -> WebhookDelivery:
    """A delivery of ``event`` to ``endpoint``, due now: the body every attempt sends."""
    envelope = {"type": event.value, "timestamp": now.isoformat(), "data": data}
    return WebhookDelivery(
        id=new_id("whd"),
        endpoint_id=endpoint.id,
        owner_id=endpoint.owner_id,
        event_type=event.value,
        body=orjson.dumps(envelope).decode(),
        status=PENDING,
        next_attempt_at=now,
        created_at=now,
    )


def emit(
    *,
    session: Session,
    account_ids: Iterable[str],
    event: WebhookEventType,
    data: Mapping[str, Any],
    now: datetime,
) -> int:
    """Owe ``event`` to every enabled endpoint of these accounts that hears of it, in the
    caller's transaction; returns how many deliveries were written. ``data`` is what every
    one of the accounts may read of the resource.
    """
    endpoints = session.exec(
        select(WebhookEndpoint).where(
            col(WebhookEndpoint.owner_id).in_(sorted(set(account_ids))),
            col(WebhookEndpoint.enabled).is_(True),
            col(WebhookEndpoint.events).contains(f'"{event.value}"'),
        )
    ).all()
    for endpoint in endpoints:
        session.add(delivery(endpoint, event, data, now))
    if endpoints:
        session.flush()
    return len(endpoints)
