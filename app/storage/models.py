"""Uploaded objects in the regional object store (R45)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from app.database import UTCDateTime


class StoredObject(SQLModel, table=True):
    """An uploaded file: who owns it, where it is, how big, its SHA-256."""

    __tablename__ = "stored_object"
    __table_args__ = (Index("ix_stored_object_owner_created", "owner_id", "created_at", "key"),)

    key: str = Field(primary_key=True, max_length=20)
    owner_id: str = Field(foreign_key="account.id", max_length=16)
    region_code: str = Field(foreign_key="region.code", max_length=8)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    filename: str = Field(max_length=255)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
