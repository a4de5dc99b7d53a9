"""Query cost (each field 1, a connection multiplies its children by first/last) and a
per-token bucket of cost points; reported as ``extensions.cost`` on every response."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from app.pagination import DEFAULT_PAGE

CONNECTION_SUFFIX = "Connection"


def _page_size(field: FieldNode, variables: dict[str, Any]) -> int:
    for argument in field.arguments or ():
        if argument.name.value in ("first", "last"):
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, VariableNode):
                given = variables.get(value.name.value)
                if isinstance(given, int):
                    return max(0, given)
    return DEFAULT_PAGE


def selection_cost(
    schema: GraphQLSchema,
    parent: GraphQLNamedType,
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    seen: frozenset[str] = frozenset(),
    page: int | None = None,
) -> int:
    """Cost of a selection set below ``parent``: 1 a field; inside a connection the
    ``edges`` and ``nodes`` subtrees count once per requested item (first/last)."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name.startswith("__") or not isinstance(
                parent, GraphQLObjectType | GraphQLInterfaceType
            ):
                total += 0 if name == "__typename" else 1
                continue
            definition = parent.fields.get(name)
            if definition is None:
                continue
            child_type = get_named_type(definition.type)
            size = (
                _page_size(selection, variables)
                if child_type.name.endswith(CONNECTION_SUFFIX)
                else None
            )
            cost = 1 + selection_cost(
                schema, child_type, selection.selection_set, fragments, variables, seen, size
            )
            if page is not None and name in ("edges", "nodes"):
                cost *= page
            total += cost
        elif isinstance(selection, InlineFragmentNode):
            target = (
                schema.get_type(selection.type_condition.name.value)
                if selection.type_condition
                else parent
            )
            total += selection_cost(
                schema, target or parent, selection.selection_set, fragments, variables, seen, page
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue
            target = schema.get_type(fragment.type_condition.name.value) or parent
            total += selection_cost(
                schema, target, fragment.selection_set, fragments, variables, seen | {name}, page
            )
    return total


def count_fields(data: object) -> int:
    """Count resolved fields the way the cost is requested: a list field once per item."""
    if isinstance(data, dict):
        return sum((len(v) if isinstance(v, list) else 1) + count_fields(v) for v in data.values())
    if isinstance(data, list):
        return sum(count_fields(v) for v in data)
    return 0


@dataclass
class Bucket:
    """A leaky bucket of cost points."""

    points: float
    updated: float


class RateLimiter:
    """Per-client buckets of cost points, refilled continuously (in-process)."""

    def __init__(self, capacity: int, refill_per_second: float) -> None:
        self.capacity = capacity
        self.refill = refill_per_second
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: str, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            bucket = self._buckets[key] = Bucket(float(self.capacity), now)
        bucket.points = min(self.capacity, bucket.points + (now - bucket.updated) * self.refill)
        bucket.updated = now
        return bucket

    def take(self, key: str, points: int) -> tuple[bool, float, float]:
        """Take points if available: (granted, remaining, seconds until enough are back)."""
        now = time.monotonic()
        with self._lock:
            bucket = self._bucket(key, now)
            if bucket.points >= points:
                bucket.points -= points
                return True, bucket.points, 0.0
            wait = (points - bucket.points) / self.refill if self.refill > 0 else 3600.0
            return False, bucket.points, wait

    def give_back(self, key: str, points: int) -> float:
        """Return unused points (requested minus actual); returns what remains."""
        with self._lock:
            bucket = self._bucket(key, time.monotonic())
            bucket.points = min(self.capacity, bucket.points + max(0, points))
            return bucket.points


def cost_report(requested: int, actual: int, limit: int, remaining: float | None) -> dict[str, Any]:
    """The ``extensions.cost`` object of a response."""
    return {
        "requested": requested,
        "actual": actual,
        "limit": limit,
        "remaining": None if remaining is None else int(remaining),
    }


def rate_limited_error(requested: int, remaining: float, retry: int) -> GraphQLError:
    """The RATE_LIMITED error, with how long to wait."""
    return GraphQLError(
        f"Rate limited: this request costs {requested} points and "
        f"{int(remaining)} are available; retry in {retry} s.",
        extensions={"code": "RATE_LIMITED", "retryAfter": retry},
    )


class QueryCost(SchemaExtension):
    """Refuse documents above the cost limit, charge the client's bucket, report the cost."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        context = ctx.context
        settings = context.settings
        limiter: RateLimiter = context.rate_limiter
        self.report: dict[str, Any] | None = None
        document = ctx.graphql_document
        operation = next(
            (
                d
                for d in (document.definitions if document else ())
                if isinstance(d, OperationDefinitionNode)
                and (ctx.operation_name is None or (d.name and d.name.value == ctx.operation_name))
            ),
            None,
        )
        if operation is None:
            yield
            return
        context.operation_type = operation.operation.value
        schema = ctx.schema._schema
        root = schema.get_root_type(operation.operation)
        fragments = {
            d.name.value: d
            for d in (document.definitions if document else ())
            if isinstance(d, FragmentDefinitionNode)
        }
        requested = (
            selection_cost(schema, root, operation.selection_set, fragments, ctx.variables or {})
            if root
            else 0
        )
        limit = settings.max_query_cost
        key = context.rate_limit_key
        if requested > limit:
            self.report = cost_report(requested, 0, limit, None)
            ctx.result = GraphQLExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        f"Query cost {requested} exceeds the limit of {limit}; "
                        "ask for fewer items (first/last) or fewer fields.",
                        extensions={"code": "QUERY_TOO_COMPLEX", "cost": requested, "limit": limit},
                    )
                ],
            )
            yield
            return
        granted, remaining, wait = limiter.take(key, requested)
        if not granted:
            retry = max(1, int(wait + 0.999))
            if isinstance(context.response, Response):
                context.response.headers["Retry-After"] = str(retry)
            self.report = cost_report(requested, 0, limit, remaining)
            ctx.result = GraphQLExecutionResult(
                data=None, errors=[rate_limited_error(requested, remaining, retry)]
            )
            yield
            return
        yield
        result = ctx.result
        actual = count_fields(result.data) if result is not None else 0
        actual = min(actual, requested)
        remaining = limiter.give_back(key, requested - actual)
        self.report = cost_report(requested, actual, limit, remaining)

    def get_results(self) -> dict[str, Any]:
        report = getattr(self, "report", None)
        return {"cost": report} if report else {}
