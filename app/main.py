"""create_app(settings): the one place that wires the schema, the database and the HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app.clock import Clock
from app.config import Settings, load_settings
from app.database import UNAVAILABLE as DATABASE_UNAVAILABLE
from app.database import PageReads, check_ready, make_engine
from app.images import lifecycle
from app.instances import service as instances_service
from app.observability import (
    RequestLog,
    TracedRequests,
    configure_logging,
    metrics_text,
    start_tracing,
)
from app.operations.worker import Worker
from app.platform.board import Board
from app.platform.events import FEED
from app.platform.service_secrets import CURSOR_SECRET, shared_secret
from app.policy import Policy
from app.storage.configured import make_store
from app.storage.store import ObjectStore
from app.webhooks import stream
from app.webhooks.sealing import WEBHOOK_KEY, Sealer
from app.webhooks.sender import Sender
from app.workflows import announce, arrears, lifecycle_runs, objects, settlement, tracking
from app.workflows.registry import operation_handlers
from schema import build_schema
from schema.context import Services
from schema.http.view import GraphQLView
from schema.limits.redis_limiter import make_rate_limiter
from schema.slots import DatabaseSlots
from schema.sockets import Sockets

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger("bcc_images.worker")


def make_worker(settings: Settings, engine: Engine, clock: Clock, store: ObjectStore) -> Worker:
    """The operation worker with the periodic jobs: hourly settlement, prepaid expiry,
    releases at the end of the arrears grace period, expiry of objects no image needs,
    reconciliation of stored files, purging the recycle bin and failed imports, the later
    stages (disable, recycle bin) of custom images' scheduled deprecations, the image
    lifecycle policies at each midnight (UTC) and the week of account events kept. A server's
    background worker does not wait for the inspections it starts (they run on their own
    threads); a worker driven tick by tick does. The webhook sender runs beside it.
    """
    return Worker(
        engine,
        clock,
        operation_handlers(store),
        lease_seconds=settings.operation_lease_seconds,
        periodic=[
            settlement.settle_hourly,
            instances_service.expire_due,
            arrears.ArrearsReleases(settings.arrears_grace_days),
            objects.ObjectHousekeeping(store, settings.object_expiry_days),
            objects.Purge(),
            lifecycle.DeprecationStages(settings.recycle_bin_days, announce.image_disabled),
            lifecycle_runs.DailyPolicies(settings.recycle_bin_days),
            stream.Retention(),
        ],
        periodic_seconds=settings.scheduler_seconds,
        wait_for_prepared=not settings.run_worker,
    )


def make_sender(settings: Settings, engine: Engine, clock: Clock) -> Sender:
    """The webhook sender, with the key that opens signing secrets."""
    return Sender(
        engine,
        clock,
        webhook_sealer(settings, engine),
        allow_private=settings.webhook_allow_private,
        allow_hosts=settings.webhook_allow_hosts,
        ca_file=settings.webhook_ca_file,
    )


def webhook_sealer(settings: Settings, engine: Engine) -> Sealer:
    """Seals webhook secrets with BCC_IMAGES_SECRET_KEY or the key kept in the database."""
    return Sealer(shared_secret(engine, WEBHOOK_KEY, settings.secret_key))


#: responses smaller than this are not worth compressing
GZIP_MINIMUM_BYTES = 1024


def edge_middleware(settings: Settings) -> list[Middleware]:
    """CORS for consoles on other origins (the same origins the WebSocket check allows; bearer
    tokens travel in the Authorization header, never in cookies, so no credentials mode), and
    gzip for responses over 1 KB when the client accepts it.
    """
    origins = list(settings.cors_origins)
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-ID"],
            expose_headers=["Retry-After", "ETag"],
            allow_credentials=False,
            max_age=600,
        ),
        Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES),
    ]


#: the dependency without which nothing can be answered; the others only degrade the service
#: (Redis: each process keeps its own rate-limit buckets; the object store: uploads and
#: imports fail with a code while everything else works)
ESSENTIAL = "database"


def readiness(checks: dict[str, Callable[[], None]]) -> tuple[str, dict[str, str]]:
    """Run each dependency's check ("ok" or "unavailable"; the reason is logged, not shown):
    "unavailable" overall when the database is, "degraded" when another part is, else "ready".
    """
    states = {}
    for name, check in checks.items():
        try:
            check()
            states[name] = "ok"
        except Exception:
            log.warning("readiness check of %s failed", name, exc_info=True)
            states[name] = "unavailable"
    if states.get(ESSENTIAL) != "ok":
        return "unavailable", states
    if any(state != "ok" for state in states.values()):
        return "degraded", states
    return "ready", states


def create_app(settings: Settings, span_exporter: Any = None) -> Starlette:
    """Build the ASGI application; the database must already be migrated and seeded.

    Traces are exported when OTEL_EXPORTER_OTLP_ENDPOINT is set (or to ``span_exporter``).
    """
    configure_logging(settings.log_level, settings.log_format)
    tracking.install()
    engine = make_engine(settings)
    clock = Clock(simulated=settings.simulated_clock)
    store = make_store(settings)
    sender = make_sender(settings, engine, clock)
    worker = make_worker(settings, engine, clock, store)
    tracer_provider = start_tracing(engine, span_exporter)
    services = Services(
        settings=settings,
        engine=engine,
        clock=clock,
        store=store,
        rate_limiter=make_rate_limiter(settings),
        policy=Policy.from_settings(settings),
        cursor_secret=shared_secret(engine, CURSOR_SECRET, settings.cursor_secret),
        worker=worker,
        sealer=sender.sealer,
        slots=DatabaseSlots(
            settings.db_pool_size + settings.db_max_overflow, settings.db_wait_seconds
        ),
        sockets=Sockets(settings.max_websockets, settings.max_websockets_per_client),
        board=Board(str(engine.url)),
        page_reads=PageReads(settings),
    )
    graphql = GraphQLView(build_schema(settings, tracing=tracer_provider is not None), services)
    dependencies: dict[str, Callable[[], None]] = {
        "database": lambda: check_ready(engine),
        "objectStore": store.check,
    }
    if settings.redis_url:
        dependencies["redis"] = services.rate_limiter.check
    app = Starlette(
        routes=[
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            *_service_routes(settings, dependencies),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[
            Middleware(
                RequestLog, operations=frozenset(settings.metrics_operations), pool=engine.pool
            ),
            *edge_middleware(settings),
        ],
        lifespan=_lifespan(settings, worker, engine, services, sender),
    )
    if tracer_provider is not None:
        app.add_middleware(TracedRequests, provider=tracer_provider)
    app.state.worker = worker
    app.state.engine = engine
    app.state.page_reads = services.page_reads
    app.state.clock = clock
    app.state.settings = settings
    return app


def _service_routes(settings: Settings, dependencies: dict[str, Callable[[], None]]) -> list[Route]:
    """/healthz (the process answers), /readyz (every dependency works) and /metrics."""

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        status, checks = await asyncio.to_thread(readiness, dependencies)
        return JSONResponse(
            {"status": status, "checks": checks},
            status_code=503 if status == "unavailable" else 200,
        )

    async def metrics(_: Request) -> Response:
        body, media = metrics_text()
        return Response(body, media_type=media)

    routes = [Route("/healthz", healthz), Route("/readyz", readyz)]
    if settings.metrics and not settings.metrics_port:
        routes.append(Route("/metrics", metrics))
    return routes


def _lifespan(
    settings: Settings, worker: Worker, engine: Engine, services: Services, sender: Sender
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Run the operation worker and the webhook sender beside the server, each in a loop of
    its own; let go of the worker's leases when stopping, and let the webhook attempts under
    way finish.
    """

    async def repeat(what: str, work: Callable[[], object]) -> None:
        # on a thread of its own, so that neither loop waits for the other (a receiver that
        # takes its full 10 s delays only other deliveries, never operations)
        while True:
            try:
                await asyncio.to_thread(work)
            except DATABASE_UNAVAILABLE as exc:
                log.warning("%s: the database is unavailable (%s)", what, exc)
            except Exception:
                log.exception("%s failed", what)
            await asyncio.sleep(settings.worker_tick_seconds)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        tasks = (
            [
                asyncio.create_task(repeat("worker tick", worker.tick)),
                asyncio.create_task(repeat("webhook sender", sender.run_due)),
            ]
            if settings.run_worker
            else []
        )
        FEED.listen(engine)
        gc.collect()
        gc.freeze()
        yield
        await services.sockets.stop()
        services.board.close()
        sender.stop()  # no new claims; the loop's thread ends after the batch under way
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if tasks:
            await asyncio.to_thread(worker.release_leases)
        await asyncio.to_thread(sender.close)
        await asyncio.to_thread(FEED.close)
        await services.page_reads.close()
        engine.dispose()

    return lifespan


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: settings from the environment (the database is prepared)."""
    return create_app(load_settings())


def schema_sdl() -> str:
    """The schema in SDL, as committed in schema.graphql."""
    from schema import schema

    return schema.as_str()
