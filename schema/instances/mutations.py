"""Instance mutations: create (and charge), start, stop, release, rebuild (R50-R53, R62, R74)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import strawberry

from app.instances.models import Instance as InstanceRow
from app.workflows import instance_actions, launch, rebuild, rebuild_plan
from schema.billing.types import Order
from schema.context import Info
from schema.errors import (
    Call,
    Payload,
    UserError,
    Warning,
    deprecation_warnings,
    mutate,
)
from schema.instances.types import (
    CreateInstancesInput,
    Instance,
    RebuildInstanceInput,
    RebuildInstancesInput,
    image_errors_at,
)
from schema.money import Money
from schema.mutation import argument, mutation
from schema.operations.types import Operation


@strawberry.type(description="Result of createInstances.")
class CreateInstancesPayload(Payload):
    instances: list[Instance] = strawberry.field(description="The new instances (STARTING).")
    order: Order | None = strawberry.field(description="The prepaid order; null for postpaid.")
    operation: Operation | None = strawberry.field(description="The CREATE_INSTANCES operation.")
    warnings: list[Warning] = strawberry.field(
        default_factory=list,
        description="What is worth knowing, e.g. that the image is deprecated (IMAGE_DEPRECATED).",
    )


@strawberry.type(description="The instance after an action.")
class InstanceResult(Payload):
    instance: Instance | None = strawberry.field(description="The instance after the change.")


InstanceId = Annotated[strawberry.ID, argument("Instance id (i-...), yours.")]


@strawberry.type(description="Result of releaseInstance.")
class ReleaseInstancePayload(Payload):
    instance: Instance | None = strawberry.field(description="The released instance.")
    refund: Money | None = strawberry.field(
        description="What was refunded to the balance (prepaid instances: the unused term)."
    )


@strawberry.type
class InstanceMutations:
    @mutation("Create 1-100 instances, all or nothing; prepaid batches are paid at once.")
    def create_instances(self, info: Info, input: CreateInstancesInput) -> CreateInstancesPayload:
        def work(c: Call) -> CreateInstancesPayload:
            with image_errors_at(input.image):
                launched = launch.create_instances(
                    **c.acting,
                    launch=input.to_domain(),
                    now=c.now,
                    policy=info.context.services.policy,
                )
            return CreateInstancesPayload(
                instances=[Instance.from_row(i) for i in launched.instances],
                order=Order.from_row(launched.order) if launched.order else None,
                operation=Operation.from_row(launched.operation),
                warnings=deprecation_warnings(launched.warnings),
            )

        return mutate(info, CreateInstancesPayload, work)

    @mutation("Start a STOPPED instance.", input="The STOPPED instance to start.")
    def start_instance(self, info: Info, instance_id: InstanceId) -> InstanceResult:
        return _action(
            info, lambda c: instance_actions.start(**c.acting, instance_id=instance_id, now=c.now)
        )

    @mutation(
        "Stop a RUNNING instance (postpaid usage still accrues).",
        input="The RUNNING instance to stop.",
    )
    def stop_instance(self, info: Info, instance_id: InstanceId) -> InstanceResult:
        return _action(info, lambda c: instance_actions.stop(**c.acting, instance_id=instance_id))

    @mutation(
        "Release an instance for good; a prepaid one is refunded for the unused part of "
        "its term, less a penalty of half the days used.",
        input="The instance to release for good.",
    )
    def release_instance(self, info: Info, instance_id: InstanceId) -> ReleaseInstancePayload:
        def work(c: Call) -> ReleaseInstancePayload:
            row, refund = instance_actions.release(
                **c.acting,
                instance_id=str(instance_id),
                now=c.now,
                clock=info.context.services.clock,
            )
            return ReleaseInstancePayload(
                instance=Instance.from_row(row), refund=Money.of_minor(refund)
            )

        return mutate(info, ReleaseInstancePayload, work)


def _action(info: Info, act: Callable[[Call], InstanceRow]) -> InstanceResult:
    return mutate(
        info, InstanceResult, lambda c: InstanceResult(instance=Instance.from_row(act(c)))
    )


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
        def work(c: Call) -> RebuildInstancePayload:
            with image_errors_at(input.image):
                done = _run(info, input.to_domain(), c)
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
        def work(c: Call) -> RebuildInstancesPayload:
            with image_errors_at(input.image):
                done = _run(info, input.to_domain(), c)
            return RebuildInstancesPayload(
                instances=[Instance.from_row(i) for i in done.instances],
                order=Order.from_row(done.order) if done.order else None,
                operations=[Operation.from_row(o) for o in done.operations],
                warnings=deprecation_warnings(done.warnings),
            )

        return mutate(info, RebuildInstancesPayload, work)
