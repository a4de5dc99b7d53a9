"""The compiled read path: a query over the catalogue and the console's pages is answered from
a plan kept with its parsed document, with the same limits, cost and errors as the ordinary
path; anything else (another root field or type, a mutation, introspection, a refusal of any
kind, a run the plan declines) is left to the ordinary path, which answers as it always has.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, VariableNode, visit
from graphql.execution.values import VariableValues, get_variable_values
from graphql.language import DirectiveNode, Visitor
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import Counter
from strawberry.types import ExecutionResult

from app.observability import current_request
from schema.compiled.executor import Plan, Run
from schema.compiled.steps import TYPENAME, Decline, Uncompilable
from schema.errors import coded_error
from schema.limits.cost import requested_cost
from schema.limits.documents import Document, DocumentCache
from schema.limits.extension import settle
from schema.limits.shape import select_operation

log = logging.getLogger("bcc_images.compiled")

#: the root fields a compiled document may select (any other sends it to the ordinary path)
ROOT_FIELDS = frozenset(
    {
        "images",
        "image",
        "node",
        "nodes",
        "regions",
        "region",
        "flavors",
        "listings",
        "listing",
        "instances",
        "instance",
        "viewer",
    }
)
#: the object types a compiled answer may reach
TYPES = frozenset(
    {
        "Query",
        "Image",
        "ImageConnection",
        "ImageEdge",
        "ImageSource",
        "ImageRef",
        "Failure",
        "Deprecation",
        "ChargeRoot",
        "OperatingSystem",
        "Tag",
        "PageInfo",
        "Region",
        "Zone",
        "Flavor",
        "FlavorPrice",
        "Money",
        "Listing",
        "ListingConnection",
        "ListingEdge",
        "Plan",
        "Instance",
        "InstanceConnection",
        "InstanceEdge",
        "InstanceBilling",
        "ChargeLine",
        "SystemDisk",
        "Account",
        "AccountConnection",
        "AccountEdge",
        "Transaction",
        "TransactionConnection",
        "TransactionEdge",
    }
)

ANSWERS = Counter(
    "bcc_images_compiled_reads",
    "Queries the compiled read path answered (compiled), left to the ordinary path before "
    "running (ordinary), gave up on mid-way as the ordinary path would answer differently "
    "(declined), or failed on (failed: a fault, logged; that plan is not used again).",
    ["outcome"],
)
#: what a kept plan holds besides the document it belongs to, per collected field
PLAN_BYTES = 4096
STEP_BYTES = 512


class NotCompiled(Exception):
    """This operation is not one the compiled path answers (kept, so it is not tried again)."""


def _directive_variables(document: Any) -> tuple[str, ...]:
    """The variables an @include/@skip of the document reads: a plan is made per their values."""
    names: set[str] = set()

    class Directives(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            if node.name.value in ("include", "skip"):
                for argument in node.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)

    visit(document, Directives())
    return tuple(sorted(names))


class CompiledReads:
    """Answers the queries it can from plans kept with their parsed documents."""

    def __init__(
        self, schema: Any, documents: DocumentCache, enabled: bool, tracing: bool = False
    ) -> None:
        self.schema = schema
        self.documents = documents
        self.enabled = enabled
        self.tracing = tracing

    def _span(self, operation: OperationDefinitionNode, query: str) -> AbstractContextManager[Any]:
        """The operation's span when tracing is on (named as the ordinary path names it; the
        compiled path has no per-field spans).
        """
        if not self.tracing:
            return nullcontext()
        name = f"GraphQL Query: {operation.name.value}" if operation.name else "GraphQL Query"
        return trace.get_tracer("strawberry").start_as_current_span(
            name, kind=SpanKind.SERVER, attributes={"component": "graphql", "query": query}
        )

    async def answer(self, context: Any, request: Any) -> ExecutionResult | None:
        """The answer, or None for the ordinary path to give."""
        if not self.enabled or not request.query:
            return None
        selected = self._select(request, context.services.settings)
        if selected is None:
            return None
        entry, operation, variables = selected
        plan = self._plan(entry, operation, variables)
        if plan is None:
            ANSWERS.labels("ordinary").inc()
            return None
        requested = self._admitted(entry, operation, request, context)
        if requested is None:
            return None
        info = current_request()
        if info is not None and operation.name is not None:
            info.operation = operation.name.value
        context.operation_type = "query"
        run = Run(plan, context, variables)
        limiter = context.services.rate_limiter
        try:
            with self._span(operation, request.query):
                data = await run.execute()
        except Exception as why:
            outcome = "declined" if isinstance(why, Decline) else "failed"
            if outcome == "failed" or isinstance(why, Uncompilable):
                entry.compiled[self._key(entry, operation, variables)] = None  # not again
            limiter.give_back(context.rate_limit_key, requested)
            context.start_over()  # the ordinary path reads afresh
            ANSWERS.labels(outcome).inc()
            if outcome == "failed":  # a fault of the compiled path itself
                log.exception("compiled read failed; left to the ordinary path")
            return None
        finally:
            context.close()
        schema = self.schema._schema
        report = settle(self.documents, entry, schema, operation, data, requested, context)
        ANSWERS.labels("compiled").inc()
        errors = [coded_error(error) for error in run.errors]
        return ExecutionResult(data=data, errors=errors or None, extensions={"cost": report})

    def _select(
        self, request: Any, settings: Any
    ) -> tuple[Document, OperationDefinitionNode, VariableValues] | None:
        """The parsed document, its query to answer and its variables, or None when the
        request is not one for the compiled path (a mutation, a refusal of any kind).
        """
        try:
            entry = self.documents.load(request.query, settings)
        except GraphQLError:
            return None
        document = entry.document
        if document is None or entry.verdict.refusal is not None:
            return None
        if request.operation_name is None and len(entry.verdict.operations) > 1:
            return None
        operation = select_operation(document, request.operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return None
        variables = get_variable_values(
            self.schema._schema, operation.variable_definitions or (), request.variables or {}
        )
        if not isinstance(variables, VariableValues):
            return None
        return entry, operation, variables

    def _admitted(
        self, entry: Document, operation: OperationDefinitionNode, request: Any, context: Any
    ) -> int | None:
        """The points the query requests, taken from the caller's bucket; None when the
        ordinary path must answer (a cost over the limit, an invalid document, an empty
        bucket: it gives the refusal).
        """
        schema = self.schema._schema
        document = entry.document
        assert document is not None
        requested = 0
        for other in document.definitions:
            if isinstance(other, OperationDefinitionNode):
                cost = requested_cost(schema, document, other, request.variables)
                if cost > context.services.settings.max_query_cost:
                    return None
                if other is operation:
                    requested = cost
        if self.documents.validation_errors(entry, schema):
            return None
        granted, _, _ = context.services.rate_limiter.take(context.rate_limit_key, requested)
        return requested if granted else None

    @staticmethod
    def _key(entry: Document, operation: OperationDefinitionNode, variables: VariableValues) -> Any:
        """What a plan of this document depends on: its operation, and the values of the
        variables its @include/@skip read.
        """
        if entry.directive_variables is None:
            entry.directive_variables = _directive_variables(entry.document)
        coerced = variables.coerced
        return (
            operation.name.value if operation.name else None,
            tuple(repr(coerced.get(name)) for name in entry.directive_variables),
        )

    def _plan(
        self, entry: Document, operation: OperationDefinitionNode, variables: VariableValues
    ) -> Plan | None:
        """The kept plan of this operation for these @include/@skip values (made now if
        needed), or None when the compiled path does not answer it.
        """
        document = entry.document
        assert document is not None
        key = self._key(entry, operation, variables)
        plans: dict[Any, Plan | None] = entry.compiled
        if key in plans:
            return plans[key]
        plan: Plan | None
        try:
            plan = Plan(self.schema._schema, document, operation, variables, TYPES)
            if not all(
                step.how == TYPENAME or step.name in ROOT_FIELDS for step in plan.root_steps
            ):
                plan = None
        except Decline:
            plan = None
        plans[key] = plan
        size = PLAN_BYTES + (STEP_BYTES * len(plan.root_steps) if plan else 0)
        self.documents.resize(entry, entry.size + size)
        return plan
