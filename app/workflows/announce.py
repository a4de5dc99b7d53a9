"""What accounts hear of by webhook (R199) from the workflows: providers of their listings'
reviews, their sales and refunds taken back from them; owners of their instances' releases.
Each event is written to the webhook outbox in the transaction of the change it tells of,
with what its recipient may read of the resource (a sale names its buyer's account id, never
more of the buyer).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session

from app.billing.models import ChargeShare
from app.instances.models import Instance
from app.marketplace.models import Listing, Sale
from app.money import money_json
from app.webhooks import outbox
from app.webhooks.rules import WebhookEventType


def listing_reviewed(
    session: Session, listing: Listing, event: WebhookEventType, now: datetime
) -> None:
    """Tell the listing's provider it was approved, rejected or delisted."""
    data = {
        "listing": {
            "id": listing.id,
            "title": listing.title,
            "kind": listing.kind,
            "status": listing.status,
            "reviewNote": listing.review_note,
        }
    }
    outbox.emit(session=session, account_ids=[listing.provider_id], event=event, data=data, now=now)


def sale_created(session: Session, sale: Sale, now: datetime) -> None:
    """Tell the listing's provider of a sale: what was paid, its share, the order and line
    that paid it, the instances and the buyer's account.
    """
    data = {
        "sale": {
            "id": sale.id,
            "listingId": sale.listing_id,
            "orderId": sale.order_id,
            "orderLine": sale.order_line,
            "timing": sale.plan_timing,
            "amount": money_json(sale.amount_minor),
            "providerShare": money_json(sale.revenue_minor),
            "buyerAccountId": sale.buyer_id,
            "instanceIds": json.loads(sale.instance_ids),
        }
    }
    outbox.emit(
        session=session,
        account_ids=[sale.provider_id],
        event=WebhookEventType.SALE_CREATED,
        data=data,
        now=now,
    )


def sale_refunded(
    session: Session,
    provider_id: str,
    share: ChargeShare,
    refund_minor: int,
    reversal_minor: int,
    now: datetime,
) -> None:
    """Tell a provider that a buyer's refund took back part of what a sale earned it."""
    instance = session.get(Instance, share.instance_id)
    data = {
        "refund": {
            "listingId": share.listing_id,
            "orderId": share.order_id,
            "instanceId": share.instance_id,
            "buyerAccountId": instance.owner_id if instance else None,
            "refunded": money_json(refund_minor),
            "providerReversal": money_json(reversal_minor),
        }
    }
    outbox.emit(
        session=session,
        account_ids=[provider_id],
        event=WebhookEventType.SALE_REFUNDED,
        data=data,
        now=now,
    )


def instance_released(session: Session, instance: Instance, now: datetime) -> None:
    """Tell an instance's owner it was released (by itself, or for arrears)."""
    data = {
        "instance": {
            "id": instance.id,
            "name": instance.name,
            "releaseReason": instance.release_reason,
            "releasedAt": instance.released_at.isoformat() if instance.released_at else None,
        }
    }
    outbox.emit(
        session=session,
        account_ids=[instance.owner_id],
        event=WebhookEventType.INSTANCE_RELEASED,
        data=data,
        now=now,
    )
