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
        REQUEST_SECONDS.labels(label).observe(seconds)
        if self.pool is not None:
            POOL_CHECKED_OUT.set(self.pool.checkedout())
            POOL_SIZE.set(self.pool.size())
        self.log.info(
            "client disconnected mid-body" if info.disconnected else "request",
            request_id=info.request_id,
            method=scope.get("method"),
            path=path,
            operation=info.operation,
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


def start_tracing(engine: Any, exporter: Any = None) -> bool:
    """Trace GraphQL operations and SQL statements with OpenTelemetry, exported over OTLP when
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (or to ``exporter``, for tests). Returns whether
    tracing is on.
    """
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
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
        provider = TracerProvider(resource=resource)
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
    return True
