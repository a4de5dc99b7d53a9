"""Change image: rebuildInstance, rebuildInstances and rebuildQuote."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from app.billing.pricing import Timing
from app.errors import DomainError
from app.workflows import rebuild, rebuild_plan
from schema.billing.types import ChargeLine, Order, PriceQuote, money
from schema.context import Info
from schema.errors import (
    Call,
    Payload,
    UserError,
    Warning,
    deprecation_warnings,
    mutate,
    user_error,
)
from schema.instances.types import Instance
from schema.mutation import mutation
from schema.operations.types import Operation
from schema.permissions import SignedIn


@strawberry.input(description="The image a rebuild installs, and its idempotency key.")
class NewImageInput:
    image_id: strawberry.ID | None = strawberry.field(
        default=None, description="The new image (same region), or give imageFamily instead."
    )
    image_family: str | None = strawberry.field(
        default=None,
        description=(
            "Instead of imageId: the newest image of this family in the instances' region that "
            "you may launch, resolved once, now."
        ),
    )
    client_token: str | None = strawberry.field(
        default=None,
        description="Idempotency key: repeating it with the same input replays the result.",
    )


@strawberry.input(description="Reinstall one instance's operating system from another image.")
class RebuildInstanceInput(NewImageInput):
    instance_id: strawberry.ID = strawberry.field(description="The instance (yours).")


@strawberry.type(description="Result of rebuildInstance.")
class RebuildInstancePayload(Payload):
    instance: Instance | None = strawberry.field(description="The instance (REBUILDING).")
    order: Order | None = strawberry.field(
        description="Prepaid only: the order for charges the new image adds (pro-rated)."
    )
    operation: Operation | None = strawberry.field(description="The REBUILD_INSTANCE operation.")
    warnings: list[Warning] = strawberry.field(
        default_factory=list,
        description="What is worth knowing, e.g. that the image is deprecated (IMAGE_DEPRECATED).",
    )


@strawberry.input(
    description="Reinstall the operating system of up to 100 of your instances from one image."
)
class RebuildInstancesInput(NewImageInput):
    instance_ids: list[strawberry.ID] = strawberry.field(
        description="1 to 100 instances, each listed once, in the image's region."
    )

    def to_domain(self) -> rebuild_plan.RebuildRequest:
        """The service's request."""
        return rebuild_plan.RebuildRequest(
            instance_ids=tuple(str(i) for i in self.instance_ids),
            image_id=str(self.image_id) if self.image_id is not None else None,
            client_token=self.client_token,
            image_family=self.image_family,
        )


@strawberry.type(description="Result of rebuildInstances.")
class RebuildInstancesPayload(Payload):
    instances: list[Instance] = strawberry.field(description="The instances (REBUILDING).")
    order: Order | None = strawberry.field(
        description=(
            "The one REBUILD order for what the prepaid instances are charged at once "
            "(pro-rated); null when nothing is."
        )
    )
    operations: list[Operation] = strawberry.field(
        description="One REBUILD_INSTANCE operation per instance, in the input's order."
    )
    warnings: list[Warning] = strawberry.field(
        default_factory=list,
        description="What is worth knowing, e.g. that the image is deprecated (IMAGE_DEPRECATED).",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Why nothing changed; instance problems name their index in instanceIds.",
    )


def _run(info: Info, request: rebuild_plan.RebuildRequest, c: Call) -> rebuild.Rebuilt:
    return rebuild.rebuild(
        **c.acting, request=request, now=c.now, policy=info.context.services.policy
    )


@strawberry.type
class RebuildMutations:
    @mutation(
        "Change one instance's image (reinstall its OS); the one-instance form of "
        "rebuildInstances, with the same checks and charges."
    )
    def rebuild_instance(self, info: Info, input: RebuildInstanceInput) -> RebuildInstancePayload:
        request = rebuild_plan.RebuildRequest(
            instance_ids=(str(input.instance_id),),
            image_id=str(input.image_id) if input.image_id is not None else None,
            client_token=input.client_token,
            batch=False,
            image_family=input.image_family,
        )

        def work(c: Call) -> RebuildInstancePayload:
            done = _run(info, request, c)
            return RebuildInstancePayload(
                instance=Instance.from_row(done.instances[0]),
                order=Order.from_row(done.order) if done.order else None,
                operation=Operation.from_row(done.operations[0]),
                warnings=deprecation_warnings(done.warnings),
            )

        return mutate(info, RebuildInstancePayload, work)

    @mutation(
        "Change the image of up to 100 instances at once: every check for every instance "
        "first, all or nothing; one operation per instance; one REBUILD order for what the "
        "prepaid ones are charged. Charges, and the revenue they earn, follow the new image."
    )
    def rebuild_instances(
        self, info: Info, input: RebuildInstancesInput
    ) -> RebuildInstancesPayload:
        request = input.to_domain()

        def work(c: Call) -> RebuildInstancesPayload:
            done = _run(info, request, c)
            return RebuildInstancesPayload(
                instances=[Instance.from_row(i) for i in done.instances],
                order=Order.from_row(done.order) if done.order else None,
                operations=[Operation.from_row(o) for o in done.operations],
                warnings=deprecation_warnings(done.warnings),
            )

        return mutate(info, RebuildInstancesPayload, work)


@strawberry.type
class RebuildQueries:
    @strawberry.field(
        permission_classes=[SignedIn],
        description=(
            "What rebuildInstances would charge at once for this input (the REBUILD order's "
            "pro-rated lines for prepaid instances), after the same checks; changes nothing."
        ),
    )
    def rebuild_quote(self, info: Info, input: RebuildInstancesInput) -> PriceQuote:
        viewer = info.context.require_viewer()
        info.context.uncacheable = True  # what is left of a prepaid term shrinks by the day
        try:
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
        return PriceQuote(
            timing=Timing.PREPAID,
            months=None,
            lines=[ChargeLine.of(line) for line in plan.order_lines],
            total=money(plan.total),
            user_errors=[],
            warnings=deprecation_warnings(plan.warnings),
        )
