"""The physical-limit baseline (PERFORMANCE.md, round 2): a plain Starlette route that answers
with the exact bytes of one real response of the image page, read per request from one row of a
small table with one primary-key SELECT — no authentication, no JSON work, no GraphQL. It is the
limit of serving the same bytes from the same database on this stack.

``bench.run`` stores the bytes once at start (:func:`store`, from the service's answer to the
signed-in page) and serves them with ``uvicorn bench.physical:create --factory`` (settings from
the environment, like the service).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Engine, Integer, LargeBinary, MetaData, Table, create_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.config import load_settings
from app.database import is_sqlite, make_engine

#: one row: the page's response body
PAGE_BYTES = Table(
    "bench_page_bytes",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("body", LargeBinary, nullable=False),
)
#: the whole per-request database work: a primary-key lookup of that row
SELECT_PAGE = "SELECT body FROM bench_page_bytes WHERE id = 1"


def store(engine: Engine, body: bytes) -> None:
    """Create the table if needed and keep ``body`` as its only row."""
    PAGE_BYTES.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(PAGE_BYTES.delete())
        conn.execute(PAGE_BYTES.insert().values(id=1, body=body))


def _engine() -> Engine:
    """The service's engine on SQLite (same pragmas); on PostgreSQL an autocommit pool without
    pre-ping, so a request is exactly one round trip (no BEGIN/ROLLBACK, no SELECT 1)."""
    settings = load_settings()
    if is_sqlite(settings.database_url):
        return make_engine(settings)
    url = settings.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=10,
    )


def _read(engine: Engine) -> bytes:
    """The stored page, straight from the DB-API cursor."""
    connection: Any = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(SELECT_PAGE)
        row = cursor.fetchone()
        cursor.close()
    finally:
        connection.close()
    if row is None:
        raise LookupError("bench_page_bytes is empty: bench.run stores the page first")
    return bytes(row[0])


def create() -> Starlette:
    """The physical-limit app on the database of the environment's settings."""
    engine = _engine()

    async def page(_: Request) -> Response:
        return Response(_read(engine), media_type="application/json")

    app = Starlette(routes=[Route("/page", page, methods=["GET", "POST"])])
    app.state.bench_engine = engine
    return app
