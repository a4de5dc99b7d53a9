"""What answers one GraphQL operation once its request has arrived: a persisted query's
document, the response cache (per signed-in account, shared by anonymous callers), the
compiled read path, then the ordinary executor; and the headers that let browsers and CDNs
keep anonymous catalogue answers.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.exceptions import MissingQueryError
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.errors import shown
from app.observability import current_request
from app.platform.versions import Versions
from app.workflows.tracking import read as read_versions
from schema.compiled.reads import CompiledReads
from schema.context import Context, Services
from schema.http.kept import KeptAnswers
from schema.http.persisted import (
    PersistedQueries,
    PersistedQueryHashMismatch,
    PersistedQueryNotFound,
)
from schema.http.refusals import RequestRefused
from schema.http.response_cache import Entry, ResponseCache, cache_key
from schema.limits.rate_limit import cost_report, rate_limited_error, retry_seconds

#: what each HTTP method may run: queries over GET, queries and mutations over POST
#: (subscriptions are served over WebSocket)
ALLOWED_OPERATIONS = {
    "GET": {OperationType.QUERY},
    "POST": {OperationType.QUERY, OperationType.MUTATION},
}


def bucket(request: Request | WebSocket, viewer: Any) -> str:
    """The rate-limit bucket of a request: its token's, or its address's when anonymous."""
    if viewer is not None:
        return f"token:{viewer.token_id}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


class Answers:
    """Answers operations for one process: its response cache, kept answers, persisted
    queries and compiled reads.
    """

    def __init__(self, schema: BaseSchema, services: Services) -> None:
        settings = services.settings
        self.schema = schema
        self.services = services
        self.response_cache = ResponseCache(settings.response_cache_bytes)
        self.kept = KeptAnswers(
            self.response_cache,
            max(1 << 20, settings.response_cache_bytes // 16),
            settings.max_query_cost,
        )
        self.persisted = PersistedQueries(
            services.engine, services.clock, settings.persisted_query_cache_bytes
        )
        self.compiled: CompiledReads | None = getattr(schema, "compiled", None)

    def anonymous_versions(self, session: Any) -> Versions:
        """What anonymous callers' cached answers are checked against (from the board)."""
        now = self.services.clock.now()
        return self.services.board.versions(
            "", now, lambda: read_versions(session=session, account_id=None, now=now)
        )

    async def answer(
        self,
        request: Request,
        method: str,
        content_type: str,
        sub_response: Any,
        context: Context,
        request_data: Any,
    ) -> ExecutionResult:
        """Answer a query from the response cache when an answer computed at the current
        versions is there (anonymous callers share answers, a signed-in caller has its own;
        administrators are never served from it). Refuse operations the method may not run.
        A persisted query's hash stands for its document; anonymous, error-free GET answers
        may be cached by browsers and CDNs.
        """
        try:
            request_data = self.persisted.resolve(request_data, context, self.schema)
        except PersistedQueryNotFound:
            return self._not_persisted(context)
        except PersistedQueryHashMismatch as exc:
            raise RequestRefused(
                400,
                "PERSISTED_QUERY_HASH_MISMATCH",
                "The document's SHA-256 is not the persistedQuery hash sent with it.",
            ) from exc
        viewer = context.viewer
        info = current_request()
        if info is not None and request_data.operation_name:
            info.operation = request_data.operation_name
        use = self.services.settings.response_cache
        if (
            not request_data.query
            or content_type.startswith("multipart/")
            or (viewer is not None and (viewer.is_admin or not use))
            or (viewer is None and not use and method != "GET")
        ):
            return await self.execute(method, context, request_data)
        versions = context.versions or self.anonymous_versions(context.session)
        result = await self._cached(method, context, request_data, sub_response, versions)
        if viewer is None and method == "GET" and not result.errors:
            self._public(request, sub_response, versions)
        return result

    async def _cached(
        self,
        method: str,
        context: Context,
        request_data: Any,
        sub_response: Any,
        versions: Versions,
    ) -> ExecutionResult:
        """The cached answer at these versions, or a fresh one (kept when it may be)."""
        who = context.viewer.account_id if context.viewer else ""
        key = cache_key(
            request_data.query, request_data.variables, request_data.operation_name, who
        )
        use = self.services.settings.response_cache
        entry = (
            self.response_cache.get(key, versions.catalogue, versions.account, versions.transition)
            if use
            else None
        )
        info = current_request()
        if entry is not None:
            if info is not None:
                info.operation = entry.operation  # as the fresh answer was logged
            self.kept.remember(context.request, key)
            return self._from_cache(entry, context, sub_response)
        result = await self.execute(method, context, request_data)
        keep = context.operation_type == "query" and not result.errors and not context.uncacheable
        if use and keep and result.data is not None:
            cost = (result.extensions or {}).get("cost") or {}
            operation = info.operation if info is not None else None
            self.response_cache.put(
                key,
                Entry(
                    versions.catalogue,
                    versions.account,
                    orjson.dumps(result.data),
                    cost.get("requested", 0),
                    cost.get("actual", 0),
                    versions.transition,
                    operation,
                ),
            )
            self.kept.remember(context.request, key)
        return result

    def _public(self, request: Request, sub_response: Any, versions: Versions) -> None:
        """An anonymous catalogue answer over GET: the same for everyone until the catalogue
        changes (or the next scheduled deprecation takes effect), so browsers and CDNs may
        keep it until then.
        """
        etag = f'W/"catalogue-{versions.catalogue}-{versions.transition}"'
        max_age = int(self.services.settings.public_cache_seconds)
        if versions.transition:
            ahead = versions.transition - int(self.services.clock.now().timestamp())
            max_age = max(0, min(max_age, ahead))
        sub_response.headers["Cache-Control"] = f"public, max-age={max_age}"
        sub_response.headers["ETag"] = etag
        sub_response.headers["Vary"] = "Authorization, Accept-Encoding"
        sub_response.not_modified = request.headers.get("if-none-match") == etag

    def _not_persisted(self, context: Context) -> ExecutionResult:
        _, remaining, _ = self.services.rate_limiter.take(context.rate_limit_key, 1)
        return ExecutionResult(
            data=None,
            errors=[
                GraphQLError(
                    "PersistedQueryNotFound",
                    extensions={"code": "PERSISTED_QUERY_NOT_FOUND"},
                )
            ],
            extensions={
                "cost": cost_report(1, 0, self.services.settings.max_query_cost, remaining)
            },
        )

    async def execute(self, method: str, context: Context, request_data: Any) -> ExecutionResult:
        """Run the operation: on the compiled read path when it takes the document, else
        with the ordinary executor.
        """
        if self.compiled is not None:
            compiled = await self.compiled.answer(context, request_data)
            if compiled is not None:
                return compiled
        try:
            return await self.schema.execute(
                request_data.query,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=ALLOWED_OPERATIONS.get(method, set()),
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise RequestRefused(
                    400,
                    "OPERATION_NOT_SUPPORTED",
                    "Subscriptions are served over WebSocket (graphql-transport-ws) on /graphql.",
                ) from exc
            raise RequestRefused(
                405,
                "METHOD_NOT_ALLOWED",
                "Mutations are sent with POST.",
                {"Allow": "POST"},
            ) from exc
        except CannotGetOperationTypeError as exc:
            name = exc.operation_name
            raise RequestRefused(
                400,
                "BAD_REQUEST",
                f"The document has no operation named {shown(name)}."
                if name is not None
                else "The document's operation could not be told: send operationName.",
            ) from exc
        except MissingQueryError as exc:
            raise RequestRefused(
                400, "BAD_REQUEST", "No GraphQL query found in the request."
            ) from exc

    def _from_cache(self, entry: Entry, context: Context, sub_response: Any) -> ExecutionResult:
        granted, remaining, wait = self.services.rate_limiter.take(
            context.rate_limit_key, entry.requested
        )
        limit = self.services.settings.max_query_cost
        if not granted:
            retry = retry_seconds(wait)
            sub_response.headers["Retry-After"] = str(retry)
            return ExecutionResult(
                data=None,
                errors=[rate_limited_error(entry.requested, remaining, retry)],
                extensions={"cost": cost_report(entry.requested, 0, limit, remaining)},
            )
        remaining = self.services.rate_limiter.give_back(
            context.rate_limit_key, entry.requested - entry.actual
        )
        return ExecutionResult(
            data=orjson.Fragment(entry.data),  # type: ignore[arg-type]  # raw JSON, written as is
            errors=None,
            extensions={"cost": cost_report(entry.requested, entry.actual, limit, remaining)},
        )
