"""Instances: what runs, what it was created from, and how it is billed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from app.database import UTCDateTime


class Instance(SQLModel, table=True):
    """A BCC or EBC instance. Image fields are copied so history survives image deletion (R52)."""

    __table_args__ = (
        Index("ix_instance_owner_created", "owner_id", "created_at", "id"),
        Index("ix_instance_billing_status", "billing_timing", "status"),
        Index("ix_instance_image_id", "image_id"),
        # an image's last launch (Image.usage)
        Index("ix_instance_created_from", "created_from_image_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=80)
    owner_id: str = Field(foreign_key="account.id", max_length=16)
    region_code: str = Field(foreign_key="region.code", max_length=8)
    zone_name: str = Field(foreign_key="zone.name", max_length=16)
    flavor_name: str = Field(foreign_key="flavor.name", max_length=48)
    generation: str = Field(max_length=8)
    status: str = Field(max_length=20)
    status_reason: str | None = Field(default=None, max_length=20)
    image_id: str = Field(max_length=16)
    image_name: str = Field(max_length=65)
    image_os_type: str = Field(max_length=8)
    image_os_name: str = Field(max_length=64)
    image_os_version: str = Field(max_length=32)
    image_os_arch: str = Field(max_length=16)
    image_os_lang: str | None = Field(default=None, max_length=16)
    created_from_image_id: str = Field(max_length=16)
    created_from_image_name: str = Field(max_length=65)
    created_from_os_type: str = Field(max_length=8)
    created_from_os_name: str = Field(max_length=64)
    created_from_os_version: str = Field(max_length=32)
    created_from_os_arch: str = Field(max_length=16)
    created_from_os_lang: str | None = Field(default=None, max_length=16)
    charge_os_license: str = Field(default="NONE", max_length=8)
    charge_listing_id: str | None = Field(default=None, max_length=16)
    system_disk_type: str = Field(max_length=16)
    system_disk_gb: int
    billing_timing: str = Field(max_length=8)
    billing_months: int | None = None
    charge_lines: str = Field(sa_column=Column(Text, nullable=False))  # JSON: lines it pays now
    hourly_micros: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    software_micros: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0)
    )  # postpaid: the hourly SOFTWARE part of hourly_micros
    accrued_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    released_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    release_reason: str | None = Field(default=None, max_length=8)  # OWNER or ARREARS
