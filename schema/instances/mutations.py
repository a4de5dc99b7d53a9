"""Instance mutations: create (and charge), start, stop, release (R50-R53, R62, R74)."""

from __future__ import annotations

import strawberry

from app.workflows import instance_actions, launch
from schema.billing.types import Order
from schema.context import Info
from schema.errors import Call, Payload, Warning, deprecation_warnings, mutate
from schema.instances.inputs import CreateInstancesInput
from schema.instances.types import Instance
from schema.money import Money
from schema.operations.types import Operation
from schema.permissions import SignedIn


@strawberry.type(description="Result of createInstances.")
class CreateInstancesPayload(Payload):
    instances: list[Instance] = strawberry.field(description="The new instances (STARTING).")
    order: Order | None = strawberry.field(description="The prepaid order; null for postpaid.")
    operation: Operation | None = strawberry.field(description="The CREATE_INSTANCES operation.")
    warnings: list[Warning] = strawberry.field(
        default_factory=list,
        description="What is worth knowing, e.g. that the image is deprecated (IMAGE_DEPRECATED).",
    )


@strawberry.input(description="Which instance.")
class InstanceInput:
    instance_id: strawberry.ID = strawberry.field(description="Instance id (i-...), yours.")


@strawberry.input(description="The STOPPED instance to start.")
class StartInstanceInput(InstanceInput):
    pass


@strawberry.input(description="The RUNNING instance to stop.")
class StopInstanceInput(InstanceInput):
    pass


@strawberry.input(description="The instance to release for good.")
class ReleaseInstanceInput(InstanceInput):
    pass


@strawberry.type(description="The instance after an action.")
class InstanceResult(Payload):
    instance: Instance | None = strawberry.field(description="The instance after the change.")


@strawberry.type(description="Result of startInstance.")
class StartInstancePayload(InstanceResult):
    pass


@strawberry.type(description="Result of stopInstance.")
class StopInstancePayload(InstanceResult):
    pass


@strawberry.type(description="Result of releaseInstance.")
class ReleaseInstancePayload(Payload):
    instance: Instance | None = strawberry.field(description="The released instance.")
    refund: Money | None = strawberry.field(
        description="What was refunded to the balance (prepaid instances: the unused term)."
    )


@strawberry.type
class InstanceMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Create 1-100 instances, all or nothing; prepaid batches are paid at once.",
    )
    def create_instances(self, info: Info, input: CreateInstancesInput) -> CreateInstancesPayload:
        request = input.to_domain()

        def work(c: Call) -> CreateInstancesPayload:
            launched = launch.create_instances(
                **c.acting,
                launch=request,
                now=c.now,
                policy=info.context.policy,
            )
            return CreateInstancesPayload(
                instances=[Instance.from_row(i) for i in launched.instances],
                order=Order.from_row(launched.order) if launched.order else None,
                operation=Operation.from_row(launched.operation),
                warnings=deprecation_warnings(launched.warnings),
            )

        return mutate(info, CreateInstancesPayload, work)

    @strawberry.mutation(permission_classes=[SignedIn], description="Start a STOPPED instance.")
    def start_instance(self, info: Info, input: StartInstanceInput) -> StartInstancePayload:
        def work(c: Call) -> StartInstancePayload:
            row = instance_actions.start(
                **c.acting,
                instance_id=str(input.instance_id),
                now=c.now,
            )
            return StartInstancePayload(instance=Instance.from_row(row))

        return mutate(info, StartInstancePayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Stop a RUNNING instance (postpaid usage still accrues).",
    )
    def stop_instance(self, info: Info, input: StopInstanceInput) -> StopInstancePayload:
        def work(c: Call) -> StopInstancePayload:
            row = instance_actions.stop(**c.acting, instance_id=str(input.instance_id))
            return StopInstancePayload(instance=Instance.from_row(row))

        return mutate(info, StopInstancePayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Release an instance for good; a prepaid one is refunded for the unused part of "
            "its term, less a penalty of half the days used."
        ),
    )
    def release_instance(self, info: Info, input: ReleaseInstanceInput) -> ReleaseInstancePayload:
        def work(c: Call) -> ReleaseInstancePayload:
            row, refund = instance_actions.release(
                **c.acting,
                instance_id=str(input.instance_id),
                now=c.now,
            )
            return ReleaseInstancePayload(
                instance=Instance.from_row(row), refund=Money.of_minor(refund), user_errors=[]
            )

        return mutate(info, ReleaseInstancePayload, work)
