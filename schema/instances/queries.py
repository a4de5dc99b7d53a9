"""Instance queries: instances, the price quote and the rebuild quote."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from app.billing import pricing
from app.billing.pricing import Timing
from app.errors import BadRequest, DomainError, shown
from app.ids import is_id
from app.instances import service
from app.instances.rules import InstanceStatus
from app.workflows import launch_plan, rebuild_plan
from schema.billing.types import ChargeLine, InstanceQuote, PriceQuote, money
from schema.context import Info
from schema.errors import (
    deprecation_warnings,
    user_error,
)
from schema.instances.types import (
    CreateInstancesInput,
    Instance,
    RebuildInstancesInput,
    image_errors_at,
)
from schema.pagination import Connection, Window, connection, page_request, paged
from schema.permissions import SignedIn
from schema.tags.types import TagFilter, tag_filters


@strawberry.input(description="Filters of the instances query.")
class InstanceFilter:
    region: strawberry.ID | None = strawberry.field(default=None, description="Region code.")
    status: InstanceStatus | None = strawberry.field(default=None, description="State.")
    image: strawberry.ID | None = strawberry.field(
        default=None, description="Only instances running this image."
    )
    tags: list[TagFilter] | None = strawberry.field(
        default=None, description="Instances carrying every one of these tags of yours."
    )


@strawberry.type
class InstanceQueries:
    @paged(permission_classes=[SignedIn], description="The viewer's instances, newest first.")
    async def instances(
        self,
        info: Info,
        filter: InstanceFilter | None = None,
        window: Window = Window(),
    ) -> Connection[Instance]:
        viewer = info.context.require_viewer()
        flt = filter or InstanceFilter()
        session = info.context.session
        query = service.list_instances(
            session=session,
            viewer=viewer,
            filters=service.InstanceFilter(
                region=str(flt.region) if flt.region is not None else None,
                status=flt.status.value if flt.status else None,
                image=str(flt.image) if flt.image is not None else None,
                tags=tag_filters(flt.tags),
            ),
            page=page_request(info, window, filters=filter),
        )
        page = await query.read(info.context.services.page_reads, session)
        loaders = info.context.loaders  # what every item of a page shows: read with it
        regions, flavors = service.page_relations(page.items)
        loaders.region.prime_many(regions)
        loaders.flavor.prime_many(flavors)
        return connection(page, Instance.of_page_row)

    @strawberry.field(
        permission_classes=[SignedIn],
        description="One of the viewer's instances; null if absent or not theirs.",
    )
    async def instance(self, info: Info, id: strawberry.ID) -> Instance | None:
        info.context.require_viewer()
        if not is_id(str(id), "i"):
            raise BadRequest(
                f"{shown(str(id))} is not an instance id (i- and 8 letters or digits)."
            )
        row = await info.context.loaders.instance.load(str(id))
        return Instance.from_row(row) if row else None

    @strawberry.field(
        description=(
            "What createInstances would charge for this input, after the same checks; "
            "changes nothing and works anonymously. Balance is checked only when creating."
        )
    )
    def price_quote(self, info: Info, input: CreateInstancesInput) -> PriceQuote:
        try:
            with image_errors_at(input.image):
                request = input.to_domain()
                plan = launch_plan.quote(
                    session=info.context.session,
                    viewer=info.context.viewer,
                    launch=request,
                    now=info.context.services.clock.now(),
                )
        except DomainError as exc:
            return PriceQuote(
                timing=input.billing.timing,
                months=input.billing.months,
                lines=[],
                total=money(Decimal("0.00")),
                user_errors=[user_error(e) for e in getattr(exc, "errors", [exc])],
            )
        return PriceQuote(
            timing=request.timing,
            months=request.months,
            lines=[ChargeLine.of(line) for line in plan.lines],
            total=money(plan.total),
            user_errors=[],
            warnings=deprecation_warnings(plan.warnings),
        )


@strawberry.type
class RebuildQueries:
    @strawberry.field(
        permission_classes=[SignedIn],
        description=(
            "What rebuildInstances would charge for this input, after the same checks; changes "
            "nothing. For prepaid instances, lines and total are the REBUILD order's pro-rated "
            "lines, charged at once; for a batch of postpaid instances, one hour of the batch "
            "once rebuilt (timing is null for a batch of both kinds, with lines charged at "
            "once). instances shows each instance's lines before and after."
        ),
    )
    def rebuild_quote(self, info: Info, input: RebuildInstancesInput) -> PriceQuote:
        viewer = info.context.require_viewer()
        info.context.uncacheable = True  # what is left of a prepaid term shrinks by the day
        try:
            with image_errors_at(input.image):
                plan = rebuild_plan.quote(
                    session=info.context.session,
                    viewer=viewer,
                    request=input.to_domain(),
                    now=info.context.services.clock.now(),
                )
        except DomainError as exc:
            return PriceQuote(
                timing=Timing.PREPAID,
                months=None,
                lines=[],
                total=money(Decimal("0.00")),
                user_errors=[user_error(e) for e in getattr(exc, "errors", [exc])],
            )
        timing = plan.timing
        hourly = timing is Timing.POSTPAID  # nothing is charged at once: quote one hour
        lines = plan.hourly_lines if hourly else plan.order_lines
        return PriceQuote(
            timing=timing,
            months=None,
            lines=[ChargeLine.of(line) for line in lines],
            total=money(pricing.total(lines)),
            user_errors=[],
            warnings=deprecation_warnings(plan.warnings),
            instances=[
                InstanceQuote(
                    timing=change.timing,
                    before=[ChargeLine.of(line) for line in change.before],
                    after=[ChargeLine.of(line) for line in change.after],
                    due_now=money(change.due_now),
                    row=change.instance,
                    listing_id=plan.image.charge_listing_id
                    if any(line.kind is pricing.ChargeKind.SOFTWARE for line in change.after)
                    else None,
                )
                for change in plan.changes
            ],
        )
