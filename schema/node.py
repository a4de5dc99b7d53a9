"""The Relay Node interface; a node's id is its cloud id (``m-…``, ``acc-…``, a region code).

How each kind of object is fetched by its id is registered here by the module that knows it
(``schema.nodes.queries``), so a type whose field answers nodes (an operation's targets) needs
no import of every other type.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import strawberry

from app.errors import BadRequest, shown
from app.ids import id_prefix
from schema.context import Info


@strawberry.interface(description="An object that can be fetched again by its id with node(id:).")
class Node:
    id: strawberry.ID = strawberry.field(
        description="The cloud id, e.g. m-3fZk9QaB; a region's id is its code."
    )


NodeResolver = Callable[[Info, str], Awaitable[Node | None]]
#: how an object is fetched, by the prefix of its id ("" for a region's code, which has none)
_RESOLVERS: dict[str, NodeResolver] = {}
REGION = ""
_REGION_CODE = re.compile(r"^[a-z]{2,8}$")


def node_resolver(prefix: str) -> Callable[[NodeResolver], NodeResolver]:
    """Register the function that fetches the objects whose ids have this prefix."""

    def register(resolver: NodeResolver) -> NodeResolver:
        _RESOLVERS[prefix] = resolver
        return resolver

    return register


async def resolve_node(info: Info, node_id: str) -> Node | None:
    """Return the object with this id if the viewer may see it; else None.

    Raises:
        BadRequest: the id is neither a cloud id nor a region code.
    """
    prefix = id_prefix(node_id)
    if prefix is None:
        if not _REGION_CODE.match(node_id):
            raise BadRequest(f"{shown(node_id)} is not a valid id.")
        prefix = REGION
    resolver = _RESOLVERS.get(prefix)
    return await resolver(info, node_id) if resolver is not None else None
