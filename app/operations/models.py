"""Long-running operations, persisted so they survive restarts (R60, R61)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from app.database import UTCDateTime


class Operation(SQLModel, table=True):
    """A job such as CREATE_INSTANCES; one worker at a time holds its lease."""

    __table_args__ = (
        Index("ix_operation_status_due", "status", "due_at"),
        Index("ix_operation_owner_created", "owner_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=16)
    kind: str = Field(max_length=24)
    status: str = Field(max_length=12)
    progress: int = Field(default=0)
    owner_id: str = Field(foreign_key="account.id", max_length=16)
    target_ids: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of ids
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    duration_seconds: float = Field(default=0.0)
    error_code: str | None = Field(default=None, max_length=40)
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    claimed_by: str | None = Field(default=None, max_length=40)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    attempts: int = Field(default=0)
