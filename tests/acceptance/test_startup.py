"""Start-up (R158): a setting that cannot work stops `bcc-images serve` with one line on stderr
naming it, exit status 2, before the database is touched; processes that start together on one
fresh database all come up.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import boto3
import httpx
import pytest
from sqlalchemy import Engine, create_engine, inspect, make_url, text
from sqlmodel import Session

from app.accounts.permissions import OPERATOR
from app.clock import Clock
from app.config import Settings, SettingsError, load_settings
from app.database import make_engine, read_session, write_session
from app.operations import service as operations_service
from app.platform.schedule import ClockState, SchedulerState
from app.seed import prepare
from app.workflows import settlement
from tests.acceptance.conftest import ROOT, free_port, server_env, stop_server
from tests.conftest import fresh_database

# timing-sensitive: CI runs this module by itself, never beside another suite
pytestmark = pytest.mark.alone

#: credentials for the S3 endpoints of these tests (moto accepts any); no instance-role lookup
AWS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _untouched(url: str) -> bool:
    """The database was not created (SQLite) or holds no table (a PostgreSQL schema)."""
    if url.startswith("sqlite"):
        return not Path(str(make_url(url).database)).exists()
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(free_port()), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _assert_refused(done: subprocess.CompletedProcess[str], name: str) -> str:
    """Exit status 2 and one non-empty line on stderr naming the setting; returns the line."""
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].strip() and name in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database the refused start-up must leave as it is."""
    with fresh_database(tmp_path_factory) as url:
        yield url


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BCC_IMAGES_DATABASE_URL", "mysql://bcc:hunter2@127.0.0.1/bcc"),
        ("BCC_IMAGES_DATABASE_URL", "postgres://bcc:hunter2@127.0.0.1/bcc"),
        ("BCC_IMAGES_REDIS_URL", "http://127.0.0.1:6379/0"),
        ("BCC_IMAGES_REDIS_URL", "redis://127.0.0.1:99999/0"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "ftp://files.example/images"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "s3://bucket/images//2025"),
        ("BCC_IMAGES_S3_ENDPOINT_URL", "127.0.0.1:9000"),
        ("BCC_IMAGES_CORS_ORIGINS", "https://a.example/path"),
        ("BCC_IMAGES_CORS_ORIGINS", "https://a.example,console.example"),
    ],
)
def test_a_setting_that_cannot_work_stops_start_up_in_one_line(
    database: str, tmp_path: Path, name: str, value: str
) -> None:
    env = {**server_env(database, tmp_path / "data"), **AWS, name: value}
    line = _assert_refused(_serve(env), name)
    assert "hunter2" not in line
    assert _untouched(database)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "0"], "--port"),
        (["--workers", "0"], "--workers"),
        (["--workers", "65"], "--workers"),
    ],
)
def test_a_bad_port_or_worker_count_stops_start_up_in_one_line(
    database: str, tmp_path: Path, args: list[str], name: str
) -> None:
    done = _serve(server_env(database, tmp_path / "data"), *args)  # the last --port wins
    _assert_refused(done, name)
    assert _untouched(database)


def test_a_port_in_use_stops_start_up_in_one_line(database: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        _assert_refused(_serve(server_env(database, tmp_path / "data"), "--port", port), port)
    assert _untouched(database)


def test_an_unreachable_s3_endpoint_stops_start_up_in_one_line(
    database: str, tmp_path: Path
) -> None:
    env = {
        **server_env(database, tmp_path / "data"),
        **AWS,
        "BCC_IMAGES_OBJECT_STORE_URL": "s3://bcc-images",
        "BCC_IMAGES_S3_ENDPOINT_URL": "http://127.0.0.1:1",
    }
    _assert_refused(_serve(env), "BCC_IMAGES_S3_ENDPOINT_URL")
    assert _untouched(database)


def test_an_s3_endpoint_that_never_answers_is_given_up_on_in_seconds(
    database: str, tmp_path: Path
) -> None:
    """A listener that accepts and never answers: boto's defaults (60 s reads, 5 attempts)
    would hang start-up for minutes; the start-up check asks once, briefly."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        env = {
            **server_env(database, tmp_path / "data"),
            **AWS,
            "BCC_IMAGES_OBJECT_STORE_URL": "s3://bcc-images",
            "BCC_IMAGES_S3_ENDPOINT_URL": f"http://127.0.0.1:{silent.getsockname()[1]}",
        }
        started = time.monotonic()
        done = _serve(env)
        elapsed = time.monotonic() - started
    _assert_refused(done, "BCC_IMAGES_S3_ENDPOINT_URL")
    assert elapsed < 20
    assert _untouched(database)


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3 endpoint (moto_server) holding one bucket, ``present``."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **AWS},
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="present")
        yield endpoint
    finally:
        stop_server(process)
        log.close()


def test_a_missing_bucket_stops_start_up_in_one_line(
    database: str, tmp_path: Path, moto_endpoint: str
) -> None:
    env = {
        **server_env(database, tmp_path / "data"),
        **AWS,
        "BCC_IMAGES_OBJECT_STORE_URL": "s3://absent/images",
        "BCC_IMAGES_S3_ENDPOINT_URL": moto_endpoint,
    }
    line = _assert_refused(_serve(env), "BCC_IMAGES_OBJECT_STORE_URL")
    assert "absent" in line
    assert _untouched(database)


def test_the_start_up_check_passes_an_existing_bucket_and_names_a_missing_one(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.storage.configured import check_at_start

    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    present = load_settings(
        {}, object_store_url="s3://present/images", s3_endpoint_url=moto_endpoint
    )
    check_at_start(present)
    check_at_start(load_settings({}))  # files under the data dir: nothing to ask
    with pytest.raises(SettingsError, match="BCC_IMAGES_OBJECT_STORE_URL='s3://absent'"):
        check_at_start(
            load_settings({}, object_store_url="s3://absent", s3_endpoint_url=moto_endpoint)
        )


# --- processes that start together ----------------------------------------------------------


def _second_process(settings: Settings) -> Engine:
    """Another process's engine on the same database (named, so its lock waits can be seen)."""
    url = settings.database_url
    if url.startswith("postgresql"):
        url += "&application_name=r158-second" if "?" in url else "?application_name=r158-second"
    return make_engine(settings.model_copy(update={"database_url": url}))


def _wait_until_blocked(engine: Engine, second: Future[None]) -> None:
    """Until the second process waits for the first's lock (PostgreSQL), or has ended; on
    SQLite the second waits for the write lock at BEGIN IMMEDIATE, which a short pause lets
    it reach."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'r158-second' AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 15
    with engine.connect() as conn:
        while conn.execute(waiting).scalar_one() == 0 and not second.done():
            conn.rollback()  # a new snapshot of pg_stat_activity next time
            assert time.monotonic() < deadline, "the second transaction never waited"
            time.sleep(0.05)


def _hourly(session: Session, now: datetime) -> None:
    settlement.settle_hourly(session, now)


def _advance(session: Session, now: datetime) -> None:
    operations_service.advance_clock(
        session=session, viewer=OPERATOR, clock=Clock(simulated=True), seconds=60
    )


@pytest.mark.parametrize("job", [_hourly, _advance], ids=["scheduler_state", "clock_state"])
def test_two_processes_writing_a_singleton_row_at_once_both_succeed(
    tmp_path_factory: pytest.TempPathFactory, job: Callable[[Session, datetime], None]
) -> None:
    """Two processes run the first hourly settlement (or the first clock advance) of a fresh
    database at once: the first holds its transaction open while the second runs the same
    job, which waits for it and then succeeds (before: a duplicate key on PostgreSQL, the row
    being inserted by both; now it exists from start-up and is locked)."""
    now = datetime(2030, 1, 1, 12, 30, tzinfo=UTC)
    with fresh_database(tmp_path_factory) as url:
        settings = load_settings({}, database_url=url, data_dir=tmp_path_factory.mktemp("d"))
        first, second = make_engine(settings), _second_process(settings)
        try:
            prepare(first, settings.seed_dir, now)

            def run_second() -> None:
                with write_session(second) as session:
                    job(session, now)

            with ThreadPoolExecutor(1) as pool:
                with write_session(first) as session:
                    job(session, now)
                    waiting = pool.submit(run_second)
                    _wait_until_blocked(first, waiting)
                waiting.result(timeout=30)
            with read_session(first) as session:
                hourly = session.get(SchedulerState, settlement.HOURLY_JOB)
                clock = session.get(ClockState, 1)
            if job is _hourly:
                assert hourly is not None and hourly.until == datetime(2030, 1, 1, 12, tzinfo=UTC)
            else:
                assert clock is not None and clock.offset_seconds == 120
        finally:
            first.dispose()
            second.dispose()


def _start_together(envs: list[dict[str, str]], logs: list[Path], workers: int) -> list[int]:
    """Start one `serve` per environment at the same instant; returns their ports."""
    ports = [free_port() for _ in envs]
    commands = [
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)]
        for port in ports
    ]
    handles = [path.open("wb") for path in logs]
    processes = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        for command, env, handle in zip(commands, envs, handles, strict=True)
    ]
    for handle in handles:
        handle.close()
    try:
        deadline = time.monotonic() + 90
        for port, process, log in zip(ports, processes, logs, strict=True):
            while not _ready(port):
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            stop_server(process)
    return ports


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_servers_starting_together_on_a_fresh_database_both_come_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two `serve --workers 2` on one fresh database at the same instant: both migrate and seed
    in turn, their four workers run their first scheduled jobs at once, and all become ready
    with no error logged (the race itself is pinned deterministically above)."""
    with fresh_database(tmp_path_factory) as url:
        folders = [tmp_path_factory.mktemp(f"together-{i}") for i in range(2)]
        envs = [server_env(url, folder / "data", log_level="INFO") for folder in folders]
        logs = [folder / "server.log" for folder in folders]
        _start_together(envs, logs, workers=2)
        for log in logs:
            text_ = log.read_text()
            assert "Traceback" not in text_ and "died" not in text_, text_[-3000:]
