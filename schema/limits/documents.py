"""Parsed documents, kept by their text, and what is known of each shape of document (its
tokens without comments or layout): the verdict of the linear checks of R152 on the whole
document, and graphql-core's validation, run once per shape (R152). Everything is kept within
one byte budget that counts what the entries really hold (R140); a document the limits refuse
is not kept, only its verdict.
"""

from __future__ import annotations

import hashlib
import sys
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    validate,
)

from app.config import Settings
from schema.limits.cost import requested_cost
from schema.limits.memory import MAX_ENTRY_BYTES, ByteBudgetLRU
from schema.limits.response_cost import Plans
from schema.limits.shape import (
    Shape,
    canonical_tokens,
    document_bytes,
    forget_tokens,
    object_bytes,
    shape,
    token_starts,
)


def too_complex(message: str, **details: Any) -> GraphQLError:
    """A QUERY_TOO_COMPLEX refusal."""
    return GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX", **details})


def shape_problem(measured: Shape, settings: Settings) -> GraphQLError | None:
    """The first limit a document's shape breaks, as the error the client gets."""
    if measured.fields > settings.max_fields:
        return too_complex(
            f"The document selects {measured.fields} fields (fragments expanded); "
            f"at most {settings.max_fields}."
        )
    if measured.spreads > settings.max_fragment_spreads:
        return too_complex(
            f"The document has {measured.spreads} fragment spreads; "
            f"at most {settings.max_fragment_spreads}."
        )
    if measured.problem is not None:
        return GraphQLError(measured.problem, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
    if measured.depth > settings.max_query_depth:
        return too_complex(
            f"The document is {measured.depth} fields deep; at most {settings.max_query_depth}."
        )
    if measured.aliases > settings.max_aliases:
        return too_complex(
            f"The document uses {measured.aliases} aliases (fragments expanded); "
            f"at most {settings.max_aliases}."
        )
    if not measured.expanded:
        return too_complex("The document expands to too many fields once its fragments are merged.")
    if measured.repeats > settings.max_repeated_fields:
        return too_complex(
            f"One selection asks for the same field {measured.repeats} times "
            f"(fragments expanded); at most {settings.max_repeated_fields}."
        )
    if measured.pairs > settings.max_merge_pairs:
        return too_complex(
            f"Merging the document's repeated fields and fragments takes {measured.pairs} "
            f"comparisons; at most {settings.max_merge_pairs}. Repeat fields less."
        )
    return None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the linear checks found in one shape of document (its tokens, without comments,
    white space or commas): the same for every text of that shape.
    """

    key: bytes
    shape: Shape
    #: the document's operations in order: their names and kinds
    operations: tuple[tuple[str | None, OperationType], ...]
    #: the limit the document breaks (nothing of it is kept then), or None
    refusal: GraphQLError | None


@dataclass(slots=True)
class Document:
    """A text's parsed document (None when the limits refuse it: nothing of it will run), the
    verdict on its shape, and what its responses' actual cost worked out (``cost_plans``).
    """

    key: bytes
    verdict: Verdict
    document: DocumentNode | None
    size: int = 0
    cost_plans: Plans = field(default_factory=dict)
    plans_size: int = 0
    #: where this text's validation errors are (character offsets), once worked out
    positions: tuple[tuple[int, ...], ...] | None = None
    #: the compiled read path's plans of its operations, and the variables they depend on
    compiled: dict[Any, Any] = field(default_factory=dict)
    directive_variables: tuple[str, ...] | None = None


#: validation errors of a shape: message, extensions, and the ordinals of the tokens they
#: point at (so they can point into any text of that shape)
_Errors = tuple[tuple[str, dict[str, Any], tuple[int, ...]], ...]


class DocumentCache:
    """Parsed documents by their text, and what is known of each shape of document (the
    verdict of the linear checks; graphql-core's validation), within one byte budget that
    counts what the entries really hold (R140).
    """

    def __init__(self, budget_bytes: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.budget = budget_bytes
        self.rules = rules
        self.entries: ByteBudgetLRU[bytes, Any] = ByteBudgetLRU(
            budget_bytes, min(MAX_ENTRY_BYTES, budget_bytes // 8)
        )

    @property
    def used(self) -> int:
        """Bytes held now."""
        return self.entries.used

    def load(self, query: str, settings: Settings) -> Document:
        """The text's parsed document and verdict: cached, or parsed and measured now.

        Raises:
            GraphQLError: the text does not parse (or has too many tokens).
        """
        text_key = b"t" + _digest(query.encode("utf-8", "surrogatepass"))
        known: Document | None = self.entries.get(text_key)
        if known is not None:
            return known
        tokens = canonical_tokens(query, settings.max_tokens)
        if tokens is None:  # too many tokens, or it does not lex: the parser says which
            parse(query, max_tokens=settings.max_tokens)
            tokens = canonical_tokens(query, sys.maxsize) or b""
        shape_key = b"s" + _digest(tokens)
        verdict: Verdict | None = self.entries.get(shape_key)
        if verdict is not None and verdict.refusal is not None:
            entry = Document(text_key, verdict, None)  # refused: nothing to parse or keep
            entry.size = ENTRY_BYTES + verdict_bytes(verdict)
            self.entries.put(text_key, entry, entry.size)
            return entry
        document = parse(query, max_tokens=settings.max_tokens)
        if verdict is None:
            verdict = judge(shape_key, document, settings)
            self.entries.put(shape_key, verdict, verdict_bytes(verdict))
        if verdict.refusal is not None:
            entry = Document(text_key, verdict, None)
            entry.size = ENTRY_BYTES + verdict_bytes(verdict)
        else:
            forget_tokens(document)
            entry = Document(text_key, verdict, document)
            entry.size = ENTRY_BYTES + verdict_bytes(verdict) + document_bytes(document)
        self.entries.put(text_key, entry, entry.size)
        return entry

    def validation_errors(self, entry: Document, schema: GraphQLSchema) -> list[GraphQLError]:
        """graphql-core's validation of the entry's document, run once per shape (the linear
        checks passed first); the errors point into the entry's own text.
        """
        document = entry.document
        assert document is not None
        assert document.loc is not None
        source = document.loc.source
        errors_key = b"v" + entry.verdict.key
        found: _Errors | None = self.entries.get(errors_key)
        if found is None:
            raw = validate(schema, document, self.rules)
            starts = token_starts(source.body) if raw else []
            found = tuple(
                (
                    e.message,
                    {**(e.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"},
                    tuple(bisect_left(starts, p) for p in e.positions or ()),
                )
                for e in raw
            )
            self.entries.put(errors_key, found, errors_bytes(found))
        if not found:
            return []
        if entry.positions is None:
            starts = token_starts(source.body)
            entry.positions = tuple(
                tuple(starts[o] for o in ordinals if o < len(starts)) for _, _, ordinals in found
            )
            self.resize(entry, entry.size + errors_bytes(found))
        return [
            GraphQLError(message, source=source, positions=positions or None, extensions=dict(ext))
            for (message, ext, _), positions in zip(found, entry.positions, strict=False)
        ]

    def resize(self, entry: Document, size: int) -> None:
        """Count what an entry holds now (it grew after it was kept)."""
        self.entries.discard(entry.key)
        entry.size = size
        self.entries.put(entry.key, entry, size)

    def __len__(self) -> int:
        return len(self.entries)


#: an entry's own objects besides what it refers to: the Document, its key, its empty plans,
#: and its place in the cache's ordered dictionary
ENTRY_BYTES = 512
#: a refusal's error object and its dictionaries, besides its message
ERROR_BYTES = 1024


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=20).digest()


def verdict_bytes(verdict: Verdict) -> int:
    """The memory a verdict holds."""
    total = object_bytes(verdict) + object_bytes(verdict.shape) + object_bytes(verdict.key)
    total += object_bytes(verdict.operations)
    for name, _ in verdict.operations:
        total += object_bytes((name, None)) + (object_bytes(name) if name else 0)
    if verdict.refusal is not None:
        total += ERROR_BYTES + object_bytes(verdict.refusal.message)
    return total


def errors_bytes(errors: _Errors) -> int:
    """The memory validation errors hold, kept by shape or placed in one text."""
    total = object_bytes(errors)
    for message, extensions, ordinals in errors:
        total += object_bytes((message, extensions, ordinals)) + object_bytes(message)
        total += sys.getsizeof(extensions) + sum(
            object_bytes(k) + object_bytes(v) for k, v in extensions.items()
        )
        total += 2 * object_bytes(ordinals) + 64 * len(ordinals)
    return total


def plans_bytes(plans: Plans) -> int:
    """The memory a document's cost plans hold (their nodes belong to the document)."""
    total = object_bytes(plans)
    for (_, ids), entries in plans.items():
        total += object_bytes(((), ids)) + object_bytes(ids) + 32 * len(ids)
        total += object_bytes(entries)
        for entry in entries:
            total += object_bytes(entry) + object_bytes(entry.nodes)
    return total


def judge(key: bytes, document: DocumentNode, settings: Settings) -> Verdict:
    """Measure a whole document and decide whether it breaks a limit."""
    measured = shape(document)
    operations = tuple(
        (d.name.value if d.name else None, d.operation)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )
    return Verdict(key, measured, operations, shape_problem(measured, settings))


def document_problem(query: str, settings: Settings, schema: GraphQLSchema) -> str | None:
    """Why a document may not be kept (it does not parse, or breaks a limit of R152 with
    its variables' defaults), or None. Not cached: for registering persisted documents.
    """
    try:
        document = parse(query, max_tokens=settings.max_tokens, no_location=True)
    except GraphQLError as error:
        return error.message
    problem = shape_problem(shape(document), settings)
    if problem is not None:
        return problem.message
    for operation in document.definitions:
        if isinstance(operation, OperationDefinitionNode):
            cost = requested_cost(schema, document, operation, None)
            if cost > settings.max_query_cost:
                return f"Query cost {cost} exceeds the limit of {settings.max_query_cost}."
    return None


def stand_in(verdict: Verdict, operation_name: str | None) -> DocumentNode:
    """A document of the operation a refused document would run, selecting only
    ``__typename``: enough for Strawberry to see the operation's kind (no part of it runs).
    """
    chosen = [
        (name, kind)
        for name, kind in verdict.operations
        if operation_name is None or name == operation_name
    ][:1]
    return DocumentNode(
        definitions=tuple(
            OperationDefinitionNode(
                operation=kind,
                name=NameNode(value=name) if name else None,
                variable_definitions=(),
                directives=(),
                selection_set=SelectionSetNode(
                    selections=(
                        FieldNode(name=NameNode(value="__typename"), arguments=(), directives=()),
                    )
                ),
            )
            for name, kind in chosen
        )
    )
