"""Regions, zones, flavors and where each flavor is offered at what price (seed data)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class Region(SQLModel, table=True):
    """A region such as ``bj``; images and instances live in exactly one."""

    code: str = Field(primary_key=True, max_length=8)
    name: str = Field(max_length=64)
    copy_supported: bool = Field(default=True)
    position: int = Field(default=0)


class Zone(SQLModel, table=True):
    """An availability zone of a region, such as ``cn-bj-a``."""

    name: str = Field(primary_key=True, max_length=16)
    region_code: str = Field(foreign_key="region.code", index=True, max_length=8)
    position: int = Field(default=0)


class Flavor(SQLModel, table=True):
    """An instance specification, such as ``bcc.g5.c2m8``."""

    name: str = Field(primary_key=True, max_length=48)
    generation: str = Field(max_length=8)
    family: str = Field(max_length=16)
    vcpus: int
    memory_gb: int
    position: int = Field(default=0)
    arch: str = Field(default="X86_64", max_length=8)  # X86_64 or ARM64 (regions.rules.Arch)


class FlavorPrice(SQLModel, table=True):
    """A flavor offered in a region, with its rates in millionths of a CNY."""

    __tablename__ = "flavor_price"

    flavor_name: str = Field(foreign_key="flavor.name", primary_key=True, max_length=48)
    region_code: str = Field(foreign_key="region.code", primary_key=True, max_length=8)
    per_hour_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    per_month_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
