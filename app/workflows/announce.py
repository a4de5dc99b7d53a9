"""What accounts hear of by webhook (R199) from the workflows: providers of their listings'
reviews, their sales and refunds taken back from them; owners of their instances' releases;
owners and users of images of their deprecation and disabling.
Each event is written to the webhook outbox in the transaction of the change it tells of,
with what its recipient may read of the resource (a sale names its buyer's account id, never
more of the buyer).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app.billing.models import ChargeShare
from app.images import service as images_service
from app.images.models import Image, ImageShare
from app.images.rules import ShareStatus, is_deprecated
from app.instances.models import Instance
from app.instances.rules import InstanceStatus
from app.marketplace.models import Listing, Sale
from app.money import money_json
from app.platform.viewer import Role, Viewer
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


def image_deprecated(session: Session, image: Image, now: datetime) -> None:
    """Tell those who use an image that it is deprecated (or will be, from ``deprecateAt``),
    with its later stages and the image to use instead: its owner, every account it is
    shared with (accepted) and every account with a live instance of it. Each learns what it
    may read: an account that no longer sees the image learns its id alone, and the
    replacement is named only to those who may see it.
    """

    def data(viewer: Viewer | None) -> dict[str, Any]:
        described = _described(session, image, viewer)
        if len(described) == 1:  # it no longer sees the image: its id alone
            return {"image": described}
        replacement = image.replacement_id
        if viewer is not None and replacement is not None:
            seen = images_service.get(session=session, viewer=viewer, image_id=replacement)
            replacement = seen.id if seen is not None else None
        deprecation = {
            "state": "DEPRECATED" if is_deprecated(image, now) else "SCHEDULED",
            "deprecateAt": _iso(image.deprecate_at),
            "disableAt": _iso(image.disable_at),
            "deleteAt": _iso(image.delete_at),
            "replacementImageId": replacement,
        }
        return {"image": {**described, "deprecation": deprecation}}

    _tell_users(session, image, WebhookEventType.IMAGE_DEPRECATED, data, now)


def image_disabled(session: Session, image: Image, now: datetime) -> None:
    """Tell those who use an image that it was disabled: no new launch, rebuild, copy or
    share of it (running instances keep running). Only its owner still sees it, so the
    others learn its id alone.
    """
    _tell_users(
        session,
        image,
        WebhookEventType.IMAGE_DISABLED,
        lambda viewer: {"image": _described(session, image, viewer)},
        now,
    )


def _described(session: Session, image: Image, viewer: Viewer | None) -> dict[str, Any]:
    """The image as ``viewer`` may read it (None: its owner, who also reads its note)."""
    if viewer is None:
        return {
            "id": image.id,
            "name": image.name,
            "region": image.region_code,
            "note": image.lifecycle_note,
        }
    if images_service.get(session=session, viewer=viewer, image_id=image.id) is None:
        return {"id": image.id}
    return {"id": image.id, "name": image.name, "region": image.region_code}


def _tell_users(
    session: Session,
    image: Image,
    event: WebhookEventType,
    data: Callable[[Viewer | None], dict[str, Any]],
    now: datetime,
) -> None:
    """Emit ``event`` to the image's owner and, one by one with what each may read, to every
    account that took a share of it or runs it (read as a customer would).
    """
    shared = select(ImageShare.account_id).where(
        ImageShare.image_id == image.id, ImageShare.status == ShareStatus.ACCEPTED.value
    )
    running = select(Instance.owner_id).where(
        Instance.image_id == image.id, Instance.status != InstanceStatus.RELEASED.value
    )
    users = (set(session.exec(shared)) | set(session.exec(running))) - {image.owner_id}
    outbox.emit(
        session=session, account_ids=[image.owner_id], event=event, data=data(None), now=now
    )
    for account_id in sorted(users):
        viewer = Viewer(account_id, Role.CUSTOMER, "")
        outbox.emit(
            session=session, account_ids=[account_id], event=event, data=data(viewer), now=now
        )


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None
