"""tagResources and untagResources."""

from __future__ import annotations

from typing import Any

import strawberry

from app.images.models import Image as ImageRow
from app.instances.models import Instance as InstanceRow
from app.workflows import tagging
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.images.types import Image
from schema.instances.types import Instance
from schema.node import Node
from schema.permissions import SignedIn
from schema.snapshots.types import Snapshot
from schema.tags import TagInput


@strawberry.input(description="Tags to put on your resources (all or nothing).")
class TagResourcesInput:
    resource_ids: list[strawberry.ID] = strawberry.field(
        description="1 to 100 of your images, snapshots and instances."
    )
    tags: list[TagInput] = strawberry.field(
        description="1 to 50 tags; a key a resource carries already takes the new value."
    )


@strawberry.type(description="Result of tagResources.")
class TagResourcesPayload(Payload):
    resources: list[Node] = strawberry.field(description="The resources, in the order given.")


@strawberry.input(description="Tag keys to take off your resources (all or nothing).")
class UntagResourcesInput:
    resource_ids: list[strawberry.ID] = strawberry.field(
        description="1 to 100 of your images, snapshots and instances."
    )
    keys: list[str] = strawberry.field(
        description="1 to 50 keys; a key a resource does not carry is ignored."
    )


@strawberry.type(description="Result of untagResources.")
class UntagResourcesPayload(Payload):
    resources: list[Node] = strawberry.field(description="The resources, in the order given.")


def _node(row: Any, c: Call) -> Node:
    if isinstance(row, ImageRow):
        return Image.from_row(row, c.viewer)
    if isinstance(row, InstanceRow):
        return Instance.from_row(row)
    return Snapshot.from_row(row)


@strawberry.type
class TagMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Tag your custom images, snapshots and instances. Tags are yours alone: accounts "
            "you share an image with never see them."
        ),
    )
    def tag_resources(self, info: Info, input: TagResourcesInput) -> TagResourcesPayload:
        def work(c: Call) -> TagResourcesPayload:
            rows = tagging.tag(
                **c.acting,
                resource_ids=[str(r) for r in input.resource_ids],
                tags=[(t.key, t.value) for t in input.tags],
                now=c.now,
            )
            return TagResourcesPayload(resources=[_node(row, c) for row in rows])

        return mutate(info, TagResourcesPayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn], description="Take tags off your resources by key."
    )
    def untag_resources(self, info: Info, input: UntagResourcesInput) -> UntagResourcesPayload:
        def work(c: Call) -> UntagResourcesPayload:
            rows = tagging.untag(
                **c.acting, resource_ids=[str(r) for r in input.resource_ids], keys=input.keys
            )
            return UntagResourcesPayload(resources=[_node(row, c) for row in rows])

        return mutate(info, UntagResourcesPayload, work)
