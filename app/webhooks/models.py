"""Webhook tables: an account's endpoints, the deliveries owed to them (an outbox: a delivery
is written in the transaction of the change it tells of) and each attempt to send one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

from app.database import UTCDateTime


class WebhookEndpoint(SQLModel, table=True):
    """A URL an account has deliveries sent to, for the events it chose.

    ``secret`` and ``previous_secret`` are sealed (see ``app.webhooks.sealing``); the
    previous secret signs beside the current one until ``previous_until`` (service clock).
    ``failing_since`` is when its deliveries started failing without a success since.
    """

    __tablename__ = "webhook_endpoint"
    __table_args__ = (Index("ix_webhook_endpoint_owner", "owner_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=16)
    owner_id: str = Field(foreign_key="account.id", max_length=16)
    url: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(default="", max_length=200)
    events: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of event types
    secret: str = Field(sa_column=Column(Text, nullable=False))
    previous_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    previous_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=200)
    failing_since: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class WebhookDelivery(SQLModel, table=True):
    """One event owed to one endpoint: the body as sent (every attempt sends the same bytes,
    under the same ``webhook-id``), its status, and when it is next due (service clock).
    ``claimed_until`` (real time) keeps other senders off it while one sends it.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint", "endpoint_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=24)
    endpoint_id: str = Field(foreign_key="webhook_endpoint.id", max_length=16)
    owner_id: str = Field(foreign_key="account.id", max_length=16)
    event_type: str = Field(max_length=24)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=10)  # PENDING, SUCCEEDED, FAILED
    attempts: int = 0
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    claimed_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    #: when its owner last asked for it by hand (a test or a redelivery), service clock
    requested_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class WebhookAttempt(SQLModel, table=True):
    """One attempt to send a delivery: when (real time), the answer's status (null when none
    came), how long it took, the first KiB of the answer, and why it failed.
    """

    __tablename__ = "webhook_attempt"

    delivery_id: str = Field(foreign_key="webhook_delivery.id", primary_key=True, max_length=24)
    number: int = Field(primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status_code: int | None = None
    duration_ms: int = 0
    answer: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    error: str | None = Field(default=None, max_length=200)


class AccountEvent(SQLModel, table=True):
    """One event an account heard of, as the ``accountEvents`` subscription sends it: written
    with the webhook deliveries it causes (in the change's transaction), kept for a week.

    An account's events are read in the order of ``(xid, seq)``: on PostgreSQL ``xid`` is the
    writing transaction's id, and a reader takes only events of transactions older than every
    transaction still running, so an event committed late can never fall behind one already
    read (``seq`` alone is given at insert, not at commit). On SQLite, whose writers take
    turns, ``xid`` is 0 and ``seq`` is the order of commits. ``created_at`` is the event's
    time (service clock).
    """

    __tablename__ = "account_event"
    __table_args__ = (
        Index("ix_account_event_account", "account_id", "xid", "seq"),
        Index("ix_account_event_created", "created_at"),
        {"sqlite_autoincrement": True},  # numbers are never reused once the table empties
    )

    seq: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    id: str = Field(max_length=24, unique=True)
    account_id: str = Field(foreign_key="account.id", max_length=16)
    xid: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_type: str = Field(max_length=24)
    data: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
