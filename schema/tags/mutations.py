"""tagResources and untagResources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import strawberry

from app.images.models import Image as ImageRow
from app.instances.models import Instance as InstanceRow
from app.workflows import tagging
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.images.types import Image
from schema.instances.types import Instance
from schema.mutation import argument, mutation
from schema.node import Node
from schema.snapshots.types import Snapshot
from schema.tags.types import TagInput


@strawberry.type(description="The resources after a change of their tags.")
class TaggedResources(Payload):
    resources: list[Node] = strawberry.field(description="The resources, in the order given.")


ResourceIds = Annotated[
    list[strawberry.ID], argument("1 to 100 of your images, snapshots and instances.")
]


def _node(row: Any, c: Call) -> Node:
    if isinstance(row, ImageRow):
        return Image.from_row(row, c.viewer)
    if isinstance(row, InstanceRow):
        return Instance.from_row(row)
    return Snapshot.from_row(row)


def _tagged(info: Info, change: Callable[[Call], list[Any]]) -> TaggedResources:
    return mutate(
        info,
        TaggedResources,
        lambda c: TaggedResources(resources=[_node(row, c) for row in change(c)]),
    )


@strawberry.type
class TagMutations:
    @mutation(
        "Tag your custom images, snapshots and instances. Tags are yours alone: accounts "
        "you share an image with never see them.",
        input="Tags to put on your resources (all or nothing).",
    )
    def tag_resources(
        self,
        info: Info,
        resource_ids: ResourceIds,
        tags: Annotated[
            list[TagInput],
            argument("1 to 50 tags; a key a resource carries already takes the new value."),
        ],
    ) -> TaggedResources:
        return _tagged(
            info,
            lambda c: tagging.tag(
                **c.acting,
                resource_ids=[str(r) for r in resource_ids],
                tags=[(t.key, t.value) for t in tags],
                now=c.now,
            ),
        )

    @mutation(
        "Take tags off your resources by key.",
        input="Tag keys to take off your resources (all or nothing).",
    )
    def untag_resources(
        self,
        info: Info,
        resource_ids: ResourceIds,
        keys: Annotated[
            list[str], argument("1 to 50 keys; a key a resource does not carry is ignored.")
        ],
    ) -> TaggedResources:
        return _tagged(
            info,
            lambda c: tagging.untag(
                **c.acting, resource_ids=[str(r) for r in resource_ids], keys=keys
            ),
        )
