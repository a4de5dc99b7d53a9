"""Region, Zone, Flavor and FlavorPrice types."""

from __future__ import annotations

import strawberry

import schema.enums  # noqa: F401  (registers the domain enums)
from app.images.rules import Generation as DomainGeneration
from app.regions import models
from app.regions.rules import Arch
from app.regions.service import RegionRecord
from schema.context import Info
from schema.money import Money
from schema.node import Node


@strawberry.type(description="An availability zone of a region.")
class Zone:
    name: str = strawberry.field(description="Zone name, e.g. cn-bj-a.")


@strawberry.type(description="A region: images and instances live in exactly one.")
class Region(Node):
    code: str = strawberry.field(description="Short code, e.g. bj; also the region's id.")
    name: str = strawberry.field(description="Human-readable name.")
    copy_supported: bool = strawberry.field(
        description="Whether images can be copied into this region."
    )

    @strawberry.field(description="The region's availability zones.")
    async def zones(self, info: Info) -> list[Zone]:
        rows = await info.context.loaders.zones.load(self.code)
        return [Zone(name=z.name) for z in rows]

    @classmethod
    def from_row(cls, row: RegionRecord) -> Region:
        """Build from a region row."""
        return cls(
            id=strawberry.ID(row.code),
            code=row.code,
            name=row.name,
            copy_supported=row.copy_supported,
        )


@strawberry.type(description="What a flavor costs in one region.")
class FlavorPrice:
    per_hour: Money = strawberry.field(description="Postpaid price per instance-hour.")
    per_month: Money = strawberry.field(
        description="Prepaid price per instance-month, before term discounts."
    )


@strawberry.type(description="An instance specification such as bcc.g5.c2m8.")
class Flavor:
    name: str = strawberry.field(description="Spec name.")
    generation: DomainGeneration = strawberry.field(description="BCC or EBC.")
    family: str = strawberry.field(
        description="Family: general, compute, memory, gpu, baremetal or arm."
    )
    vcpus: int = strawberry.field(description="Virtual CPUs.")
    memory_gb: int = strawberry.field(description="Memory in GB.")
    arch: Arch = strawberry.field(
        description="Its processors' architecture: only images built for it launch on it."
    )

    @strawberry.field(description="Price in a region; null when the flavor is not offered there.")
    async def price(self, info: Info, region: strawberry.ID) -> FlavorPrice | None:
        row = await info.context.loaders.flavor_price.load((self.name, str(region)))
        if row is None:
            return None
        return FlavorPrice(
            per_hour=Money.of_rate(row.per_hour_micros),
            per_month=Money.of_rate(row.per_month_micros),
        )

    @classmethod
    def from_row(cls, row: models.Flavor) -> Flavor:
        """Build from a flavor row."""
        return cls(
            name=row.name,
            generation=DomainGeneration(row.generation),
            family=row.family,
            vcpus=row.vcpus,
            memory_gb=row.memory_gb,
            arch=Arch(row.arch),
        )
