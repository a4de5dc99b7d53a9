"""Webhooks: the queries that read an account's endpoints and deliveries, and the mutations
that register, change, rotate and test them.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.webhooks import rules, service
from app.webhooks.models import WebhookDelivery as DeliveryRow
from app.webhooks.rules import WebhookDeliveryStatus, WebhookEventType
from app.webhooks.sealing import Sealer
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.mutation import argument, mutation
from schema.pagination import Connection, Window, connection, page_request, paged
from schema.permissions import SignedIn
from schema.webhooks.types import WebhookDelivery, WebhookEndpoint

EndpointId = Annotated[strawberry.ID, argument("Webhook endpoint id (whe-...).")]
URL = (
    "Where deliveries are POSTed: https:// (http:// only where the service allows it), "
    "resolving only to public addresses; no user name or password."
)
EVENTS = "The events it hears of (at least one; TEST is sent only by sendTestWebhook)."
DESCRIPTION = f"What it is for, in your words (at most {rules.MAX_DESCRIPTION} characters)."


@strawberry.type(description="A webhook endpoint after a change.")
class WebhookEndpointResult(Payload):
    endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint as it is now."
    )


@strawberry.type(description="A webhook endpoint with a new signing secret.")
class WebhookSecretResult(Payload):
    endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint as it is now."
    )
    secret: str | None = strawberry.field(
        default=None,
        description="Its signing secret (whsec_...), shown this once and never again: "
        "verify deliveries with it (any Standard Webhooks library does).",
    )


@strawberry.type(description="A deleted webhook endpoint.")
class DeletedWebhookEndpoint(Payload):
    deleted_endpoint_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the endpoint deleted, with its deliveries."
    )


@strawberry.type(description="A webhook delivery queued to be sent.")
class WebhookDeliveryResult(Payload):
    delivery: WebhookDelivery | None = strawberry.field(
        default=None, description="The delivery, as it stands now."
    )


def _sealer(info: Info) -> Sealer:
    sealer = info.context.services.sealer
    if sealer is None:
        raise RuntimeError("this process was started without a webhook sealer")
    return sealer


def _delivery(c: Call, row: DeliveryRow) -> WebhookDeliveryResult:
    attempts = service.attempts_of(c.session, [row.id])[row.id]
    return WebhookDeliveryResult(delivery=WebhookDelivery.from_row(row, attempts))


@strawberry.type
class WebhookQueries:
    @strawberry.field(
        permission_classes=[SignedIn],
        description=f"Your webhook endpoints, oldest first (at most {rules.MAX_ENDPOINTS}).",
    )
    def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        viewer = info.context.require_viewer()
        rows = service.of_account(session=info.context.session, viewer=viewer)
        return [WebhookEndpoint.from_row(row) for row in rows]

    @paged(
        permission_classes=[SignedIn],
        description="Your webhook deliveries, newest first, with their attempts.",
    )
    def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this endpoint's.")
        ] = None,
        status: Annotated[
            WebhookDeliveryStatus | None, strawberry.argument(description="Only these.")
        ] = None,
        window: Window = Window(),
    ) -> Connection[WebhookDelivery]:
        viewer = info.context.require_viewer()
        info.context.uncacheable = True  # the sender records attempts as they happen
        session = info.context.session
        page = service.deliveries(
            session=session,
            viewer=viewer,
            endpoint_id=str(endpoint_id) if endpoint_id is not None else None,
            status=status.value if status is not None else None,
            page=page_request(info, window, filters=[endpoint_id, status]),
        )
        attempts = service.attempts_of(session, [row.id for row in page.items])
        return connection(page, lambda row: WebhookDelivery.from_row(row, attempts[row.id]))


@strawberry.type
class WebhookMutations:
    @mutation(
        f"Register a URL to send webhook deliveries to (at most {rules.MAX_ENDPOINTS} per "
        "account). Each delivery is a POST signed as Standard Webhooks says (webhook-id, "
        "webhook-timestamp, webhook-signature), retried with backoff for about 28 hours "
        "until the endpoint answers 2xx. The answer holds its signing secret, shown once.",
        input="A new webhook endpoint.",
    )
    def create_webhook_endpoint(
        self,
        info: Info,
        url: Annotated[str, argument(URL)],
        events: Annotated[list[WebhookEventType], argument(EVENTS)],
        description: Annotated[str | None, argument(DESCRIPTION)] = None,
    ) -> WebhookSecretResult:
        spec = service.EndpointSpec(url, tuple(events), description or "")
        sealer, allow_http = _sealer(info), info.context.services.settings.webhook_allow_http

        def work(c: Call) -> WebhookSecretResult:
            row, secret = service.create(
                **c.acting, spec=spec, sealer=sealer, allow_http=allow_http, now=c.now
            )
            return WebhookSecretResult(endpoint=WebhookEndpoint.from_row(row), secret=secret)

        return mutate(info, WebhookSecretResult, work)

    @mutation(
        "Change a webhook endpoint of yours; omitted fields stay as they are. Enabling it "
        "again after the platform disabled it forgets why.",
        input="What to change in a webhook endpoint.",
    )
    def update_webhook_endpoint(
        self,
        info: Info,
        endpoint_id: EndpointId,
        url: Annotated[str | None, argument(URL)] = None,
        events: Annotated[list[WebhookEventType] | None, argument(EVENTS)] = None,
        description: Annotated[str | None, argument(DESCRIPTION)] = None,
        enabled: Annotated[bool | None, argument("Whether deliveries are sent.")] = None,
    ) -> WebhookEndpointResult:
        change = service.EndpointChange(
            url=url,
            events=tuple(events) if events is not None else None,
            description=description,
            enabled=enabled,
        )
        allow_http = info.context.services.settings.webhook_allow_http

        def work(c: Call) -> WebhookEndpointResult:
            row = service.update(
                **c.acting,
                endpoint_id=str(endpoint_id),
                change=change,
                allow_http=allow_http,
                now=c.now,
            )
            return WebhookEndpointResult(endpoint=WebhookEndpoint.from_row(row))

        return mutate(info, WebhookEndpointResult, work)

    @mutation(
        "Delete a webhook endpoint of yours, with its deliveries; nothing more is sent to it.",
        input="Which webhook endpoint to delete.",
    )
    def delete_webhook_endpoint(
        self, info: Info, endpoint_id: EndpointId
    ) -> DeletedWebhookEndpoint:
        def work(c: Call) -> DeletedWebhookEndpoint:
            deleted = service.remove(**c.acting, endpoint_id=str(endpoint_id))
            return DeletedWebhookEndpoint(deleted_endpoint_id=strawberry.ID(deleted))

        return mutate(info, DeletedWebhookEndpoint, work)

    @mutation(
        "Give a webhook endpoint of yours a new signing secret, shown once. For 24 hours "
        "deliveries carry two signatures, one by each secret, so the receiver can switch "
        "without missing any.",
        input="Which webhook endpoint gets a new secret.",
    )
    def rotate_webhook_secret(self, info: Info, endpoint_id: EndpointId) -> WebhookSecretResult:
        sealer = _sealer(info)

        def work(c: Call) -> WebhookSecretResult:
            row, secret = service.rotate(
                **c.acting, endpoint_id=str(endpoint_id), sealer=sealer, now=c.now
            )
            return WebhookSecretResult(endpoint=WebhookEndpoint.from_row(row), secret=secret)

        return mutate(info, WebhookSecretResult, work)

    @mutation(
        "Send a TEST delivery to a webhook endpoint of yours, whatever events it hears of "
        f"(at most {service.MANUAL_PER_MINUTE} tests and redeliveries a minute).",
        input="Which webhook endpoint to test.",
    )
    def send_test_webhook(self, info: Info, endpoint_id: EndpointId) -> WebhookDeliveryResult:
        def work(c: Call) -> WebhookDeliveryResult:
            row = service.send_test(**c.acting, endpoint_id=str(endpoint_id), now=c.now)
            return _delivery(c, row)

        return mutate(info, WebhookDeliveryResult, work)

    @mutation(
        "Send a delivery of yours again now, with the same webhook-id and body (receivers "
        f"that drop duplicates drop it; at most {service.MANUAL_PER_MINUTE} tests and "
        "redeliveries a minute).",
        input="Which webhook delivery to send again.",
    )
    def redeliver_webhook(
        self,
        info: Info,
        delivery_id: Annotated[strawberry.ID, argument("Delivery id (whd-...).")],
    ) -> WebhookDeliveryResult:
        def work(c: Call) -> WebhookDeliveryResult:
            row = service.redeliver(**c.acting, delivery_id=str(delivery_id), now=c.now)
            return _delivery(c, row)

        return mutate(info, WebhookDeliveryResult, work)
