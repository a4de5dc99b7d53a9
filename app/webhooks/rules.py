"""Webhook rules (R176, R177, R199): the event types, endpoint limits, signing secrets, the
Standard Webhooks signature of a delivery and the retry schedule. Pure functions.

A delivery is signed as Standard Webhooks says: ``webhook-id`` (the delivery's id, kept by
every retry and redelivery so receivers can drop duplicates), ``webhook-timestamp`` (the real
time of the attempt, in seconds) and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256
of ``id.timestamp.body`` under the endpoint's secret; while a rotated-out secret still signs,
the header carries both signatures, separated by a space.
"""

from __future__ import annotations

import base64
import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from standardwebhooks.webhooks import Webhook

MAX_ENDPOINTS = 10  # per account
MAX_DESCRIPTION = 200
SECRET_PREFIX = "whsec_"
#: how long a rotated-out secret keeps signing beside the new one (service clock)
ROTATION_OVERLAP = timedelta(hours=24)
#: waits before each retry, counted from the previous attempt; then the delivery FAILED
RETRY_AFTER = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
#: an endpoint whose deliveries have failed for this long is disabled
DISABLE_AFTER = timedelta(days=5)
ATTEMPT_TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 64 * 1024  # read of an answer
KEPT_ANSWER_BYTES = 1024  # recorded of an answer
MAX_IN_FLIGHT = 8  # deliveries being sent at once, per process


class WebhookEventType(enum.Enum):
    """What a webhook tells (R176)."""

    LISTING_APPROVED = "LISTING_APPROVED"
    LISTING_REJECTED = "LISTING_REJECTED"
    LISTING_DELISTED = "LISTING_DELISTED"
    SALE_CREATED = "SALE_CREATED"
    SALE_REFUNDED = "SALE_REFUNDED"
    IMAGE_SHARED_WITH_ME = "IMAGE_SHARED_WITH_ME"
    SHARE_INVITATION = "SHARE_INVITATION"
    IMAGE_DEPRECATED = "IMAGE_DEPRECATED"
    IMAGE_DISABLED = "IMAGE_DISABLED"
    OPERATION_FINISHED = "OPERATION_FINISHED"
    INSTANCE_RELEASED = "INSTANCE_RELEASED"
    ACCOUNT_IN_ARREARS = "ACCOUNT_IN_ARREARS"
    TEST = "TEST"


class WebhookDeliveryStatus(enum.Enum):
    """Where a delivery stands."""

    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def new_secret() -> str:
    """A signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secrets_: Sequence[str], delivery_id: str, at: datetime, body: bytes) -> str:
    """The ``webhook-signature`` header of one attempt: a ``v1,`` signature per secret."""
    return " ".join(Webhook(secret).sign(delivery_id, at, body) for secret in secrets_)


def headers(secrets_: Sequence[str], delivery_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt made at ``at`` (real time)."""
    return {
        "content-type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": sign(secrets_, delivery_id, at, body),
    }


def next_attempt(attempts: int, last: datetime) -> datetime | None:
    """When the next attempt is due after ``attempts`` failed ones, the last at ``last``; None
    when the delivery has failed for good.
    """
    if attempts < 1 or attempts > len(RETRY_AFTER):
        return None
    return last + RETRY_AFTER[attempts - 1]


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status (None when no answer came) and why it failed."""

    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        """Whether the receiver took it (any 2xx answer)."""
        return self.status is not None and 200 <= self.status < 300
