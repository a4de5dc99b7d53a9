"""The shape of a GraphQL document, measured before anything runs, in time linear in its size:
field selections, fragment spreads, depth, aliases, and what merging its repeated fields
costs graphql-core's validation. The whole document is measured, every operation and every
fragment whether it runs or not (R152): graphql-core validates all of them. Every fragment is
measured once (memoised by name), so a document whose fragments spread each other many times
is measured by arithmetic.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Lexer,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
)

#: introspection's root fields: the cost model charges each selection of them a flat sum
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True, slots=True)
class Shape:
    """The variable-independent measures of a whole document, fragments expanded."""

    fields: int  # field selections, fragments expanded
    spreads: int  # fragment spreads written in the document
    depth: int  # deepest field, introspection excluded
    aliases: int  # aliases in the expanded operations and unspread fragments
    repeats: int  # most selections of one response key in one merged selection set
    pairs: int  # same-key selections and fragments that merging compares pairwise
    problem: str | None = None  # a fragment cycle, an unknown or a repeated fragment name
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

    def known(self, fragment: FragmentDefinitionNode) -> bool:
        """Whether a fragment was measured already (an operation or fragment spreads it)."""
        return fragment.name.value in self._known


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
    root: SelectionSetNode,
    budget: int,
) -> tuple[int, int, int] | None:
    """Merge a selection set the way execution does (fragments expanded, each once per set;
    the selections of same-key fields merged below) and return the most selections of one
    response key in one merged set, how many pairs graphql-core's overlapping-fields rule
    compares (same-key selections, and fragments spread in one set), and the fields visited.
    None when merging visits more than ``budget`` fields.
    """
    visits = worst = pairs = 0
    pending: list[list[SelectionSetNode]] = [[root]]
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
    return worst, pairs, visits


#: field visits allowed while merging a document's selections (far above any real document)
MERGE_BUDGET = 20_000


def _duplicate_fragment(document: DocumentNode) -> str | None:
    names: set[str] = set()
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            if definition.name.value in names:
                return f"There can be only one fragment named {definition.name.value!r}."
            names.add(definition.name.value)
    return None


def shape(document: DocumentNode) -> Shape:
    """Measure the whole document: every operation, fragments expanded, and every fragment no
    operation spreads, as graphql-core's validation will visit them all whichever operation
    runs. Sizes (fields, spreads, aliases, merge pairs) add up over them; depth and repeats
    are the largest of any.
    """
    spreads = _spread_count(document)
    fragments = fragments_of(document)
    walker = _ShapeWalker(fragments)
    walker.problem = _duplicate_fragment(document)
    roots: list[SelectionSetNode] = []
    total = _Facts(0, 0, 0)

    def add(facts: _Facts) -> None:
        total.depth = max(total.depth, facts.depth)
        total.aliases += facts.aliases
        total.fields += facts.fields

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            add(walker.facts(definition.selection_set))
            roots.append(definition.selection_set)
    for definition in document.definitions:  # fragments no operation spreads
        if isinstance(definition, FragmentDefinitionNode) and not walker.known(definition):
            add(walker.fragment(definition.name.value))
            roots.append(definition.selection_set)
    if walker.problem is not None or total.fields > MERGE_BUDGET:
        return Shape(total.fields, spreads, total.depth, total.aliases, 0, 0, walker.problem)
    repeats = pairs = visits = 0
    for root in roots:
        merged = merged_pairs(fragments, root, MERGE_BUDGET - visits)
        if merged is None:
            return Shape(total.fields, spreads, total.depth, total.aliases, 0, 0, expanded=False)
        repeats, pairs, visits = max(repeats, merged[0]), pairs + merged[1], visits + merged[2]
    return Shape(total.fields, spreads, total.depth, total.aliases, repeats, pairs)


# -- the document's tokens and its size in memory --------------------------------------------


def canonical_tokens(body: str, most: int) -> bytes | None:
    """The text's tokens without comments, white space and commas (each its kind and value,
    length-prefixed): the same for every text that differs only in those, so what is known of
    one (its verdict, its validation) holds for all. None when the text has more than
    ``most`` tokens or does not lex (the parser then says why). Lexing is about a quarter of
    parsing, so a known shape is recognised before the text is parsed.
    """
    lexer = Lexer(Source(body))
    parts: list[str] = []
    try:
        token = lexer.advance()
        while token.kind is not TokenKind.EOF:
            if len(parts) >= most:
                return None
            value = token.value or ""
            parts.append(f"{token.kind.value}{len(value)}:{value}")
            token = lexer.advance()
    except GraphQLError:
        return None
    return "".join(parts).encode("utf-8", "surrogatepass")


def token_starts(body: str) -> list[int]:
    """Where each token of a text starts (comments left out), in order."""
    lexer = Lexer(Source(body))
    starts: list[int] = []
    token = lexer.advance()
    while token.kind is not TokenKind.EOF:
        starts.append(token.start)
        token = lexer.advance()
    return starts


def _nodes(document: DocumentNode) -> Iterator[Node]:
    stack: list[Node] = [document]
    while stack:
        node = stack.pop()
        yield node
        for key in node.keys:
            value = getattr(node, key, None)
            if isinstance(value, Node):
                stack.append(value)
            elif isinstance(value, tuple | list):
                stack.extend(v for v in value if isinstance(v, Node))


def forget_tokens(document: DocumentNode) -> None:
    """Let the document's tokens go: its locations keep their offsets and source (what error
    locations are computed from), not the tokens, which are most of a parsed document's
    memory besides its nodes.
    """
    for node in _nodes(document):
        if node.loc is not None:
            node.loc.start_token = node.loc.end_token = None  # type: ignore[assignment]


def object_bytes(value: object) -> int:
    """What CPython allocates for one object: its size rounded up to the allocator's 16."""
    return (sys.getsizeof(value) + 15) & ~15


def document_bytes(document: DocumentNode) -> int:
    """The memory a parsed document holds once its tokens are forgotten: every node, its
    attributes' dictionary, its location, the strings, lists and numbers they refer to, and
    the source text.
    """
    total = 0
    for node in _nodes(document):
        total += object_bytes(node) + object_bytes(node.__dict__)
        for key in node.keys:
            value = getattr(node, key, None)
            if isinstance(value, str | list) or (isinstance(value, tuple) and value):
                total += object_bytes(value)
        loc = node.loc
        if loc is not None:
            total += object_bytes(loc)
            total += sum(object_bytes(n) for n in (loc.start, loc.end) if n > 256)
    if document.loc is not None:
        source = document.loc.source
        total += object_bytes(source) + object_bytes(source.body) + object_bytes(source.name)
    return total
