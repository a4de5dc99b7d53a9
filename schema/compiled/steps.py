"""The steps of a compiled plan: how each response key of an object's selection is read
(an attribute, a resolver called directly, or Strawberry's whole wrapper) and completed, and
what a plan raises when it cannot answer as the ordinary executor would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import FieldNode, GraphQLField, GraphQLObjectType
from graphql.execution.collect_fields import FieldDetails
from graphql.pyutils import Path

#: where Strawberry keeps a GraphQL field's own definition
STRAWBERRY_FIELD = "strawberry-definition"


class Decline(Exception):
    """The plan cannot answer this request as the ordinary executor would."""


class Uncompilable(Decline):
    """The plan cannot answer any request: a part of its selection is not compiled (found
    once its values were first met), so the operation is left to the ordinary path from now on.
    """


#: how a field's value is read from its parent: getattr, a direct call of its resolver, or
#: the resolver with Strawberry's whole wrapper (arguments, gates, extensions)
ATTRIBUTE, DIRECT, RESOLVE, TYPENAME = range(4)

#: completes a value: (the run, the value, its path) -> the answer's value
Complete = Callable[[Any, Any, Path], Any]


class Running(Protocol):
    """What readers and completers need of a run: the stand-in Info resolvers are handed."""

    lazy_info: Any


class Planning(Protocol):
    """What the fast path needs of a plan: the steps of an object's selection."""

    def subfields(
        self, parent: GraphQLObjectType, details: list[FieldDetails], owner: Step
    ) -> list[Step]:
        """The steps of the selection of an object of type ``parent`` under ``owner``."""
        ...


@dataclass(eq=False, slots=True)
class Step:
    """One response key of an object's selection: how to read it and how to complete it."""

    key: str
    name: str
    field: GraphQLField
    parent: GraphQLObjectType
    details: list[FieldDetails]
    nodes: list[FieldNode]
    how: int
    attribute: str = ""
    direct: Direct | None = None
    complete: Complete | None = None  # made once the step is first completed
    non_null: bool = False


@dataclass(frozen=True, slots=True)
class Direct:
    """A resolver called as a plain function: with the object (``with_self``) and, under
    ``info_name``, the field's Info (or, on the fast path, a stand-in that has only the context).
    """

    func: Callable[..., Any]
    with_self: bool
    info_name: str | None
    definition: Any


def reading(found: GraphQLField) -> tuple[int, str, Direct | None]:
    """How a field is read: a plain attribute, a resolver that can be called directly (no
    arguments, gates, extensions or coroutine), or through Strawberry's wrapper.
    """
    definition = found.extensions.get(STRAWBERRY_FIELD)
    if definition is None or found.args or definition.extensions or definition.permission_classes:
        return RESOLVE, "", None
    resolver = definition.base_resolver
    if resolver is None:
        return ATTRIBUTE, str(definition.python_name), None
    if resolver.is_async or resolver.arguments or resolver.root_parameter:
        return RESOLVE, "", None
    if getattr(resolver, "parent_parameter", None) is not None:
        return RESOLVE, "", None
    info = resolver.info_parameter
    direct = Direct(
        resolver.wrapped_func,
        resolver.self_parameter is not None,
        info.name if info is not None else None,
        definition,
    )
    return DIRECT, "", direct
