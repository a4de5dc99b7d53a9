"""Account and API token tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from app.database import UTCDateTime


class Account(SQLModel, table=True):
    """A tenant. ``balance_minor`` mirrors the sum of its ledger (fen) for row locking.

    ``in_arrears`` is ``balance_minor < 0``, kept beside it; ``arrears_since`` is when the
    balance last went below zero (the start of the grace period), null at zero or above.
    """

    id: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=65)
    role: str = Field(max_length=16)
    seed_key: str | None = Field(default=None, max_length=64, unique=True)
    balance_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    in_arrears: bool = Field(default=False)
    custom_image_quota: int | None = Field(default=None)
    share_acceptance: str = Field(default="AUTOMATIC", max_length=10)  # images.rules
    arrears_since: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ApiToken(SQLModel, table=True):
    """A bearer token; only its SHA-256 hash is stored."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_account_id", "account_id"),)

    id: str = Field(primary_key=True, max_length=20)
    account_id: str = Field(foreign_key="account.id", max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
