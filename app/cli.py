"""The ``bcc-images`` command: serve, accounts and tokens, database, seed, schema export."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import typer
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session

from app.accounts import service as accounts_service
from app.accounts.models import Account, ApiToken
from app.accounts.permissions import OPERATOR
from app.clock import Clock
from app.config import Settings, SettingsError, load_settings, masked_url
from app.database import alembic_config, current_revision, make_engine, read_session, write_session
from app.errors import DomainError
from app.money import from_minor, parse_amount
from app.observability import MULTIPROCESS_DIR
from app.operations import service as operations_service
from app.platform.viewer import Role
from app.seed import prepare
from app.storage.configured import check_at_start
from app.workflows import settlement, tracking

T = TypeVar("T")
#: the most worker processes ``serve`` starts
MAX_WORKERS = 64
#: how long uvicorn's supervisor waits for a worker process to answer (uvicorn's default, 5 s,
#: is less than a busy machine takes to import the service: the worker was killed, restarted)
WORKER_START_SECONDS = 60

cli = typer.Typer(help="bcc-images: a control plane for cloud images.", no_args_is_help=True)
account_cli = typer.Typer(help="Manage accounts.", no_args_is_help=True)
token_cli = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
db_cli = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
cli.add_typer(account_cli, name="account")
cli.add_typer(token_cli, name="token")
cli.add_typer(db_cli, name="db")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise _refuse(str(exc)) from exc


def _refuse(message: str) -> typer.Exit:
    """A setting that cannot work: one line on stderr, exit status 2."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _listen_problem(host: str, port: int, workers: int) -> str | None:
    """Why ``serve`` could not listen as asked (checked before the database is touched)."""
    if not 1 <= port <= 65535:
        return f"--port {port} is not a valid value: a TCP port is 1 to 65535"
    if not 1 <= workers <= MAX_WORKERS:
        return f"--workers {workers} is not a valid value: 1 to {MAX_WORKERS} processes"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn binds
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return f"--host {host} --port {port} cannot be used: {exc.strerror or exc}"
    return None


def _clock(settings: Settings, engine: Any) -> Clock:
    """The service's clock: with a simulated clock, the offset the service shares in the
    database, so what the command records is stamped with the same time as the service's.
    """
    clock = Clock(simulated=settings.simulated_clock)
    if clock.simulated:
        with read_session(engine) as session:
            clock.set_offset(operations_service.read_clock_offset(session=session))
    return clock


def _fail(message: str) -> typer.Exit:
    typer.echo(json.dumps({"error": message}), err=True)
    return typer.Exit(1)


def _print(payload: dict[str, object]) -> None:
    typer.echo(json.dumps(payload))


def _operate(work: Callable[[Session, datetime], T]) -> T:
    """Run an operator's action in one write transaction at the service's time; a refusal
    is printed as {"error": ...} with exit status 1.
    """
    settings = _settings()
    engine = make_engine(settings)
    try:
        with write_session(engine) as session:
            return work(session, _clock(settings, engine).now())
    except DomainError as exc:
        raise _fail(exc.message) from exc


def _serve_metrics(settings: Settings, host: str, workers: int) -> None:
    """Metrics of several worker processes are kept in files and summed when scraped
    (prometheus-client's multiprocess mode); with BCC_IMAGES_METRICS_PORT they are served on
    that port of the API's own interface by this process instead of on /metrics.
    """
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    registry = None
    if workers > 1:
        directory = settings.data_dir / "metrics"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        os.environ[MULTIPROCESS_DIR] = str(directory)  # read by each worker when it starts
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    if settings.metrics and settings.metrics_port:
        start_http_server(settings.metrics_port, addr=host, registry=registry or REGISTRY)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (1-65535).")] = 8000,
    workers: Annotated[int, typer.Option(help=f"Worker processes (1-{MAX_WORKERS}).")] = 1,
) -> None:
    """Check the settings, apply migrations, load seed data if needed, then serve HTTP."""
    import uvicorn

    from app.server import housekeeping, uvicorn_options

    settings = _settings()
    problem = _listen_problem(host, port, workers)
    if problem is not None:
        raise _refuse(problem)
    try:
        check_at_start(settings)
    except SettingsError as exc:
        raise _refuse(str(exc)) from exc
    engine = make_engine(settings)
    before = current_revision(engine)
    report = prepare(engine, settings.seed_dir, Clock(simulated=settings.simulated_clock).now())
    after = current_revision(engine)
    migrated = f"migrated from {before} to {after}" if before != after else f"at {after}"
    typer.echo(
        f"bcc-images: database {migrated}; seed data inserted {report.inserted or 'nothing'}, "
        f"updated {report.updated or 'nothing'}",
        err=True,
    )
    housekeeping(settings, engine)
    engine.dispose()
    _serve_metrics(settings, host, workers)
    uvicorn.run(
        "app.main:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
        **uvicorn_options(settings),
    )


@account_cli.command("create")
def account_create(
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[Role, typer.Option(help="CUSTOMER, PROVIDER or ADMIN.")],
    balance: Annotated[str | None, typer.Option(help="Initial balance in CNY (a TOP_UP).")] = None,
) -> None:
    """Create an account and its first token; prints {"id", "token"} as one JSON line."""
    amount: Decimal | None = None
    if balance is not None:
        try:
            amount = parse_amount(balance)
        except ValueError as exc:
            raise _fail(str(exc)) from exc

    def work(session: Session, now: datetime) -> tuple[Account, ApiToken, str]:
        account = accounts_service.create(
            session=session, viewer=OPERATOR, name=name, role=role, now=now
        )
        token, secret = accounts_service.create_token(
            session=session, viewer=OPERATOR, account_id=account.id, now=now
        )
        if amount is not None and amount != 0:
            settlement.top_up(
                session=session, viewer=OPERATOR, account_id=account.id, amount=amount, now=now
            )
        return account, token, secret

    account, token, secret = _operate(work)
    _print({"id": account.id, "token": secret, "tokenId": token.id})


@token_cli.command("create")
def token_create(account: Annotated[str, typer.Option(help="Account id (acc-...).")]) -> None:
    """Create a token for an account; prints {"id", "token"} (the secret is shown once)."""
    token, secret = _operate(
        lambda session, now: accounts_service.create_token(
            session=session, viewer=OPERATOR, account_id=account, now=now
        )
    )
    _print({"id": token.id, "token": secret, "accountId": token.account_id})


@token_cli.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="Token id (tok-...).")]) -> None:
    """Revoke a token; revoking twice is a no-op."""
    token = _operate(
        lambda session, now: accounts_service.revoke_token(
            session=session, viewer=OPERATOR, token_id=token_id, now=now
        )
    )
    _print(
        {"id": token.id, "revokedAt": token.revoked_at.isoformat() if token.revoked_at else None}
    )


@db_cli.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision (default: the newest).")
    ] = "head",
) -> None:
    """Apply the pending migrations up to a revision."""
    engine = make_engine(_settings())
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), revision)
    _print({"from": before, "to": current_revision(engine)})


@db_cli.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Revision to go back to, e.g. 0010.")],
) -> None:
    """Revert migrations down to a revision."""
    engine = make_engine(_settings())
    before = current_revision(engine)
    command.downgrade(alembic_config(engine), revision)
    _print({"from": before, "to": current_revision(engine)})


@db_cli.command("current")
def db_current() -> None:
    """Print the database's revision (null before the first migration)."""
    _print({"revision": current_revision(make_engine(_settings()))})


@db_cli.command("history")
def db_history() -> None:
    """Print every revision, oldest first, with its message."""
    config = alembic_config(make_engine(_settings()))
    scripts = ScriptDirectory.from_config(config)
    rows = [
        {"revision": s.revision, "message": (s.doc or "").splitlines()[0]}
        for s in reversed(list(scripts.walk_revisions()))
    ]
    _print({"revisions": rows})


@cli.command("settings")
def show_settings() -> None:
    """Print every BCC_IMAGES_* setting with its effective value (secrets masked)."""
    _print(dict(_settings().shown()))


@cli.command()
def seed() -> None:
    """Migrate and load seed data (idempotent: a second run changes nothing)."""
    settings = _settings()
    report = prepare(make_engine(settings), settings.seed_dir, Clock(simulated=False).now())
    _print({"inserted": report.inserted, "updated": report.updated})


@cli.command()
def settle(
    until: Annotated[
        str | None, typer.Option(help="ISO-8601 time (UTC); defaults to now, never later.")
    ] = None,
) -> None:
    """Charge postpaid usage up to a time; prints the USAGE transactions as JSON."""
    try:
        moment = datetime.fromisoformat(until) if until else None
    except ValueError as exc:
        raise _fail(f"--until {until!r} is not an ISO-8601 time") from exc
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)

    def work(session: Session, now: datetime) -> tuple[datetime, list[dict[str, str]]]:
        entries = settlement.settle_usage(session=session, viewer=OPERATOR, until=moment, now=now)
        rows = [
            {"id": e.id, "accountId": e.account_id, "amount": str(from_minor(e.amount_minor))}
            for e in entries
        ]
        return moment or now, rows

    settled_until, rows = _operate(work)
    _print({"until": settled_until.isoformat(), "transactions": rows})


@cli.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from app.main import schema_sdl

    sys.stdout.write(schema_sdl() + "\n")


def main() -> None:
    """Entry point of the console script: a database that cannot be reached is one line."""
    tracking.install()  # what a command writes moves cached answers' versions and wakes events
    try:
        cli()
    except (OperationalError, InterfaceError) as exc:
        settings = load_settings()
        reason = str(exc.orig or exc).strip().splitlines()[0]
        typer.echo(
            f"error: cannot use the database BCC_IMAGES_DATABASE_URL="
            f"{masked_url(settings.database_url)}: {reason}",
            err=True,
        )
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
