"""create_app(settings): the one place that wires the schema, the database and the HTTP app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app.clock import Clock
from app.config import Settings, load_settings
from app.database import check_ready, make_engine
from schema import build_schema
from schema.view import GraphQLView

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI application; the database must already be migrated and seeded."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    engine = make_engine(settings)
    clock = Clock(simulated=settings.simulated_clock)
    graphql = GraphQLView(build_schema(settings), settings=settings, engine=engine, clock=clock)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        try:
            check_ready(engine)
        except Exception:  # noqa: BLE001 - any failure means not ready
            logging.getLogger("bcc_images.http").exception("readiness check failed")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.clock = clock
    app.state.settings = settings
    return app


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: settings from the environment (the database is prepared)."""
    return create_app(load_settings())


def schema_sdl() -> str:
    """The schema in SDL, as committed in schema.graphql."""
    from schema import schema

    return schema.as_str()
