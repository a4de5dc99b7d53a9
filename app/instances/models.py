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
    accrued_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    released_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    release_reason: str | None = Field(default=None, max_length=8)  # OWNER or ARREARS


class InstanceRate(SQLModel, table=True):
    """One postpaid charge line of an instance: its hourly rate, fixed when the line began
    (at launch; the image lines again at a rebuild), and the part of a fen it has used but
    not yet been charged.

    ``hourly_micros`` is in millionths of a CNY per hour; ``carry`` is in usage units (see
    app.money): each settlement adds the line's minutes x rate, charges it rounded to the fen
    and keeps the rest here. ``listing_id`` is the listing a SOFTWARE line pays.
    """

    __tablename__ = "instance_rate"

    instance_id: str = Field(foreign_key="instance.id", primary_key=True, max_length=16)
    kind: str = Field(primary_key=True, max_length=20)  # billing.pricing.ChargeKind
    listing_id: str | None = Field(default=None, max_length=16)
    hourly_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    carry: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
