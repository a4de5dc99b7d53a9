"""Catalogue queries: regions and flavors."""

from __future__ import annotations

import strawberry

from app.images.rules import Generation as DomainGeneration
from app.regions import service
from schema.context import Info
from schema.regions.types import Flavor, Region


@strawberry.type
class RegionQueries:
    @strawberry.field(description="Every region.")
    def regions(self, info: Info) -> list[Region]:
        return [Region.from_row(r) for r in service.list_regions(session=info.context.session)]

    @strawberry.field(description="One region by code; null if there is none.")
    def region(self, info: Info, code: str) -> Region | None:
        row = service.get(session=info.context.session, code=code)
        return Region.from_row(row) if row else None

    @strawberry.field(
        description="Flavors, optionally only those offered in a region and/or of a generation."
    )
    def flavors(
        self,
        info: Info,
        region: strawberry.ID | None = None,
        generation: DomainGeneration | None = None,
    ) -> list[Flavor]:
        gen: DomainGeneration | None = generation
        rows = service.list_flavors(
            session=info.context.session,
            region=str(region) if region is not None else None,
            generation=gen.value if gen is not None else None,
        )
        return [Flavor.from_row(r) for r in rows]
