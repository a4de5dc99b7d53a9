"""The shape of a GraphQL document, measured before anything runs, in time linear in its size:
field selections, fragment spreads, depth, aliases, and what merging its repeated fields
costs graphql-core's validation. Every fragment is measured once (memoised by name), so a
document whose fragments spread each other many times is measured by arithmetic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

#: introspection's root fields: the cost model charges a document that uses them a flat sum
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True, slots=True)
class Shape:
    """The variable-independent measures of one operation, its fragments expanded."""

    fields: int  # field selections, fragments expanded
    spreads: int  # fragment spreads written in the document
    depth: int  # deepest field, introspection excluded
    aliases: int  # aliases in the expanded operation
    repeats: int  # most selections of one response key in one merged selection set
    pairs: int  # same-key selections and fragments that merging compares pairwise
    problem: str | None = None  # a fragment cycle or an unknown fragment
    expanded: bool = True  # False when merging the selections passed the visit budget


@dataclass(slots=True)
class _Facts:
    depth: int
    aliases: int
    fields: int


@dataclass
class _ShapeWalker:
    """Depth, aliases and field selections; each fragment measured once."""

    fragments: Mapping[str, FragmentDefinitionNode]
    problem: str | None = None
    _known: dict[str, _Facts] = field(default_factory=dict)
    _open: set[str] = field(default_factory=set)

    def facts(self, selection_set: SelectionSetNode | None) -> _Facts:
        """Depth, alias count and field count of a selection set."""
        result = _Facts(0, 0, 0)
        if selection_set is None:
            return result
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = self.facts(selection.selection_set)
                if selection.name.value not in INTROSPECTION_FIELDS:
                    result.depth = max(result.depth, 1 + inner.depth)
                result.aliases += inner.aliases + (1 if selection.alias else 0)
                result.fields += inner.fields + 1
                continue
            if isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.facts(selection.selection_set)
            else:
                continue
            result.depth = max(result.depth, inner.depth)
            result.aliases += inner.aliases
            result.fields += inner.fields
        return result

    def fragment(self, name: str) -> _Facts:
        """The facts of a fragment, computed once."""
        known = self._known.get(name)
        if known is not None:
            return known
        fragment = self.fragments.get(name)
        if fragment is None or name in self._open:
            if self.problem is None:
                self.problem = (
                    f"Fragment {name!r} spreads itself."
                    if fragment
                    else f"Unknown fragment {name!r}."
                )
            return _Facts(0, 0, 0)
        self._open.add(name)
        known = self._known[name] = self.facts(fragment.selection_set)
        self._open.discard(name)
        return known


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragment definitions by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def select_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The operation a request runs: the named one, or the only one."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)


def _spread_count(document: DocumentNode) -> int:
    spreads = 0
    stack: list[SelectionSetNode] = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                spreads += 1
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                stack.append(selection.selection_set)
    return spreads


def merged_pairs(
    fragments: Mapping[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    budget: int,
) -> tuple[int, int] | None:
    """Merge the operation's selections the way execution does (fragments expanded, each
    once per set; the selections of same-key fields merged below) and return the most
    selections of one response key in one merged set, and how many pairs graphql-core's
    overlapping-fields rule compares (same-key selections, and fragments spread in one set).
    None when merging visits more than ``budget`` fields.
    """
    visits = worst = pairs = 0
    pending: list[list[SelectionSetNode]] = [[operation.selection_set]]
    while pending:
        sets = pending.pop()
        counts: Counter[str] = Counter()
        below: dict[str, list[SelectionSetNode]] = {}
        seen: set[str] = set()
        while sets:
            for selection in sets.pop().selections:
                if isinstance(selection, FieldNode):
                    visits += 1
                    if visits > budget:
                        return None
                    key = (selection.alias or selection.name).value
                    counts[key] += 1
                    if selection.selection_set is not None:
                        below.setdefault(key, []).append(selection.selection_set)
                elif isinstance(selection, InlineFragmentNode):
                    sets.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                    seen.add(selection.name.value)
                    fragment = fragments.get(selection.name.value)
                    if fragment is not None:
                        sets.append(fragment.selection_set)
        worst = max(worst, *counts.values(), 0)
        pairs += sum(n * (n - 1) // 2 for n in counts.values()) + len(seen) * (len(seen) - 1) // 2
        pending.extend(below.values())
    return worst, pairs


#: field visits allowed while merging a document's selections (far above any real document)
MERGE_BUDGET = 20_000


def shape(document: DocumentNode, operation: OperationDefinitionNode) -> Shape:
    """Measure an operation's size, depth, aliases and repeated keys, fragments expanded."""
    spreads = _spread_count(document)
    fragments = fragments_of(document)
    walker = _ShapeWalker(fragments)
    facts = walker.facts(operation.selection_set)
    fields = facts.fields
    if walker.problem is not None or fields > MERGE_BUDGET:
        return Shape(fields, spreads, facts.depth, facts.aliases, 0, 0, walker.problem)
    merged = merged_pairs(fragments, operation, MERGE_BUDGET)
    repeats, pairs = merged or (0, 0)
    return Shape(
        fields, spreads, facts.depth, facts.aliases, repeats, pairs, expanded=merged is not None
    )
