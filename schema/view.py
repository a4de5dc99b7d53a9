"""The HTTP edge: authentication, body limits, GraphQL-over-HTTP media types, GraphiQL offline."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http import process_result as strawberry_process_result
from strawberry.schema import BaseSchema
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app import catalogue
from app.accounts import service as accounts_service
from app.accounts.rules import Viewer
from app.clock import Clock
from app.config import Settings
from app.database import read_session
from app.storage.store import ObjectStore
from schema.cache import Entry, ResponseCache, cache_key
from schema.context import Context
from schema.limits import RateLimiter, cost_report, rate_limited_error
from schema.loaders import make_loaders

log = logging.getLogger("bcc_images.http")

GRAPHQL_RESPONSE = "application/graphql-response+json"
MULTIPART_SLACK = 1024 * 1024
JSON = "application/json"
GRAPHIQL_HTML = (
    Path(__file__).resolve().parent.parent / "app" / "static" / "graphiql" / "index.html"
)


def _media_ranges(accept: str) -> dict[str, float]:
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        q = 1.0
        for param in pieces[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        ranges[media] = max(q, ranges.get(media, 0.0))
    return ranges


def negotiate(accept: str | None) -> str | None:
    """Pick the response media type for an Accept header; None if nothing acceptable."""
    if not accept:
        return JSON
    ranges = _media_ranges(accept)
    gql = ranges.get(GRAPHQL_RESPONSE, 0.0)
    json_q = ranges.get(JSON, 0.0)
    wildcard = max(ranges.get("*/*", 0.0), ranges.get("application/*", 0.0))
    if gql > 0 and gql >= json_q:
        return GRAPHQL_RESPONSE
    if json_q > 0 or wildcard > 0:
        return JSON
    return None


_REQUEST_FORMS: ContextVar[list[Any] | None] = ContextVar("request_forms", default=None)


class BodyTooLarge(Exception):
    """The request body is larger than the configured limit."""


def _error_body(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view with this service's edge rules."""

    def __init__(
        self,
        schema: BaseSchema,
        *,
        settings: Settings,
        engine: Engine,
        clock: Clock,
        store: ObjectStore,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            multipart_uploads_enabled=True,
            allowed_origins=settings.cors_origins,
        )
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.store = store
        self.response_cache = ResponseCache()
        self.rate_limiter = RateLimiter(
            settings.rate_limit_points, settings.rate_limit_refill_per_second
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope)
        response = self._refuse(request)
        if response is not None:
            await response(scope, receive, send)
            return
        limit = self._body_limit(request)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        forms: list[Any] = []
        token = _REQUEST_FORMS.set(forms)
        try:
            await super().__call__(scope, limited_receive, send)
        except BodyTooLarge:
            await self._too_large(limit)(scope, receive, send)
        finally:
            _REQUEST_FORMS.reset(token)
            for form in forms:  # uploaded files a resolver did not close (e.g. refused early)
                await form.close()

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        form = await request.get_form_data()
        forms = _REQUEST_FORMS.get(None)
        if forms is not None and hasattr(form.files, "close"):
            forms.append(form.files)
        return await super().parse_multipart(request)

    def _body_limit(self, request: Request) -> int:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/"):
            # the other form fields get a little room; the file's own limit is enforced
            # while it is stored, as the UPLOAD_TOO_LARGE userError
            return self.settings.max_upload_bytes + MULTIPART_SLACK
        return self.settings.max_body_bytes

    def _too_large(self, limit: int) -> Response:
        return JSONResponse(
            _error_body(f"Request body exceeds {limit} bytes.", "BAD_REQUEST"), status_code=413
        )

    def _refuse(self, request: Request) -> Response | None:
        """Refuse early: oversized bodies, unacceptable Accept, invalid tokens."""
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return JSONResponse(_error_body("Invalid Content-Length.", "BAD_REQUEST"), 400)
            if int(length) > self._body_limit(request):
                return self._too_large(self._body_limit(request))
        if (
            request.method in ("GET", "POST")
            and "text/html" not in request.headers.get("accept", "")
            and negotiate(request.headers.get("accept")) is None
        ):
            return JSONResponse(
                _error_body(
                    f"Not acceptable: this endpoint answers {GRAPHQL_RESPONSE} or {JSON}.",
                    "BAD_REQUEST",
                ),
                status_code=406,
            )
        header = request.headers.get("authorization")
        if header is None:
            request.scope.setdefault("state", {})["viewer"] = None
            return None
        scheme, _, token = header.partition(" ")
        viewer: Viewer | None = None
        if scheme.lower() == "bearer" and token.strip():
            with read_session(self.engine) as session:
                viewer = accounts_service.authenticate(session=session, token=token.strip())
        if viewer is None:
            return JSONResponse(
                _error_body("Invalid, revoked or malformed bearer token.", "UNAUTHENTICATED"),
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        request.scope.setdefault("state", {})["viewer"] = viewer
        return None

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        viewer = request.scope.get("state", {}).get("viewer")
        context = Context(
            request=request,
            response=response,
            settings=self.settings,
            engine=self.engine,
            clock=self.clock,
            viewer=viewer,
            store=self.store,
        )
        context.loaders = make_loaders(lambda: context.session, viewer)
        context.rate_limiter = self.rate_limiter
        client = request.client.host if request.client else "unknown"
        context.rate_limit_key = f"token:{viewer.token_id}" if viewer else f"ip:{client}"
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | None | dict[str, object]:
        """Authenticate a WebSocket from connection_init {"Authorization": "Bearer …"} or the
        handshake's header; a bad token closes the connection (4403)."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("Authorization") or params.get("authorization")
        if header is None:
            header = context.request.headers.get("authorization")
        if header is not None:
            scheme, _, token = str(header).partition(" ")
            viewer = None
            if scheme.lower() == "bearer" and token.strip():
                with read_session(self.engine) as session:
                    viewer = accounts_service.authenticate(session=session, token=token.strip())
            if viewer is None:
                raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
            context.viewer = viewer
            context.fresh()
        nothing: UnsetType = UNSET
        return nothing

    async def execute_single(  # noqa: PLR0917
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """Serve anonymous catalogue queries from the response cache when it is current."""
        cacheable = (
            self.settings.response_cache
            and context.viewer is None
            and bool(request_data.query)
            and not (request_adapter.content_type or "").startswith("multipart/")
        )
        if not cacheable:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        key = cache_key(request_data.query, request_data.variables, request_data.operation_name)
        with read_session(self.engine) as session:
            version = catalogue.current(session=session)
        entry = self.response_cache.get(key, version)
        if entry is not None:
            return self._from_cache(entry, context, sub_response)
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        cost = (result.extensions or {}).get("cost") or {}
        if context.operation_type == "query" and not result.errors and result.data is not None:
            self.response_cache.put(
                key,
                Entry(version, result.data, cost.get("requested", 0), cost.get("actual", 0)),
            )
        return result

    def _from_cache(self, entry: Entry, context: Context, sub_response: Any) -> ExecutionResult:
        granted, remaining, wait = self.rate_limiter.take(context.rate_limit_key, entry.requested)
        limit = self.settings.max_query_cost
        if not granted:
            retry = max(1, int(wait + 0.999))
            sub_response.headers["Retry-After"] = str(retry)
            return ExecutionResult(
                data=None,
                errors=[rate_limited_error(entry.requested, remaining, retry)],
                extensions={"cost": cost_report(entry.requested, 0, limit, remaining)},
            )
        remaining = self.rate_limiter.give_back(
            context.rate_limit_key, entry.requested - entry.actual
        )
        return ExecutionResult(
            data=entry.data,
            errors=None,
            extensions={"cost": cost_report(entry.requested, entry.actual, limit, remaining)},
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(GRAPHIQL_HTML.read_text(encoding="utf-8"))

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data = strawberry_process_result(result)
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            data.pop("data", None)  # a request error: execution never started
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        request_error = isinstance(response_data, dict) and "data" not in response_data
        errors: list[Any] = (
            list(response_data.get("errors") or []) if isinstance(response_data, dict) else []
        )
        codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
        if "RATE_LIMITED" in codes:
            response.status_code = 429
        if getattr(sub_response, "graphql_response", False):
            response.headers["content-type"] = GRAPHQL_RESPONSE
            if request_error and response.status_code == 200:
                response.status_code = 400
        return response

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub = await super().get_sub_response(request)
        sub.graphql_response = negotiate(request.headers.get("accept")) == GRAPHQL_RESPONSE  # type: ignore[attr-defined]
        return sub
