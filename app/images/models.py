"""Image tables: every image row, and the OS versions accepted for import."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from app.database import UTCDateTime


class Image(SQLModel, table=True):
    """An image in one region. ``kind`` is what it is; ``SHARED`` is only how a viewer sees it."""

    __table_args__ = (
        Index("ix_image_created_at_id", "created_at", "id"),
        Index("ix_image_name_id", "name", "id"),
        # one per visible part of a page (app.images.page.list_images), in sort order
        Index("ix_image_kind_created", "kind", "created_at", "id"),
        Index("ix_image_kind_name", "kind", "name", "id"),
        Index("ix_image_owner_kind_created", "owner_id", "kind", "created_at", "id"),
        Index("ix_image_owner_kind_name", "owner_id", "kind", "name", "id"),
        Index("ix_image_region_kind", "region_code", "kind"),
        Index("ix_image_listing_id", "listing_id"),
        Index("ix_image_source", "source_kind", "source_id"),
        Index("ix_image_owner_region", "owner_id", "region_code", "kind"),
        # imageFromFamily: the newest image of an owner's family in a region
        Index("ix_image_family", "owner_id", "family", "region_code", "created_at", "id"),
        # the next scheduled deprecation (cached answers expire at it) and the recycle bin
        Index("ix_image_deprecate_at", "deprecate_at"),
        Index("ix_image_purge_at", "purge_at"),
        # the later stages of scheduled deprecations, run when due
        Index("ix_image_disable_at", "disable_at"),
        Index("ix_image_delete_at", "delete_at"),
    )

    id: str = Field(primary_key=True, max_length=16)
    seed_key: str | None = Field(default=None, max_length=80, unique=True)
    name: str = Field(max_length=65)
    description: str = Field(default="", max_length=256)
    kind: str = Field(max_length=16)
    generation: str = Field(max_length=8)
    region_code: str = Field(foreign_key="region.code", max_length=8)
    status: str = Field(max_length=16)
    os_type: str = Field(max_length=8)
    os_name: str = Field(max_length=64)
    os_version: str = Field(max_length=32)
    os_arch: str = Field(max_length=16)
    os_lang: str | None = Field(default=None, max_length=16)
    min_disk_gb: int
    size_gb: int | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    owner_id: str = Field(foreign_key="account.id", max_length=16)
    source_kind: str = Field(max_length=16)
    source_id: str | None = Field(default=None, max_length=16)
    source_region: str | None = Field(default=None, max_length=8)
    system_disk_kind: str | None = Field(default=None, max_length=8)
    charge_os_license: str = Field(default="NONE", max_length=8)
    charge_listing_id: str | None = Field(default=None, max_length=16)
    listing_id: str | None = Field(default=None, max_length=16)
    progress: int | None = None
    failure_code: str | None = Field(default=None, max_length=40)
    failure_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    failure_checks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    disk_format: str | None = Field(default=None, max_length=8)
    sha256: str | None = Field(default=None, max_length=64)
    virtual_size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    deprecate_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    replacement_id: str | None = Field(default=None, max_length=16)
    # a custom image's later deprecation stages (R174): disabled at, moved to the bin at
    disable_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    delete_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    lifecycle_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    disabled: bool = Field(default=False)
    deletion_protection: bool = Field(default=False)
    purge_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    purged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    family: str | None = Field(default=None, max_length=63)


class SupportedOs(SQLModel, table=True):
    """An OS version accepted for import (SPEC R47)."""

    __tablename__ = "supported_os"

    os_type: str = Field(primary_key=True, max_length=8)
    name: str = Field(primary_key=True, max_length=64)
    version: str = Field(primary_key=True, max_length=32)
    arch: str = Field(primary_key=True, max_length=16)


class ImageShare(SQLModel, table=True):
    """A custom image shared with another account (R20-R25)."""

    __tablename__ = "image_share"
    __table_args__ = (Index("ix_image_share_account_id", "account_id"),)

    image_id: str = Field(foreign_key="image.id", primary_key=True, max_length=16)
    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default="ACCEPTED", max_length=8)  # rules.ShareStatus


class ImageLifecyclePolicy(SQLModel, table=True):
    """An account's rules for retiring its custom images of one region (R175, R203); tag
    filters are stored as JSON lists of ``[key, value or null]``.
    """

    __tablename__ = "image_lifecycle_policy"
    __table_args__ = (Index("ix_image_lifecycle_policy_owner", "owner_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=16)
    owner_id: str = Field(foreign_key="account.id", max_length=16)
    name: str = Field(max_length=64)
    region_code: str = Field(foreign_key="region.code", max_length=8)
    family: str | None = Field(default=None, max_length=63)
    tags: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    deprecate_after_days: int | None = None
    disable_after_days: int | None = None
    delete_after_days: int | None = None
    keep_newest: int = Field(default=0)
    exclude_tags: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    launched_within_days: int | None = None
    enabled: bool = Field(default=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_run_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class ImageLifecycleAction(SQLModel, table=True):
    """What a policy did to an image at one of its runs, or what stopped it (taken false)."""

    __tablename__ = "image_lifecycle_action"
    __table_args__ = (
        Index("ix_image_lifecycle_action_policy", "policy_id", "at", "id"),
        Index("ix_image_lifecycle_action_image", "image_id", "action"),
    )

    id: int | None = Field(default=None, primary_key=True)
    policy_id: str = Field(max_length=16)
    image_id: str = Field(max_length=16)
    action: str = Field(max_length=16)  # policy_rules.LifecycleAction
    taken: bool
    reason: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ImageLifecycleExclusion(SQLModel, table=True):
    """An image a policy leaves alone: its owner undid that policy's action on it (R203)."""

    __tablename__ = "image_lifecycle_exclusion"

    image_id: str = Field(primary_key=True, max_length=16)
    policy_id: str = Field(primary_key=True, max_length=16)
    owner_id: str = Field(max_length=16)  # the image's owner, whose answers it changes
