"""What a response actually cost: the formula of ``schema.limits.cost`` over what was returned, list
sizes being those of the response (a page of 3 images costs 3 nodes, whatever ``first`` asked).

The response is walked with a plan of its document: for each selection, the fields that can
cost anything and how each adds to the cost, decided once and kept on the cached document, so
the walk over a page's items only reads values and adds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
)

from schema.limits.cost import (
    CONNECTION_COST,
    INTROSPECTION_COST,
    LEAF_LISTS,
    MUTATION_COST,
    is_connection,
    is_edge,
)
from schema.limits.shape import INTROSPECTION_FIELDS, fragments_of

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
    if is_connection(parent):
        return {"nodes": _NODES, "edges": _EDGES, "totalCount": _ONE}.get(name)
    if is_edge(parent):
        return _NODE if name == "node" else None
    if is_leaf_type(named):
        return None
    if is_connection(named):
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
    for key, (definition, nodes) in walker.collect(root, [operation.selection_set]).items():
        if nodes[0].name.value in INTROSPECTION_FIELDS:
            total += INTROSPECTION_COST  # each response key of __schema or __type
            continue
        if definition is None or key not in data:
            continue
        value, named = data[key], get_named_type(definition[1].type)
        if mutation:
            total += MUTATION_COST + walker.object_cost(walker.plan(named, nodes), value, False)
        elif value is not None and (kind := _kind(root, definition)) is not None:
            total += walker.entry_cost(_Entry(key, kind, named, nodes), value)
    return max(1, total)
