"""The request limits of every GraphQL request: size, depth, aliases and cost of the whole
document checked in linear time before graphql-core validates anything (R152; documents and
their verdicts are kept by ``schema.limits.documents``), cost points taken from the caller's bucket
(``schema.limits.rate_limit``), and the ``extensions.cost`` report on every response (subscription
events included).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    specified_rules,
)
from graphql.validation import MaxIntrospectionDepthRule, NoSchemaIntrospectionCustomRule
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionContext

from app.config import Settings
from app.observability import current_request
from schema.limits.cost import requested_cost
from schema.limits.documents import Document, DocumentCache, plans_bytes, stand_in, too_complex
from schema.limits.rate_limit import Limiter, cost_report, rate_limited_error, retry_seconds
from schema.limits.response_cost import actual_cost
from schema.limits.shape import select_operation

__all__ = ["DocumentCache", "RequestLimits", "validation_rules"]


def validation_rules(introspection: bool) -> tuple[type[ASTValidationRule], ...]:
    """graphql-core's rules, its introspection depth rule, and no introspection when off."""
    rules: tuple[type[ASTValidationRule], ...] = (*specified_rules, MaxIntrospectionDepthRule)
    return rules if introspection else (*rules, NoSchemaIntrospectionCustomRule)


# -- the extension -----------------------------------------------------------------------------


def _name_of(operation: OperationDefinitionNode) -> str:
    name = operation.name.value if operation.name else "(anonymous)"
    return name if len(name) <= 64 else name[:64] + "…"


class RequestLimits(SchemaExtension):
    """Parse (cached), measure, cost, rate-limit and validate (cached) every request, and
    report ``extensions.cost``: refused requests cost 1 point, subscriptions pay per event.
    """

    def __init__(self, cache: DocumentCache, *, execution_context: Any = None) -> None:
        self.cache = cache
        self.entry: Document | None = None
        self.parsed: DocumentNode | None = None  # what the request runs (or its stand-in)
        self.operation: OperationDefinitionNode | None = None
        self.requested = 0
        self.report: dict[str, Any] | None = None

    @property
    def _context(self) -> ExecutionContext:
        return self.execution_context

    @property
    def _operation_name(self) -> str | None:
        """The operationName the request gave (Strawberry's ``operation_name`` falls back to
        the first operation's).
        """
        name: str | None = self._context._provided_operation_name
        return name

    def on_parse(self) -> Iterator[None]:
        """Reuse the parsed document of an identical earlier request; a document the limits
        refuse is not kept, only a stand-in of its operation.
        """
        ctx = self._context
        settings: Settings = ctx.context.services.settings
        ctx.parse_options["max_tokens"] = settings.max_tokens
        if ctx.query is not None and ctx.graphql_document is None:
            try:
                self.entry = self.cache.load(ctx.query, settings)
            except GraphQLError:
                self.entry = None  # Strawberry parses again and reports the error
            if self.entry is not None:
                self.parsed = self.entry.document
                if self.parsed is None:
                    self.parsed = stand_in(self.entry.verdict, self._operation_name)
                ctx.graphql_document = self.parsed
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
        if entry is None or self.parsed is None or ctx.graphql_document is not self.parsed:
            return None  # not parsed by us: nothing to check against
        verdict = entry.verdict
        names = [name for name, _ in verdict.operations]
        name = names[0] if self._operation_name is None and len(names) == 1 else None
        name = name or (self._operation_name if self._operation_name in names else None)
        info = current_request()
        if info is not None and name is not None:
            info.operation = name
        if verdict.refusal is not None:
            self._refused(1)
            return verdict.refusal
        if self._operation_name is None and len(verdict.operations) > 1:
            self._refused(1)
            return GraphQLError(
                f"The document holds {len(verdict.operations)} operations: say which one to run "
                "with operationName.",
                extensions={"code": "BAD_REQUEST"},
            )
        document = entry.document
        assert document is not None
        operation = select_operation(document, self._operation_name)
        if operation is None:
            return None
        self.operation = operation
        schema = ctx.schema._schema
        problem = self._cost_problem(schema, document, operation, ctx.variables, settings)
        if problem is not None:
            return problem
        errors = self.cache.validation_errors(entry, schema)
        ctx.pre_execution_errors = list(errors)  # also tells Strawberry not to validate again
        if errors:
            self._refused(self.requested)
            return None
        ctx.context.operation_type = operation.operation.value
        if operation.operation.value == "subscription":
            self._refused(self.requested)  # the subscribe itself costs 1; events pay their own
            return None
        return self._take(ctx, self.requested)

    def _cost_problem(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
        settings: Settings,
    ) -> GraphQLError | None:
        """Cost every operation of the document: refuse it if any costs more than the limit
        (whether it runs or not), charge the one that runs.
        """
        limit = settings.max_query_cost
        worst, dearest = 0, operation
        for other in document.definitions:
            if isinstance(other, OperationDefinitionNode):
                cost = requested_cost(schema, document, other, variables)
                if other is operation:
                    self.requested = cost
                if cost > worst:
                    worst, dearest = cost, other
        if worst <= limit:
            return None
        self._refused(worst)
        elsewhere = (
            ""
            if dearest is operation
            else f" (operation {_name_of(dearest)}, which this request does not run)"
        )
        return too_complex(
            f"Query cost {worst} exceeds the limit of {limit}{elsewhere}; "
            "ask for fewer items (first/last) or fewer fields.",
            cost=worst,
            limit=limit,
        )

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
        self.report = settle(
            self.cache,
            self.entry,
            ctx.schema._schema,
            self.operation,
            data,
            self.requested,
            ctx.context,
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
        document = self.entry.document
        assert document is not None
        cost = actual_cost(
            self._context.schema._schema,
            document,
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


def settle(
    cache: DocumentCache,
    entry: Document,
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    data: Any,
    requested: int,
    context: Any,
) -> dict[str, Any]:
    """What an answer actually cost: the points requested but not used go back to the
    caller's bucket; returns the ``extensions.cost`` report.
    """
    document = entry.document
    assert document is not None
    plans = entry.cost_plans
    known = len(plans)
    actual = min(requested, actual_cost(schema, document, operation, data, plans))
    if len(plans) != known:  # worked out now, kept with the document: count them
        cache.resize(entry, entry.size - entry.plans_size + (size := plans_bytes(plans)))
        entry.plans_size = size
    remaining = context.services.rate_limiter.give_back(context.rate_limit_key, requested - actual)
    return cost_report(requested, actual, context.services.settings.max_query_cost, remaining)
