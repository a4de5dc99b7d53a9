"""Webhook endpoints and deliveries (R176, R177, R199): what an account registers, reads and
asks for. Changes write what they tell of with ``app.webhooks.outbox``; sending is
``app.webhooks.sender``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import InvalidToken
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from app.accounts import service as accounts_service
from app.errors import DomainError, ErrorCode, input_field, not_found, raise_all
from app.ids import is_id, new_id
from app.pagination import Page, PageRequest, given, newest_first
from app.platform.viewer import Viewer
from app.webhooks import outbox, rules
from app.webhooks.destinations import url_problem
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.rules import WebhookEventType
from app.webhooks.sealing import Sealer

PENDING, SUCCEEDED, FAILED = outbox.PENDING, outbox.SUCCEEDED, outbox.FAILED
#: test deliveries and redeliveries an account may ask for per minute
MANUAL_PER_MINUTE = 10


@dataclass(frozen=True)
class EndpointSpec:
    """What an endpoint is: its URL, the events it hears of and a description."""

    url: str
    events: tuple[WebhookEventType, ...]
    description: str = ""


def _problems(spec: EndpointSpec, *, allow_http: bool) -> list[DomainError]:
    problems = []
    if (problem := url_problem(spec.url, allow_http=allow_http)) is not None:
        problems.append(DomainError(ErrorCode.INVALID_INPUT, problem, input_field("url")))
    if not spec.events or WebhookEventType.TEST in spec.events:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT,
                "Choose at least one event (TEST is sent only by sendTestWebhook).",
                input_field("events"),
            )
        )
    if len(spec.description) > rules.MAX_DESCRIPTION:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT,
                f"A description is at most {rules.MAX_DESCRIPTION} characters.",
                input_field("description"),
            )
        )
    return problems


def events_of(endpoint: WebhookEndpoint) -> list[WebhookEventType]:
    """The events an endpoint hears of."""
    return [WebhookEventType(name) for name in json.loads(endpoint.events)]


def _events_json(events: Sequence[WebhookEventType]) -> str:
    return json.dumps(sorted({event.value for event in events}))


def create(
    *,
    session: Session,
    viewer: Viewer,
    spec: EndpointSpec,
    sealer: Sealer,
    allow_http: bool,
    now: datetime,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown this once).

    Raises:
        DomainError / DomainErrors: INVALID_INPUT, WEBHOOK_ENDPOINT_QUOTA_EXCEEDED.
    """
    raise_all(_problems(spec, allow_http=allow_http))
    # the account first: two creations at once count each other (R155)
    accounts_service.lock_account(session=session, account_id=viewer.account_id)
    count = session.exec(
        select(func.count()).where(col(WebhookEndpoint.owner_id) == viewer.account_id)
    ).one()
    if count >= rules.MAX_ENDPOINTS:
        raise DomainError(
            ErrorCode.WEBHOOK_ENDPOINT_QUOTA_EXCEEDED,
            f"An account has at most {rules.MAX_ENDPOINTS} webhook endpoints; delete one first.",
        )
    secret = rules.new_secret()
    endpoint = WebhookEndpoint(
        id=new_id("whe"),
        owner_id=viewer.account_id,
        url=spec.url,
        description=spec.description,
        events=_events_json(spec.events),
        secret=sealer.seal(secret),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def owned(session: Session, viewer: Viewer, endpoint_id: str, *path: str) -> WebhookEndpoint:
    """One of the viewer's endpoints, locked.

    Raises:
        DomainError: WEBHOOK_ENDPOINT_NOT_FOUND (absent or another account's).
    """
    found = None
    if is_id(endpoint_id, "whe"):
        found = session.exec(
            select(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint_id).with_for_update()
        ).first()
    if found is None or (found.owner_id != viewer.account_id and not viewer.is_admin):
        raise not_found(
            ErrorCode.WEBHOOK_ENDPOINT_NOT_FOUND, "webhook endpoint", endpoint_id, *path
        )
    return found


@dataclass(frozen=True)
class EndpointChange:
    """What updateWebhookEndpoint changes (None: left as it is)."""

    url: str | None = None
    events: tuple[WebhookEventType, ...] | None = None
    description: str | None = None
    enabled: bool | None = None


def update(
    *,
    session: Session,
    viewer: Viewer,
    endpoint_id: str,
    change: EndpointChange,
    allow_http: bool,
    now: datetime,
) -> WebhookEndpoint:
    """Change an endpoint; enabling it again forgets why it was disabled.

    Raises:
        DomainError / DomainErrors: WEBHOOK_ENDPOINT_NOT_FOUND, INVALID_INPUT.
    """
    endpoint = owned(session, viewer, endpoint_id, "endpointId")
    spec = EndpointSpec(
        url=endpoint.url if change.url is None else change.url,
        events=tuple(events_of(endpoint)) if change.events is None else change.events,
        description=endpoint.description if change.description is None else change.description,
    )
    raise_all(_problems(spec, allow_http=allow_http))
    endpoint.url, endpoint.description = spec.url, spec.description
    endpoint.events = _events_json(spec.events)
    if change.enabled is not None:
        endpoint.enabled = change.enabled
        if change.enabled:
            endpoint.disabled_reason, endpoint.failing_since = None, None
    endpoint.updated_at = now
    session.add(endpoint)
    session.flush()
    return endpoint


def remove(*, session: Session, viewer: Viewer, endpoint_id: str) -> str:
    """Delete an endpoint with its deliveries and their attempts; returns its id.

    Raises:
        DomainError: WEBHOOK_ENDPOINT_NOT_FOUND.
    """
    endpoint = owned(session, viewer, endpoint_id, "endpointId")
    deliveries = select(WebhookDelivery.id).where(col(WebhookDelivery.endpoint_id) == endpoint.id)
    session.execute(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(deliveries)))
    session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id))
    session.delete(endpoint)
    session.flush()
    return endpoint.id


def rotate(
    *, session: Session, viewer: Viewer, endpoint_id: str, sealer: Sealer, now: datetime
) -> tuple[WebhookEndpoint, str]:
    """Give an endpoint a new signing secret (shown this once); the old one keeps signing
    beside it for 24 hours.

    Raises:
        DomainError: WEBHOOK_ENDPOINT_NOT_FOUND.
    """
    endpoint = owned(session, viewer, endpoint_id, "endpointId")
    secret = rules.new_secret()
    endpoint.previous_secret, endpoint.secret = endpoint.secret, sealer.seal(secret)
    endpoint.previous_until = now + rules.ROTATION_OVERLAP
    endpoint.updated_at = now
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def signing_secrets(endpoint: WebhookEndpoint, sealer: Sealer, now: datetime) -> list[str]:
    """The secrets that sign a delivery to ``endpoint`` now: the current one, and the one
    rotated out while its 24 hours last.
    """
    kept = [sealer.open(endpoint.secret)]  # raises InvalidToken when sealed under another key
    if endpoint.previous_secret and endpoint.previous_until and now < endpoint.previous_until:
        with contextlib.suppress(InvalidToken):  # one sealed under another key is left out
            kept.append(sealer.open(endpoint.previous_secret))
    return kept


def of_account(*, session: Session, viewer: Viewer) -> list[WebhookEndpoint]:
    """The viewer's endpoints, oldest first."""
    stmt = (
        select(WebhookEndpoint)
        .where(col(WebhookEndpoint.owner_id) == viewer.account_id)
        .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
    )
    return list(session.exec(stmt))


def deliveries(
    *,
    session: Session,
    viewer: Viewer,
    endpoint_id: str | None,
    status: str | None,
    page: PageRequest,
) -> Page[WebhookDelivery]:
    """One page of the viewer's deliveries, newest first (of one endpoint, in one status)."""
    stmt = select(WebhookDelivery).where(
        col(WebhookDelivery.owner_id) == viewer.account_id,
        *given((WebhookDelivery.endpoint_id, endpoint_id), (WebhookDelivery.status, status)),
    )
    return newest_first(session, stmt, WebhookDelivery, page)


def attempts_of(session: Session, delivery_ids: Sequence[str]) -> dict[str, list[WebhookAttempt]]:
    """The attempts of these deliveries, first first."""
    found: dict[str, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return found
    stmt = (
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
        .order_by(col(WebhookAttempt.delivery_id), col(WebhookAttempt.number))
    )
    for attempt in session.exec(stmt):
        found[attempt.delivery_id].append(attempt)
    return found


def _manual_allowed(session: Session, account_id: str, now: datetime) -> None:
    """At most 10 test deliveries and redeliveries a minute per account (the account is
    locked: concurrent requests count each other).
    """
    accounts_service.lock_account(session=session, account_id=account_id)
    recent = session.exec(
        select(func.count()).where(
            col(WebhookDelivery.owner_id) == account_id,
            col(WebhookDelivery.requested_at) > now - timedelta(minutes=1),
        )
    ).one()
    if recent >= MANUAL_PER_MINUTE:
        raise DomainError(
            ErrorCode.WEBHOOK_RATE_LIMITED,
            f"At most {MANUAL_PER_MINUTE} test deliveries and redeliveries a minute; "
            "try again in a minute.",
        )


def send_test(
    *, session: Session, viewer: Viewer, endpoint_id: str, now: datetime
) -> WebhookDelivery:
    """Queue a TEST delivery to one of the viewer's endpoints (whatever events it hears of).

    Raises:
        DomainError: WEBHOOK_ENDPOINT_NOT_FOUND, WEBHOOK_RATE_LIMITED.
    """
    endpoint = owned(session, viewer, endpoint_id, "endpointId")
    _manual_allowed(session, endpoint.owner_id, now)
    delivery = outbox.delivery(endpoint, WebhookEventType.TEST, {"endpointId": endpoint.id}, now)
    delivery.requested_at = now
    session.add(delivery)
    session.flush()
    return delivery


def redeliver(
    *, session: Session, viewer: Viewer, delivery_id: str, now: datetime
) -> WebhookDelivery:
    """Send a delivery again, now, with the same ``webhook-id`` and body.

    Raises:
        DomainError: WEBHOOK_DELIVERY_NOT_FOUND, WEBHOOK_RATE_LIMITED.
    """
    found = None
    if is_id(delivery_id, "whd"):
        found = session.exec(
            select(WebhookDelivery).where(col(WebhookDelivery.id) == delivery_id).with_for_update()
        ).first()
    if found is None or (found.owner_id != viewer.account_id and not viewer.is_admin):
        raise not_found(
            ErrorCode.WEBHOOK_DELIVERY_NOT_FOUND, "webhook delivery", delivery_id, "deliveryId"
        )
    _manual_allowed(session, found.owner_id, now)
    found.status, found.next_attempt_at, found.requested_at = PENDING, now, now
    session.add(found)
    session.flush()
    return found
