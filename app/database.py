"""Engine, sessions and migrations: the only place that knows how to reach the database."""

from __future__ import annotations

import fcntl
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import Session, SQLModel

from app.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")
Row = TypeVar("Row", bound=SQLModel)
K = TypeVar("K")
V = TypeVar("V")
WRITE = "bcc_write"  # execution option: take the SQLite write lock at BEGIN


class UTCDateTime(TypeDecorator[datetime]):
    """Store times as naive UTC, hand them back timezone-aware (UTC) on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store an aware time as naive UTC (refusing naive ones)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Read a stored time back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def grouped(
    session: Session,
    keys: Sequence[K],
    stmt: Any,
    key: Callable[[Any], K],
    value: Callable[[Any], V] = lambda row: row,
) -> dict[K, list[V]]:
    """Each key's values from the rows ``stmt`` reads, in their order; every key is present
    (with an empty list when no row has it), and no query runs for no keys.
    """
    found: dict[K, list[V]] = {k: [] for k in keys}
    if keys:
        for row in session.exec(stmt):
            found[key(row)].append(value(row))
    return found


def saved(session: Session, row: Row) -> Row:
    """Add ``row`` to the transaction and flush it (its defaults and constraints apply now)."""
    session.add(row)
    session.flush()
    return row


def is_sqlite(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return url.startswith("sqlite")


def make_engine(settings: Settings) -> Engine:
    """Create the engine: SQLite with WAL, foreign keys and explicit BEGINs, or PostgreSQL."""
    url = settings.database_url
    if is_sqlite(url):
        _create_private(url)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=10,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        _postgres_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=10,
        # no ping on every checkout (a round trip per request): connections are replaced
        # after 30 minutes instead, and one that broke fails its request, not the next
        pool_recycle=1800,
    )


def _postgres_url(url: str) -> str:
    """A PostgreSQL URL with psycopg named as its driver (which has both interfaces)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


#: how one pool of the page reads plans a statement psycopg has prepared (from its sixth run):
#: once for every value. Planning the console's page for its values took 2-3 times longer
#: than running it; without filters its plan depends on nothing but the statement (the
#: viewer, the time and the cursor change no choice, and the LIMIT is written into it).
#: A filter's plan depends on how many rows match the value (a rare status, a name pattern),
#: so filtered pages are planned for their values, on the other pool. ``python -m
#: bench.page_plans`` times every shape both ways; tests check the plans made once.
GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan"


class PageReads:
    """Runs the one statement of a list page outside the request's transaction.

    On PostgreSQL the statement runs on a small pool of autocommit connections through
    psycopg's asyncio interface: while the database plans and runs it, the process serves
    other requests (a page is one statement, so it is consistent on its own, and there is no
    BEGIN or ROLLBACK to wait for). A page without filters runs on a pool whose connections
    plan it once for every value (``GENERIC_PLANS``); a filtered one on a pool that plans it
    for its values. SQLite has no such interface and runs in process: there the statement
    runs on the request's own session, as every other read does (and so it does with no
    settings given).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._engines: dict[bool, AsyncEngine] = {}
        if settings is not None and not is_sqlite(settings.database_url):
            url = make_url(_postgres_url(settings.database_url))
            given = url.query.get("options", "")
            for planned_once in (True, False):
                options = f"{given} {GENERIC_PLANS}".strip() if planned_once else given
                self._engines[planned_once] = create_async_engine(
                    url.update_query_dict({"options": options}) if options else url,
                    pool_size=settings.db_read_pool_size,
                    max_overflow=0,
                    pool_timeout=10,
                    pool_recycle=1800,
                    isolation_level="AUTOCOMMIT",
                )

    async def rows(
        self,
        session: Session,
        statement: Any,
        parameters: dict[str, Any],
        planned_once: bool = False,
    ) -> list[Any]:
        """The statement's rows (SQLAlchemy rows, every type processed as on the session);
        ``planned_once``: a statement whose plan depends on no value (see ``GENERIC_PLANS``).
        """
        engine = self._engines.get(planned_once)
        if engine is None:
            return list(session.connection().execute(statement, parameters))
        async with engine.connect() as conn:
            return list(await conn.execute(statement, parameters))

    @property
    def engines(self) -> list[Engine]:
        """The engines under the pools (for listening to their statements)."""
        return [engine.sync_engine for engine in self._engines.values()]

    async def close(self) -> None:
        """Close the pools' connections."""
        for engine in self._engines.values():
            await engine.dispose()


def _create_private(url: str) -> None:
    """Create a SQLite database file readable by its owner only (the WAL and shared-memory
    files SQLite adds take the same permissions).
    """
    path = make_url(url).database
    if not path or path == ":memory:" or Path(path).exists():
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with suppress(FileExistsError):  # made by another process starting at the same moment
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN, so that write transactions can take
        # the lock up front (BEGIN IMMEDIATE) and savepoints work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: committed when the block ends, rolled back if it raises.

    On SQLite the write lock is taken at BEGIN, so two writers never both read a balance
    and then both spend it; on PostgreSQL services lock the rows they change.
    """
    with Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options={WRITE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads; closed (never committed) when the block ends, its objects kept."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration bound to the given engine."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending migration (idempotent)."""
    command.upgrade(alembic_config(engine), "head")


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None before the first)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_ready(engine: Engine) -> None:
    """Run a trivial query; raises if the database cannot be reached."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


MIGRATION_LOCK_ID = 7_202_611


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Serialize migrations and seeding between processes that start together: an advisory
    lock on PostgreSQL; on SQLite an exclusive flock of the database file's folder (not of
    the file itself, whose POSIX locks are SQLite's, nor of a new file beside it).
    """
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:":
            yield
            return
        folder = os.open(Path(path).resolve().parent, os.O_RDONLY)
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)
            yield
        finally:
            os.close(folder)  # releases the lock
        return
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            conn.commit()


#: what tells that the database cannot serve now (unreachable, a connection cut under us,
#: every pooled connection busy), as opposed to a fault in a statement
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)

#: PostgreSQL SQLSTATEs of a transaction that lost a race and may simply run again
RETRYABLE_STATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
WRITE_ATTEMPTS = 5


def _retryable(exc: DBAPIError) -> bool:
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state in RETRYABLE_STATES


def run_write(engine: Engine, action: Callable[[Session], T]) -> T:
    """Run ``action`` in a write transaction, the one place transactions run.

    A transaction that lost a race is run again from the start (bounded, with jitter): a
    unique key taken by a concurrent duplicate (the retry then replays its result), a
    deadlock or a serialization failure (PostgreSQL).
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with write_session(engine) as session:
                return action(session)
        except IntegrityError:
            if attempt >= 2:
                raise
        except DBAPIError as exc:
            if not _retryable(exc) or attempt == WRITE_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.005, 0.02) * attempt)
    raise AssertionError("unreachable")
