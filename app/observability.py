"""What an operator sees: one log line per request (JSON with BCC_IMAGES_LOG_FORMAT=json),
Prometheus metrics (correct under ``serve --workers N``), and OpenTelemetry traces when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

A request's facts (its id, the GraphQL operation, the caller, the cost, error ids) are
gathered in a ``RequestInfo`` kept in a context variable while it is served, and written
once, by ``RequestLog``, when the response has gone.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import SpanKind
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the environment variable prometheus-client's multiprocess mode reads
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REQUESTS = Counter(
    "bcc_images_graphql_requests",
    "GraphQL requests by operation name (allow-listed names only, else other) and HTTP status.",
    ["operation", "status"],
)
REQUEST_SECONDS = Histogram(
    "bcc_images_graphql_request_duration_seconds",
    "How long GraphQL requests took, by operation name.",
    ["operation"],
)
OPERATIONS = Counter(
    "bcc_images_operations",
    "Long-running operations finished, by kind and status.",
    ["kind", "status"],
)
OPERATION_SECONDS = Histogram(
    "bcc_images_operation_duration_seconds",
    "From creation to the end, by kind (on the service clock).",
    ["kind"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600),
)
ERRORS = Counter(
    "bcc_images_graphql_errors",
    "Errors answered, by code: GraphQL errors, refusals at the edge and mutations' userErrors.",
    ["code"],
)
SETTLEMENT_RUNS = Counter("bcc_images_settlement_runs", "Hourly settlement runs.")
RATE_LIMITED = Counter("bcc_images_rate_limited", "Requests refused for their cost.")
POOL_CHECKED_OUT = Gauge(
    "bcc_images_db_pool_checked_out",
    "Database connections in use.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "bcc_images_db_pool_size", "Database connections kept open.", multiprocess_mode="livesum"
)


@dataclass
class RequestInfo:
    """What is known about the request being served."""

    request_id: str
    operation: str | None = None
    account_id: str | None = None
    cost: dict[str, Any] | None = None
    error_ids: list[str] = field(default_factory=list)
    disconnected: bool = False  # the client went away before its request was read


#: the status logged and counted for a request whose client went away mid-body (nginx's)
CLIENT_CLOSED_REQUEST = 499

_CURRENT: ContextVar[RequestInfo | None] = ContextVar("bcc_images_request", default=None)


def current_request() -> RequestInfo | None:
    """The request being served in this context, if any."""
    return _CURRENT.get()


def count_error(code: str) -> None:
    """One error answered with this code."""
    ERRORS.labels(code).inc()


def count_errors(errors: object) -> None:
    """Count the GraphQL errors of an answer (formatted: each with ``extensions.code``)."""
    for error in errors if isinstance(errors, list) else ():
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        count_error(code if isinstance(code, str) else "INTERNAL_SERVER_ERROR")


#: how much of a client's text (an operation name) a log line quotes
LOGGED_CHARACTERS = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def cut(text: str | None) -> str | None:
    """A client's text as a log line quotes it: at most 64 characters, then an ellipsis."""
    if text is None or len(text) <= LOGGED_CHARACTERS:
        return text
    return text[:LOGGED_CHARACTERS] + "…"


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def escape_controls(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor for text logs: control and bidirectional characters in any value
    are written as escapes, so a client's text cannot forge log lines or hide what follows.
    """
    return {key: _escaped(value) for key, value in event.items()}


def client_disconnected() -> None:
    """The client of the request being served went away before sending all of its body."""
    info = _CURRENT.get()
    if info is not None:
        info.disconnected = True


def configure_logging(level: str, fmt: str) -> None:
    """Send every log record (ours, uvicorn's, SQLAlchemy's) through structlog: JSON lines
    with ``fmt="json"``, readable key=value lines otherwise.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.processors.format_exc_info],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                *([] if fmt == "json" else [escape_controls]),  # JSON escapes them itself
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # RequestLog writes one line instead


class RequestLog:
    """ASGI middleware: a request id (the client's X-Request-ID when well formed, else a new
    one, echoed in the response), one log line per HTTP request, and the request metrics.
    """

    def __init__(self, app: ASGIApp, operations: frozenset[str], pool: Any = None) -> None:
        self.app = app
        self.operations = operations
        self.pool = pool
        self.log = structlog.get_logger("bcc_images.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its id, then write its line and metrics."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        info = RequestInfo(given if REQUEST_ID.match(given) else uuid.uuid4().hex)
        token = _CURRENT.set(info)
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", info.request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _CURRENT.reset(token)
            self._done(scope, info, status, time.perf_counter() - started)

    def _done(self, scope: Scope, info: RequestInfo, status: int, seconds: float) -> None:
        path = scope.get("path", "")
        if path != "/graphql":
            return
        if info.disconnected:
            status = CLIENT_CLOSED_REQUEST
        label = info.operation if info.operation in self.operations else "other"
        REQUESTS.labels(label, str(status)).inc()
        if info.disconnected:
            count_error("CLIENT_CLOSED_REQUEST")
        REQUEST_SECONDS.labels(label).observe(seconds)
        if self.pool is not None:
            POOL_CHECKED_OUT.set(self.pool.checkedout())
            POOL_SIZE.set(self.pool.size())
        self.log.info(
            "client disconnected mid-body" if info.disconnected else "request",
            request_id=info.request_id,
            method=scope.get("method"),
            path=path,
            operation=cut(info.operation),
            account_id=info.account_id,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            cost=info.cost,
            error_ids=info.error_ids or None,
        )


def metrics_text() -> tuple[bytes, str]:
    """The metrics in Prometheus text: every worker's, in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def start_tracing(engine: Any, exporter: Any = None) -> Any:
    """Trace requests, GraphQL operations and SQL statements with OpenTelemetry, exported over
    OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (or to ``exporter``, for tests). Returns
    the tracer provider, or None when tracing is off.

    A trace starts at a request (continuing the caller's W3C ``traceparent``, see
    ``traced``); a SQL statement outside any request (the worker polling for due work) starts
    none, so an idle process exports nothing.
    """
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    from opentelemetry import trace
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        resource = Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", "bcc-images")}
        )
        provider = TracerProvider(resource=resource, sampler=ParentBased(root=_RequestRoots()))
        trace.set_tracer_provider(provider)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    # its declared range stops before SQLAlchemy 2.1, whose engine events it uses unchanged
    SQLAlchemyInstrumentor().instrument(
        engine=engine, tracer_provider=provider, skip_dep_check=True
    )
    return provider


class TracedRequests:
    """ASGI middleware: a server span per request (OpenTelemetry's ASGI instrumentation),
    continuing the trace of an incoming W3C ``traceparent``; health checks and metrics
    scrapes are not traced.
    """

    def __init__(self, app: ASGIApp, provider: Any) -> None:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        self.app: ASGIApp = OpenTelemetryMiddleware(
            app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request inside its span."""
        await self.app(scope, receive, send)


class _RequestRoots(Sampler):
    """The sampler of spans that start a trace: only a request's (server) span does."""

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        decision = Decision.RECORD_AND_SAMPLE if kind == SpanKind.SERVER else Decision.DROP
        return SamplingResult(decision, attributes)

    def get_description(self) -> str:
        return "RequestRoots"
