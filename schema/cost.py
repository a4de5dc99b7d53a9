"""What a GraphQL document costs: requested, before anything runs, in time linear in its size,
and actually, from its response (``schema.shape`` measures its other dimensions).

Every fragment is costed once (memoised by name), so a document whose fragments spread each
other many times (``...F1 ...F1`` in ``F0``, and so on) is costed by arithmetic, not by
walking every path. The numbers are those of the expanded document: every spread adds its
fragment's cost.

The cost model is Shopify's: a scalar or enum field costs 0; an object, interface or union
field 1 plus its selection; a connection 2 plus its page size times one node (1 plus the
node's selection; ``edges``, ``node``, ``nodes``, ``cursor`` and ``pageInfo`` add nothing,
``totalCount`` 1); a plain list its bound times one item; a list of small leaf-only objects
1 in all; a mutation field 10 plus its selection; introspection a flat 10 per document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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

from schema.shape import INTROSPECTION_FIELDS, fragments_of

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
    introspection: bool = False
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
        key = (name, page if target is not None and _is_connection(target) else None)
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
            self.introspection = True
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 0  # validation refuses it
        named = get_named_type(definition.type)
        selection = node.selection_set
        if _is_connection(parent):
            if name == "edges":
                return page * self.cost(named, selection, page)
            if name == "nodes":
                return page * (1 + self.cost(named, selection, page))
            return 1 if name == "totalCount" else 0
        if _is_edge(parent):
            return 1 + self.cost(named, selection, page) if name == "node" else 0
        if is_leaf_type(named):
            return 0
        if _is_connection(named):
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


def _is_connection(graphql_type: GraphQLNamedType) -> bool:
    return graphql_type.name.endswith("Connection")


def _is_edge(graphql_type: GraphQLNamedType) -> bool:
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
    if walker.introspection:
        total += INTROSPECTION_COST
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


# -- what a response actually cost -----------------------------------------------------------

_Merged = dict[str, tuple[tuple[str, GraphQLField] | None, list[FieldNode]]]

#: how a field adds to a response's cost (``_Response.entry_cost``): each returned node
#: (counted) or edge (not counted) of a connection, a flat 1 (totalCount), an edge's node, a
#: connection, a small leaf-only object or a list of them (1 for the whole list), any other
#: object or list of objects
_NODES, _EDGES, _ONE, _NODE, _CONNECTION, _SMALL, _OBJECTS = range(7)


@dataclass(slots=True)
class _Entry:
    """A costly field of a merged selection: its response key, how it costs, its type, its
    nodes, and the plan of its own selection (worked out when first needed).
    """

    key: str
    kind: int
    named: GraphQLNamedType
    nodes: list[FieldNode]
    child: list[_Entry] | None = None


#: plans (the costly fields of a merged selection) by the selecting type and the ids of the
#: selecting nodes; a cached document keeps its plans (``limits.Document.cost_plans``), so a
#: repeated document works them out once
Plans = dict[tuple[str, tuple[int, ...]], list[_Entry]]


def _kind(parent: GraphQLNamedType, definition: tuple[str, GraphQLField]) -> int | None:
    """How a field selected on ``parent`` adds to the cost; None when it cannot."""
    name, field_def = definition
    named = get_named_type(field_def.type)
    if _is_connection(parent):
        return {"nodes": _NODES, "edges": _EDGES, "totalCount": _ONE}.get(name)
    if _is_edge(parent):
        return _NODE if name == "node" else None
    if is_leaf_type(named):
        return None
    if _is_connection(named):
        return _CONNECTION
    return _SMALL if named.name in LEAF_LISTS else _OBJECTS


@dataclass(frozen=True)
class _Response:
    """Walks a response with its document: the cost formula with the returned list sizes.

    The merged selection of a type is worked out once (a page repeats it for every item, and
    a cached document for every request), and fields that cost nothing are left out of it.
    """

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    plans: Plans

    def plan(self, parent: GraphQLNamedType, nodes: list[FieldNode]) -> list[_Entry]:
        """The costly fields selected on ``parent`` by these nodes, merged."""
        key = (parent.name, tuple(id(n) for n in nodes))
        found = self.plans.get(key)
        if found is None:
            found = []
            for name, (definition, fields) in self.collect(
                parent, [n.selection_set for n in nodes]
            ).items():
                if definition is not None and (kind := _kind(parent, definition)) is not None:
                    found.append(_Entry(name, kind, get_named_type(definition[1].type), fields))
            self.plans[key] = found
        return found

    def child(self, entry: _Entry) -> list[_Entry]:
        """The plan of an entry's own selection."""
        if entry.child is None:
            entry.child = self.plan(entry.named, entry.nodes)
        return entry.child

    def collect(
        self, parent: GraphQLNamedType, selection_sets: Iterable[SelectionSetNode | None]
    ) -> _Merged:
        """Fields by response key, merged across fragments (each fragment once per set)."""
        merged: _Merged = {}
        seen: set[str] = set()
        stack: list[tuple[GraphQLNamedType, SelectionSetNode | None]] = [
            (parent, s) for s in selection_sets
        ]
        while stack:
            owner, selection_set = stack.pop()
            for selection in selection_set.selections if selection_set else ():
                if isinstance(selection, FieldNode):
                    name = selection.name.value
                    fields = getattr(owner, "fields", {})
                    definition = (name, fields[name]) if name in fields else None
                    key = (selection.alias or selection.name).value
                    merged.setdefault(key, (definition, []))[1].append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    target = self.schema.get_type(condition.name.value) if condition else owner
                    stack.append((target or owner, selection.selection_set))
                elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                    seen.add(selection.name.value)
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is not None:
                        target = self.schema.get_type(fragment.type_condition.name.value)
                        stack.append((target or owner, fragment.selection_set))
        return merged

    def object_cost(self, plan: list[_Entry], value: Any, counted: bool) -> int:
        """An object's cost: 1 if it counts itself, plus its selected fields."""
        if not isinstance(value, Mapping):
            return 0
        total = 1 if counted else 0
        for entry in plan:
            item = value.get(entry.key)
            if item is not None:
                total += self.entry_cost(entry, item)
        return total

    def entry_cost(self, entry: _Entry, value: Any) -> int:
        """A costly field's cost given what it returned (not null)."""
        kind = entry.kind
        if kind == _ONE:
            return 1
        plan = self.child(entry)
        if kind in (_NODES, _EDGES):
            if not isinstance(value, list):
                return 0
            counted = kind == _NODES
            return sum(self.object_cost(plan, v, counted) for v in value)
        if kind == _CONNECTION:
            return CONNECTION_COST + self.object_cost(plan, value, False)
        if isinstance(value, list) and kind != _NODE:
            if kind == _SMALL:
                return 1
            return sum(self.object_cost(plan, v, True) for v in value)
        return self.object_cost(plan, value, True)


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    data: Mapping[str, Any] | None,
    plans: Plans | None = None,
) -> int:
    """The same formula over the response: list sizes are those returned (at least 1).
    ``plans`` keeps what was worked out of the document for its next response.
    """
    root = schema.get_root_type(operation.operation)
    if root is None or data is None:
        return 1
    walker = _Response(schema, fragments_of(document), {} if plans is None else plans)
    mutation = operation.operation is OperationType.MUTATION
    total = 0
    introspection = False
    for key, (definition, nodes) in walker.collect(root, [operation.selection_set]).items():
        if nodes[0].name.value in INTROSPECTION_FIELDS:
            introspection = True
            continue
        if definition is None or key not in data:
            continue
        value, named = data[key], get_named_type(definition[1].type)
        if mutation:
            total += MUTATION_COST + walker.object_cost(walker.plan(named, nodes), value, False)
        elif value is not None and (kind := _kind(root, definition)) is not None:
            total += walker.entry_cost(_Entry(key, kind, named, nodes), value)
    return max(1, total + (INTROSPECTION_COST if introspection else 0))
