"""Instance mutations: create (and charge), start, stop, release (R50-R53, R62, R74)."""

from __future__ import annotations

import strawberry
from sqlmodel import Session

from app.billing import service as billing_service
from app.instances import launch, service
from app.operations import service as operations_service
from schema.billing.types import Order
from schema.context import Info
from schema.errors import UserError, mutate
from schema.instances.inputs import CreateInstancesInput
from schema.instances.types import Instance
from schema.money import Money
from schema.operations.types import Operation


@strawberry.type(description="Result of createInstances.")
class CreateInstancesPayload:
    instances: list[Instance] = strawberry.field(description="The new instances (STARTING).")
    order: Order | None = strawberry.field(description="The prepaid order; null for postpaid.")
    operation: Operation | None = strawberry.field(description="The CREATE_INSTANCES operation.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was created.")


@strawberry.input(description="Which instance.")
class InstanceActionInput:
    instance_id: strawberry.ID = strawberry.field(description="Instance id (i-...).")


@strawberry.type(description="Result of startInstance, stopInstance.")
class InstancePayload:
    instance: Instance | None = strawberry.field(description="The instance after the change.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.type(description="Result of releaseInstance.")
class ReleaseInstancePayload:
    instance: Instance | None = strawberry.field(description="The released instance.")
    refund: Money | None = strawberry.field(description="Refunded to the balance (prepaid, R74).")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.type
class InstanceMutations:
    @strawberry.mutation(
        description="Create 1-100 instances, all or nothing; prepaid batches are paid at once."
    )
    def create_instances(self, info: Info, input: CreateInstancesInput) -> CreateInstancesPayload:
        viewer = info.context.require_viewer()
        settings = info.context.settings
        request = input.to_domain()

        def action(session: Session) -> CreateInstancesPayload:
            launched = launch.create_instances(
                session=session,
                viewer=viewer,
                launch=request,
                now=info.context.clock.now(),
                operation_seconds=settings.operation_seconds,
                operation_seconds_per_gb=settings.operation_seconds_per_gb,
                postpaid_minimum_minor=int(settings.postpaid_minimum_balance * 100),
            )
            order = (
                billing_service.list_orders_by_ids(
                    session=session, viewer=viewer, ids=[launched.order_id]
                )
                if launched.order_id
                else []
            )
            operation = operations_service.get(
                session=session, viewer=viewer, operation_id=launched.operation_id
            )
            return CreateInstancesPayload(
                instances=[Instance.from_row(i) for i in launched.instances],
                order=Order.from_row(order[0]) if order else None,
                operation=Operation.from_row(operation) if operation else None,
                user_errors=[],
            )

        return mutate(
            info,
            action,
            lambda e: CreateInstancesPayload(
                instances=[], order=None, operation=None, user_errors=e
            ),
        )

    @strawberry.mutation(description="Start a STOPPED instance.")
    def start_instance(self, info: Info, input: InstanceActionInput) -> InstancePayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> InstancePayload:
            row = service.start(
                session=session,
                viewer=viewer,
                instance_id=str(input.instance_id),
                now=info.context.clock.now(),
            )
            return InstancePayload(instance=Instance.from_row(row), user_errors=[])

        return mutate(info, action, lambda e: InstancePayload(instance=None, user_errors=e))

    @strawberry.mutation(description="Stop a RUNNING instance (postpaid usage still accrues).")
    def stop_instance(self, info: Info, input: InstanceActionInput) -> InstancePayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> InstancePayload:
            row = service.stop(session=session, viewer=viewer, instance_id=str(input.instance_id))
            return InstancePayload(instance=Instance.from_row(row), user_errors=[])

        return mutate(info, action, lambda e: InstancePayload(instance=None, user_errors=e))

    @strawberry.mutation(
        description="Release an instance for good; a prepaid one is refunded per R74."
    )
    def release_instance(self, info: Info, input: InstanceActionInput) -> ReleaseInstancePayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> ReleaseInstancePayload:
            row, refund = service.release(
                session=session,
                viewer=viewer,
                instance_id=str(input.instance_id),
                now=info.context.clock.now(),
            )
            return ReleaseInstancePayload(
                instance=Instance.from_row(row), refund=Money.of_minor(refund), user_errors=[]
            )

        return mutate(
            info,
            action,
            lambda e: ReleaseInstancePayload(instance=None, refund=None, user_errors=e),
        )
