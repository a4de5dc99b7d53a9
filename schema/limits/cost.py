"""What a GraphQL document costs, requested, before anything runs, in time linear in its size
(``response_cost`` applies the same formula to a response; ``shape`` measures a document's
other dimensions).

Every fragment is costed once (memoised by name), so a document whose fragments spread each
other many times (``...F1 ...F1`` in ``F0``, and so on) is costed by arithmetic, not by
walking every path. The numbers are those of the expanded document: every spread adds its
fragment's cost.

The cost model is Shopify's: a scalar or enum field costs 0; an object, interface or union
field 1 plus its selection; a connection 2 plus its page size times one node (1 plus the
node's selection; ``edges``, ``node``, ``nodes``, ``cursor`` and ``pageInfo`` add nothing,
``totalCount`` 1); a plain list its bound times one item; a list of small leaf-only objects
1 in all; a mutation field 10 plus its selection; each selection of ``__schema`` or ``__type``
a flat 10, whatever it selects below (R152: aliases multiply it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
)

from schema.limits.shape import INTROSPECTION_FIELDS, fragments_of

DEFAULT_PAGE = 20
MUTATION_COST = 10
INTROSPECTION_COST = 10
CONNECTION_COST = 2

#: objects small enough that a whole list of them costs 1 (R120)
LEAF_LISTS = frozenset(
    {"Tag", "Zone", "ChargeLine", "Plan", "OperatingSystem", "UserError", "Warning"}
)


@dataclass(frozen=True)
class FromInput:
    """A payload list as long as a value of the mutation's arguments (a number, or a list's
    length), ``absent`` when it is not given, never more than ``most``.
    """

    path: tuple[str, ...]
    absent: int
    most: int


#: the most items each plain list of objects can hold; ``nodes(ids:)`` counts its ids
LIST_BOUNDS: dict[str, int | FromInput] = {
    "Query.regions": 20,
    "Query.flavors": 50,
    "Listing.images": 20,
    "ImageUsage.listings": 20,
    "PriceQuote.instances": 100,
    "Query.imageLifecyclePolicies": 10,
    "Query.webhookEndpoints": 10,
    "WebhookDelivery.attempts": 20,
    "ImageLifecyclePolicy.recentActions": 50,
    "ImageLifecyclePreview.actions": 100,
    "ImageLifecycleSelector.tags": 10,
    "ImageLifecycleExclusions.tags": 10,
    "Snapshot.usedByImages": 20,
    "Order.instances": 100,
    "Operation.targets": 100,
    "CopyImagePayload.images": FromInput(("input", "destinationRegions"), 1, 20),
    "CopyImagePayload.operations": FromInput(("input", "destinationRegions"), 1, 20),
    "CreateInstancesPayload.instances": FromInput(("input", "count"), 1, 100),
    "RebuildInstancesPayload.instances": FromInput(("input", "instanceIds"), 1, 100),
    "RebuildInstancesPayload.operations": FromInput(("input", "instanceIds"), 1, 100),
    "SettleUsagePayload.transactions": 100,
    "TagResourcesPayload.resources": FromInput(("input", "resourceIds"), 1, 100),
    "UntagResourcesPayload.resources": FromInput(("input", "resourceIds"), 1, 100),
}


@dataclass
class _CostWalker:
    """The requested cost; each fragment costed once (per page size on connection types)."""

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    defaults: Mapping[str, ValueNode | None]
    root: FieldNode | None = None  # the mutation field being costed
    _known: dict[tuple[str, int | None], int] = field(default_factory=dict)
    _open: set[str] = field(default_factory=set)

    def cost(
        self, parent: GraphQLNamedType | None, selection_set: SelectionSetNode | None, page: int
    ) -> int:
        """Requested cost of a selection set; ``page`` is the page size inside a connection."""
        if selection_set is None or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(parent, selection, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.cost(target, selection.selection_set, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment_cost(selection.name.value, page)
        return total

    def fragment_cost(self, name: str, page: int) -> int:
        """A fragment's cost, computed once per page size where the page size matters."""
        fragment = self.fragments.get(name)
        if fragment is None or name in self._open:
            return 0
        target = self.schema.get_type(fragment.type_condition.name.value)
        key = (name, page if target is not None and is_connection(target) else None)
        known = self._known.get(key)
        if known is None:
            self._open.add(name)
            known = self._known[key] = self.cost(target, fragment.selection_set, page)
            self._open.discard(name)
        return known

    def field_cost(
        self, parent: GraphQLObjectType | GraphQLInterfaceType, node: FieldNode, page: int
    ) -> int:
        """Requested cost of one field below ``parent``."""
        name = node.name.value
        if name in INTROSPECTION_FIELDS:
            return INTROSPECTION_COST
        definition = parent.fields.get(name)
        if definition is None:
            return 0  # validation refuses it
        named = get_named_type(definition.type)
        selection = node.selection_set
        if is_connection(parent):
            if name == "edges":
                return page * self.cost(named, selection, page)
            if name == "nodes":
                return page * (1 + self.cost(named, selection, page))
            return 1 if name == "totalCount" else 0
        if is_edge(parent):
            return 1 + self.cost(named, selection, page) if name == "node" else 0
        if is_leaf_type(named):
            return 0
        if is_connection(named):
            return CONNECTION_COST + self.cost(named, selection, self.page_size(node))
        item = 1 + self.cost(named, selection, page)
        if is_list_type(get_nullable_type(definition.type)):
            if named.name in LEAF_LISTS:
                return 1
            return self.list_bound(parent, name, node) * item
        return item

    def page_size(self, node: FieldNode) -> int:
        """first/last from the literal, the variable or the variable's default (at least 1)."""
        given = [
            s
            for s in (self.argument(node, "first"), self.argument(node, "last"))
            if isinstance(s, int)
        ]
        return max(1, *given) if given else DEFAULT_PAGE

    def list_bound(
        self, parent: GraphQLObjectType | GraphQLInterfaceType, name: str, node: FieldNode
    ) -> int:
        """How many items a plain list field can return."""
        if parent.name == "Query" and name == "nodes":
            ids = self.argument(node, "ids")
            return len(ids) if isinstance(ids, list) else 1
        bound = LIST_BOUNDS.get(f"{parent.name}.{name}", 1)
        if isinstance(bound, int):
            return bound
        given = self.input_value(bound.path)
        if isinstance(given, list):
            given = len(given)
        if not isinstance(given, int):
            given = bound.absent
        return max(1, min(given, bound.most))

    def input_value(self, path: tuple[str, ...]) -> Any:
        """A value below the mutation field's arguments (``("input", "count")``)."""
        if self.root is None:
            return None
        current: Any = self.argument(self.root, path[0], raw=True)
        for key in path[1:]:
            if isinstance(current, VariableNode):
                current = self.value(current)
            if isinstance(current, ObjectValueNode):
                current = next((f.value for f in current.fields if f.name.value == key), None)
            elif isinstance(current, Mapping):
                current = current.get(key)
            else:
                return None
        return self.value(current) if isinstance(current, ValueNode) else current

    def argument(self, node: FieldNode, name: str, raw: bool = False) -> Any:
        """An argument's value: a literal, a variable's value, or that variable's default."""
        for argument in node.arguments or ():
            if argument.name.value == name:
                return argument.value if raw else self.value(argument.value)
        return None

    def value(self, value: ValueNode | None) -> Any:
        """The Python value of an int or list literal, or of a variable (or its default)."""
        if isinstance(value, VariableNode):
            variable = value.name.value
            if variable in self.variables:
                return self.variables[variable]
            return self.value(self.defaults.get(variable))
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, ListValueNode):
            return list(value.values)
        return None


def is_connection(graphql_type: GraphQLNamedType) -> bool:
    """Whether a type is a Relay connection (its page, not itself, is what costs)."""
    return graphql_type.name.endswith("Connection")


def is_edge(graphql_type: GraphQLNamedType) -> bool:
    """Whether a type is a connection's edge (its node counts, its cursor does not)."""
    return graphql_type.name.endswith("Edge")


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> int:
    """What the operation may cost, before it runs (at least 1)."""
    walker = _CostWalker(
        schema=schema,
        fragments=fragments_of(document),
        variables=variables or {},
        defaults={
            d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
        },
    )
    root = schema.get_root_type(operation.operation)
    total = 0
    if root is not None:
        if operation.operation is OperationType.MUTATION:
            for selection in operation.selection_set.selections:
                total += _mutation_cost(walker, root, selection)
        else:
            total = walker.cost(root, operation.selection_set, DEFAULT_PAGE)
    return max(1, total)


def _mutation_cost(walker: _CostWalker, root: GraphQLObjectType, selection: Any) -> int:
    if isinstance(selection, FieldNode):
        definition: GraphQLField | None = root.fields.get(selection.name.value)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        walker.root = selection
        return MUTATION_COST + walker.cost(named, selection.selection_set, DEFAULT_PAGE)
    if isinstance(selection, InlineFragmentNode):
        return sum(_mutation_cost(walker, root, s) for s in selection.selection_set.selections)
    fragment = walker.fragments.get(selection.name.value)
    if fragment is None:
        return 0
    return sum(_mutation_cost(walker, root, s) for s in fragment.selection_set.selections)
