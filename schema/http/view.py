"""The HTTP edge: authentication, body limits, GraphQL-over-HTTP media types, GraphiQL offline,
and every refusal as GraphQL JSON with a code.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http import process_result as strawberry_process_result
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

import app
from app.observability import client_disconnected, count_errors, current_request
from schema.context import Context, Services
from schema.http.answers import Answers, bucket
from schema.http.auth import Authenticator
from schema.http.body import (
    BodyRules,
    BodyTimeout,
    BodyTooLarge,
    BodyTooSlow,
    is_multipart,
    nesting_problem,
    place_files,
)
from schema.http.refusals import (
    GRAPHQL_RESPONSE,
    RequestRefused,
    code_for,
    negotiate,
    refusal_response,
    refuse_before_body,
)
from schema.http.websocket import TextWebSocketAdapter, TransportWSHandler
from schema.slots import RETRY_AFTER_SECONDS, UNAVAILABLE, UNAVAILABLE_MESSAGE

log = logging.getLogger("bcc_images.http")

#: GraphiQL's page, served with the service's other static files (app/static)
GRAPHIQL_HTML = Path(app.__file__).resolve().parent / "static" / "graphiql" / "index.html"
_REQUEST_FORMS: ContextVar[list[Any] | None] = ContextVar("request_forms", default=None)


#: variables (and extensions) nested deeper than this are refused before anything runs: no
#: input of this API nests half as deep, and graphql-core's coercion recurses per level
MAX_VARIABLE_DEPTH = 32


def unavailable(media: str) -> Response:
    """The answer when the database cannot serve: 503 with Retry-After."""
    return refusal_response(
        RequestRefused(
            503,
            "SERVICE_UNAVAILABLE",
            UNAVAILABLE_MESSAGE,
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        ),
        media,
    )


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view with this service's edge rules."""

    websocket_adapter_class = TextWebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, schema: BaseSchema, services: Services) -> None:
        settings = services.settings
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            multipart_uploads_enabled=True,
            allowed_origins=settings.cors_origins,
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.websocket_init_seconds),
        )
        self.services = services
        self.body = BodyRules(services.settings, services.policy)
        self.authenticator = Authenticator(settings.token_cache_bytes, services.board)
        self.answers = Answers(schema, services)

    def session(self) -> Session:
        """A new database session (its caller holds a request slot)."""
        return Session(self.services.engine, expire_on_commit=False)

    # -- HTTP -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope)
        media = negotiate(request.headers.get("accept")) or "application/json"
        # one database session for the whole request (the token check and every resolver);
        # it holds a connection only while the request holds a slot
        session = self.session()
        try:
            await self._serve(request, session, media, receive, send)
        except UNAVAILABLE as exc:
            log.warning("database unavailable: %s", exc)
            await unavailable(media)(scope, receive, send)
        finally:
            session.close()

    async def _serve(
        self, request: Request, session: Session, media: str, receive: Receive, send: Send
    ) -> None:
        scope = request.scope
        try:
            async with self.services.slots.held():
                try:
                    self._refuse(request, session)
                finally:
                    session.rollback()  # no connection is held while the body arrives
        except RequestRefused as refused:
            await refuse_before_body(refusal_response(refused, media), scope, receive, send)
            return
        forms: list[Any] = []
        token = _REQUEST_FORMS.set(forms)
        try:
            body = self.body.guarded(request, receive)
            response, body = await self._kept(request, body, media)
            if response is None:
                response = await self.run(Request(scope, body))
        except HTTPException as exc:
            response = refusal_response(
                RequestRefused(exc.status_code, code_for(exc.status_code, exc.reason), exc.reason),
                media,
            )
        except RequestRefused as refused:
            response = refusal_response(refused, media)
        except BodyTooLarge:
            response = refusal_response(self.body.too_large(request), media)
        except BodyTimeout:
            response = refusal_response(
                RequestRefused(408, "REQUEST_TIMEOUT", "The request body stopped arriving."), media
            )
        except BodyTooSlow as slow:
            response = refusal_response(RequestRefused(408, "REQUEST_TIMEOUT", str(slow)), media)
        except ClientDisconnect:
            client_disconnected()
            return
        finally:
            _REQUEST_FORMS.reset(token)
            for form in forms:  # uploaded files a resolver did not close (e.g. refused early)
                await form.close()
        await response(scope, receive, send)

    async def _kept(
        self, request: Request, receive: Receive, media: str
    ) -> tuple[Response | None, Receive]:
        """The kept answer to a POST whose bytes this caller sent before (see
        ``schema.http.kept``), and how the body is read next.
        """
        state = request.scope["state"]
        viewer = state.get("viewer")
        if (
            request.method != "POST"
            or not self.services.settings.response_cache
            or (viewer is not None and viewer.is_admin)
        ):
            return None, receive
        return await self.answers.kept.answer(
            request,
            receive,
            media,
            state.get("versions"),
            self.services.rate_limiter,
            bucket(request, viewer),
        )

    # -- WebSocket ------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Admit a WebSocket within the process's and its client's budgets, else answer the
        handshake 503 with a code.
        """
        client = scope.get("client")
        sockets = self.services.sockets
        seat = sockets.admit(client[0] if client else "unknown")
        if seat is None:
            await WebSocket(scope, receive, send).send_denial_response(
                refusal_response(
                    RequestRefused(
                        503,
                        "TOO_MANY_CONNECTIONS",
                        "Too many WebSockets are open; close one or try again later.",
                        {"Retry-After": "5"},
                    )
                )
            )
            return
        scope.setdefault("state", {})["seat"] = seat
        try:
            await super().__call__(scope, receive, send)
        finally:
            sockets.leave(seat)

    def _refuse(self, request: Request, session: Session) -> None:
        """Refuse from the headers alone: bad tokens, uploads that are anonymous, too large
        or over the storage quota, bad lengths and unacceptable Accept headers.

        Raises:
            RequestRefused: answered before any of the body is read.
        """
        now = self.services.clock.now()
        header = request.headers.get("authorization")
        viewer, versions = self.authenticator.caller(session, header, now)
        if viewer is None and (
            self.services.settings.response_cache or self.services.clock.simulated
        ):
            # what anonymous cached answers are checked at
            versions = self.answers.anonymous_versions(session)
        if self.services.clock.simulated and versions is not None:
            # another process may have moved the shared clock
            self.services.clock.set_offset(versions.clock_offset)
        state = request.scope.setdefault("state", {})
        state.update(viewer=viewer, versions=versions, session=session)
        info = current_request()
        if info is not None and viewer is not None:
            info.account_id = viewer.account_id
        length_header = request.headers.get("content-length")
        length = None
        if length_header is not None:
            if not length_header.isdigit():
                raise RequestRefused(400, "BAD_REQUEST", "Invalid Content-Length.")
            length = int(length_header)
        if is_multipart(request):
            self.body.refuse_upload(session, viewer, length)
        if length is not None and length > self.body.limit(request):
            raise self.body.too_large(request)
        if (
            request.method in ("GET", "POST")
            and "text/html" not in request.headers.get("accept", "")
            and negotiate(request.headers.get("accept")) is None
        ):
            raise RequestRefused(
                406,
                "NOT_ACCEPTABLE",
                f"Not acceptable: this endpoint answers {GRAPHQL_RESPONSE} or application/json.",
            )

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        try:
            form = await request.get_form_data()
        except (ValueError, MultiPartException, StarletteHTTPException) as exc:
            raise RequestRefused(400, "BAD_REQUEST", "The multipart body is malformed.") from exc
        forms = _REQUEST_FORMS.get(None)
        if forms is not None and hasattr(form.files, "close"):
            forms.append(form.files)
        operations = form.form.get("operations", "{}")
        files_map = form.form.get("map", "{}")
        if isinstance(operations, bytes | str):
            operations = self.parse_json(operations)
        if isinstance(files_map, bytes | str):
            files_map = self.parse_json(files_map)
        return place_files(operations, files_map, form.files)

    def decode_json(self, data: str | bytes) -> object:
        """orjson: refuses invalid UTF-8, lone surrogates and nesting past 1,024 levels."""
        return orjson.loads(data)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    # -- execution ------------------------------------------------------------------------

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = request.scope.get("state", {})
        viewer = state.get("viewer")
        context = Context(
            request=request,
            response=response,
            services=self.services,
            viewer=viewer,
            versions=state.get("versions"),
            _session=state.get("session"),
        )
        context.rate_limit_key = bucket(request, viewer)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | None | dict[str, object]:
        """Authenticate a WebSocket from connection_init {"Authorization": "Bearer …"} or the
        handshake's header; a bad token closes the connection (4403).
        """
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("Authorization") or params.get("authorization")
        if header is None:
            header = context.request.headers.get("authorization")
        if header is not None:
            try:
                async with context.one_event():
                    viewer, _ = self.authenticator.caller(
                        context.session, str(header), self.services.clock.now()
                    )
            except RequestRefused as exc:
                raise ConnectionRejectionError({"code": "UNAUTHENTICATED"}) from exc
            context.viewer = viewer
            if viewer is not None:
                context.rate_limit_key = f"token:{viewer.token_id}"
            context.let_go()  # loaders for this viewer
        nothing: UnsetType = UNSET
        return nothing

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """Run one operation holding a request slot (the body has arrived by now)."""
        problem = nesting_problem(
            (request_data.variables, request_data.extensions), MAX_VARIABLE_DEPTH
        )
        if problem is not None:
            raise RequestRefused(400, "BAD_REQUEST", f"Variables or extensions {problem}.")
        async with self.services.slots.held():
            try:
                return await self.answers.answer(
                    request,
                    request_adapter.method,
                    request_adapter.content_type or "",
                    sub_response,
                    context,
                    request_data,
                )
            finally:
                context.close()

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(GRAPHIQL_HTML.read_text(encoding="utf-8"))

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data = strawberry_process_result(result)
        count_errors(data.get("errors"))
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            data.pop("data", None)  # a request error: execution never started
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        if getattr(sub_response, "not_modified", False):
            return Response(status_code=304, headers=dict(sub_response.headers))
        response = super().create_response(response_data, sub_response)
        request_error = isinstance(response_data, dict) and "data" not in response_data
        errors: list[Any] = (
            list(response_data.get("errors") or []) if isinstance(response_data, dict) else []
        )
        codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
        if "RATE_LIMITED" in codes:
            response.status_code = 429
        if "SERVICE_UNAVAILABLE" in codes:
            response.status_code = 503
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        if getattr(sub_response, "graphql_response", False):
            response.headers["content-type"] = GRAPHQL_RESPONSE
            if request_error and response.status_code == 200:
                response.status_code = 400
        return response

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub = await super().get_sub_response(request)
        sub.graphql_response = negotiate(request.headers.get("accept")) == GRAPHQL_RESPONSE  # type: ignore[attr-defined]
        sub.headers["Cache-Control"] = "private, no-store"
        return sub
