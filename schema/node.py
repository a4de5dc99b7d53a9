"""The Relay Node interface; a node's id is its cloud id (``m-…``, ``acc-…``, a region code)."""

from __future__ import annotations

import strawberry


@strawberry.interface(description="An object that can be fetched again by its id with node(id:).")
class Node:
    id: strawberry.ID = strawberry.field(
        description="The cloud id, e.g. m-3fZk9QaB; a region's id is its code."
    )
