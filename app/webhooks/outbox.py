"""The webhook outbox (R177, R179): a change that tells of itself writes one delivery per
endpoint that hears of it, and one account event per account (what ``accountEvents`` sends),
in its own transaction, so both exist exactly when the change does (a process killed after
the commit loses nothing; one killed before it sends nothing). Any service may write to it:
it reads and writes only the webhook tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlmodel import Session, col, select

from app.ids import new_id
from app.platform.events import publish
from app.webhooks import stream
from app.webhooks.models import AccountEvent, WebhookDelivery, WebhookEndpoint
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
    """Owe ``event`` to every enabled endpoint of these accounts that hears of it, and record
    it as an event of each account, in the caller's transaction; returns how many deliveries
    were written. ``data`` is what every one of the accounts may read of the resource.
    """
    accounts = sorted(set(account_ids))
    xid = stream.transaction_id(session)
    for account_id in accounts:
        session.add(
            AccountEvent(
                id=new_id("evt"),
                account_id=account_id,
                xid=xid,
                event_type=event.value,
                data=orjson.dumps(data).decode(),
                created_at=now,
            )
        )
        publish(session, events_key(account_id))
    endpoints = session.exec(
        select(WebhookEndpoint).where(
            col(WebhookEndpoint.owner_id).in_(accounts),
            col(WebhookEndpoint.enabled).is_(True),
            col(WebhookEndpoint.events).contains(f'"{event.value}"'),
        )
    ).all()
    for endpoint in endpoints:
        session.add(delivery(endpoint, event, data, now))
    session.flush()
    return len(endpoints)


def events_key(account_id: str) -> str:
    """The change-feed key an account's new events publish when their transaction commits."""
    return f"account-events:{account_id}"
