"""The request limits of every GraphQL request: size, depth, aliases and cost checked in linear
time before graphql-core validates anything, cost points taken from the caller's bucket
(``schema.rate_limit``), and the ``extensions.cost`` report on every response (subscription
events included).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import MaxIntrospectionDepthRule, NoSchemaIntrospectionCustomRule
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionContext

from app.config import Settings
from app.observability import current_request
from schema.cost import requested_cost
from schema.rate_limit import Limiter, cost_report, rate_limited_error, retry_seconds
from schema.response_cost import Plans, actual_cost
from schema.shape import Shape, select_operation, shape


def validation_rules(introspection: bool) -> tuple[type[ASTValidationRule], ...]:
    """graphql-core's rules, its introspection depth rule, and no introspection when off."""
    rules: tuple[type[ASTValidationRule], ...] = (*specified_rules, MaxIntrospectionDepthRule)
    return rules if introspection else (*rules, NoSchemaIntrospectionCustomRule)


# -- parsed documents --------------------------------------------------------------------------


@dataclass
class Document:
    """A parsed document, its validation errors and the shapes of its operations, reused by
    every request that sends the same text.
    """

    document: DocumentNode
    size: int
    errors: list[GraphQLError] | None = None
    shapes: dict[str | None, Shape] = field(default_factory=dict)
    cost_plans: Plans = field(default_factory=dict)

    def shape_of(self, name: str | None, operation: OperationDefinitionNode) -> Shape:
        """The shape of one of its operations, measured once."""
        known = self.shapes.get(name)
        if known is None:
            known = self.shapes[name] = shape(self.document, operation)
        return known

    def validation_errors(
        self, schema: GraphQLSchema, rules: tuple[type[ASTValidationRule], ...]
    ) -> list[GraphQLError]:
        """graphql-core's validation, run once (the linear checks passed first)."""
        if self.errors is None:
            self.errors = [
                GraphQLError(
                    e.message,
                    nodes=e.nodes,
                    extensions={**(e.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"},
                )
                for e in validate(schema, self.document, rules)
            ]
        return self.errors


#: an estimate of a parsed document's memory per byte of its text
AST_BYTES_PER_CHARACTER = 24


class DocumentCache:
    """Parsed documents by query text, bounded by an estimate of their memory in bytes."""

    def __init__(self, budget_bytes: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.budget = budget_bytes
        self.rules = rules
        self.used = 0
        self._entries: OrderedDict[str, Document] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, query: str) -> Document | None:
        """The cached document for this text, if any."""
        with self._lock:
            entry = self._entries.get(query)
            if entry is not None:
                self._entries.move_to_end(query)
            return entry

    def put(self, query: str, document: DocumentNode) -> Document:
        """Remember a parsed document (one over an eighth of the budget is not kept)."""
        entry = Document(document, len(query) * AST_BYTES_PER_CHARACTER + 1024)
        if entry.size > self.budget // 8:
            return entry
        with self._lock:
            old = self._entries.pop(query, None)
            if old is not None:
                self.used -= old.size
            self._entries[query] = entry
            self.used += entry.size
            while self.used > self.budget and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self.used -= evicted.size
        return entry


# -- the extension -----------------------------------------------------------------------------


def _too_complex(message: str, **details: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX", **details})


def shape_problem(measured: Shape, settings: Settings) -> GraphQLError | None:
    """The first limit a document's shape breaks, as the error the client gets."""
    if measured.fields > settings.max_fields:
        return _too_complex(
            f"The document selects {measured.fields} fields (fragments expanded); "
            f"at most {settings.max_fields}."
        )
    if measured.spreads > settings.max_fragment_spreads:
        return _too_complex(
            f"The document has {measured.spreads} fragment spreads; "
            f"at most {settings.max_fragment_spreads}."
        )
    if measured.problem is not None:
        return GraphQLError(measured.problem, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
    if measured.depth > settings.max_query_depth:
        return _too_complex(
            f"The operation is {measured.depth} fields deep; at most {settings.max_query_depth}."
        )
    if measured.aliases > settings.max_aliases:
        return _too_complex(
            f"The operation uses {measured.aliases} aliases (fragments expanded); "
            f"at most {settings.max_aliases}."
        )
    if not measured.expanded:
        return _too_complex(
            "The document expands to too many fields once its fragments are merged."
        )
    if measured.repeats > settings.max_repeated_fields:
        return _too_complex(
            f"One selection asks for the same field {measured.repeats} times "
            f"(fragments expanded); at most {settings.max_repeated_fields}."
        )
    if measured.pairs > settings.max_merge_pairs:
        return _too_complex(
            f"Merging the document's repeated fields and fragments takes {measured.pairs} "
            f"comparisons; at most {settings.max_merge_pairs}. Repeat fields less."
        )
    return None


class RequestLimits(SchemaExtension):
    """Parse (cached), measure, cost, rate-limit and validate (cached) every request, and
    report ``extensions.cost``: refused requests cost 1 point, subscriptions pay per event.
    """

    def __init__(self, cache: DocumentCache, *, execution_context: Any = None) -> None:
        self.cache = cache
        self.entry: Document | None = None
        self.operation: OperationDefinitionNode | None = None
        self.requested = 0
        self.report: dict[str, Any] | None = None

    @property
    def _context(self) -> ExecutionContext:
        return self.execution_context

    def on_parse(self) -> Iterator[None]:
        """Reuse the parsed document of an identical earlier request."""
        ctx = self._context
        settings: Settings = ctx.context.services.settings
        ctx.parse_options["max_tokens"] = settings.max_tokens
        if ctx.query is not None and ctx.graphql_document is None:
            self.entry = self.cache.get(ctx.query)
            if self.entry is None:
                try:
                    document = parse(ctx.query, max_tokens=settings.max_tokens)
                except GraphQLError:
                    document = None  # Strawberry parses again and reports the error
                if document is not None:
                    self.entry = self.cache.put(ctx.query, document)
            if self.entry is not None:
                ctx.graphql_document = self.entry.document
        yield
        if ctx.graphql_document is None:
            self._refused(1)

    def on_validate(self) -> Iterator[None]:
        """The linear checks, the cost limit and the bucket, then (cached) validation."""
        ctx = self._context
        settings: Settings = ctx.context.services.settings
        error = self._check(ctx, settings)
        if error is not None:
            ctx.pre_execution_errors = [error]
        yield

    def _check(self, ctx: ExecutionContext, settings: Settings) -> GraphQLError | None:
        entry = self.entry
        if entry is None or ctx.graphql_document is not entry.document:
            return None  # not parsed by us: nothing to check against
        operation = select_operation(entry.document, ctx.operation_name)
        info = current_request()
        if info is not None and operation is not None and operation.name is not None:
            info.operation = operation.name.value
        if operation is None:
            return None
        self.operation = operation
        problem = shape_problem(entry.shape_of(ctx.operation_name, operation), settings)
        if problem is not None:
            self._refused(1)
            return problem
        schema = ctx.schema._schema
        self.requested = requested_cost(schema, entry.document, operation, ctx.variables)
        limit = settings.max_query_cost
        if self.requested > limit:
            self._refused(self.requested)
            return _too_complex(
                f"Query cost {self.requested} exceeds the limit of {limit}; "
                "ask for fewer items (first/last) or fewer fields.",
                cost=self.requested,
                limit=limit,
            )
        errors = entry.validation_errors(schema, self.cache.rules)
        ctx.pre_execution_errors = list(errors)  # also tells Strawberry not to validate again
        if errors:
            self._refused(self.requested)
            return None
        ctx.context.operation_type = operation.operation.value
        if operation.operation.value == "subscription":
            self._refused(self.requested)  # the subscribe itself costs 1; events pay their own
            return None
        return self._take(ctx, self.requested)

    def _take(self, ctx: ExecutionContext, points: int) -> GraphQLError | None:
        context = ctx.context
        limiter: Limiter = context.services.rate_limiter
        granted, remaining, wait = limiter.take(context.rate_limit_key, points)
        self.report = cost_report(points, 0, context.services.settings.max_query_cost, remaining)
        if granted:
            return None
        retry = retry_seconds(wait)
        if isinstance(context.response, Response):
            context.response.headers["Retry-After"] = str(retry)
        return rate_limited_error(points, remaining, retry)

    def _refused(self, requested: int) -> None:
        """A request that will not run: it costs 1 point."""
        context = self._context.context
        limiter: Limiter = context.services.rate_limiter
        _, remaining, _ = limiter.take(context.rate_limit_key, 1)
        self.report = cost_report(requested, 0, context.services.settings.max_query_cost, remaining)

    def on_execute(self) -> Iterator[None]:
        """After execution: give back what was requested but not used."""
        yield
        ctx = self._context
        if self.entry is None or self.operation is None or self.report is None:
            return
        if self.operation.operation.value == "subscription":
            return
        result = ctx.result
        data = getattr(result, "data", None) if result is not None else None
        actual = min(
            self.requested,
            actual_cost(
                ctx.schema._schema, self.entry.document, self.operation, data, self.entry.cost_plans
            ),
        )
        context = ctx.context
        remaining = context.services.rate_limiter.give_back(
            context.rate_limit_key, self.requested - actual
        )
        self.report = cost_report(
            self.requested, actual, context.services.settings.max_query_cost, remaining
        )

    async def on_stream_result(self, result: Any) -> None:  # type: ignore[override]
        """A subscription event: charge its cost, waiting while the bucket is empty (the
        generator is paused meanwhile, so the next event is the newest state).
        """
        if self.entry is None or self.operation is None:
            return
        if self.operation.operation.value != "subscription" or result.data is None:
            return
        context = self._context.context
        limiter: Limiter = context.services.rate_limiter
        cost = actual_cost(
            self._context.schema._schema,
            self.entry.document,
            self.operation,
            result.data,
            self.entry.cost_plans,
        )
        while True:
            granted, remaining, wait = limiter.take(context.rate_limit_key, cost)
            if granted:
                break
            await asyncio.sleep(min(max(wait, 0.05), 60.0))
        report = cost_report(cost, cost, context.services.settings.max_query_cost, remaining)
        result.extensions = {**(result.extensions or {}), "cost": report}

    def get_results(self) -> dict[str, Any]:
        """``extensions.cost`` of the response."""
        return {"cost": self.report} if self.report else {}
