"""System-disk snapshots of instances (R55)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from app.database import UTCDateTime


class Snapshot(SQLModel, table=True):
    """A snapshot of an instance's system disk; it carries what an image made from it needs."""

    __table_args__ = (
        Index("ix_snapshot_owner_created", "owner_id", "created_at", "id"),
        Index("ix_snapshot_instance_id", "instance_id"),
    )

    id: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=65)
    owner_id: str = Field(foreign_key="account.id", max_length=16)
    region_code: str = Field(foreign_key="region.code", max_length=8)
    instance_id: str = Field(max_length=16)
    status: str = Field(max_length=16)
    size_gb: int
    system_disk_kind: str = Field(max_length=8)
    generation: str = Field(max_length=8)
    os_type: str = Field(max_length=8)
    os_name: str = Field(max_length=64)
    os_version: str = Field(max_length=32)
    os_arch: str = Field(max_length=16)
    os_lang: str | None = Field(default=None, max_length=16)
    charge_os_license: str = Field(default="NONE", max_length=8)
    charge_listing_id: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
