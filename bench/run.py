"""P1, P2, P4, P7, P10–P14: the console's image page against three baselines, interleaved.

Usage: .venv/bin/python -m bench.run [--images 100000] [--databases sqlite postgresql]
       [--database-url URL] [--postgres-url URL] [--seconds 10] [--rounds 3]
       [--workers 1 2] [--concurrency 1 16 64] [--targets ...] [--warmup 2]
       [--jsonl FILE] [--markdown FILE]
       .venv/bin/python -m bench.run --anonymous ...        (P7: anonymous page vs same SQL)
       .venv/bin/python -m bench.run --limits-overhead ...  (P14, in process)

For each database (SQLite in a temporary directory; PostgreSQL in the schema named by the
URL's search_path) it generates the synthetic catalogue, creates a customer token, counts the
SQL statements of one page, stores the bytes of one real answer of the signed-in page for the
physical limit, and then, for each number of worker processes, starts every contender's server
at once, checks their answers and runs wrk against each in turn: round by round (the order
rotating each round), at each concurrency, so every contender is measured under the same
conditions. The contenders (``--targets``):

- ``page``: the service, signed in, every response cache off (BCC_IMAGES_RESPONSE_CACHE=0);
- ``page-cached``: the service, signed in, the same page repeated, caches on (=1);
- ``anonymous``: the service, no token, caches on (the public catalogue's response cache);
- ``raw``: the same-SQL baseline (bench/baseline.py), signed in; ``raw-anonymous`` without;
- ``postgraphile``: PostGraphile 4.14.1 on the same tables, PostgreSQL only
  (bench/postgraphile/: serve.sh, postgraphile.tags.json5, page.graphql);
- ``physical``: the page's stored bytes from one row (bench/physical.py).

It prints one JSON line per measurement, then the median tables, the ratios and every
target's verdict (bench/report.py); ``--markdown`` writes the same to a file for RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

import httpx

from bench import report
from bench.server import ROOT, free_port

# The console's image page (well under the cost limit of 1,000 per request).
PAGE = """query Page { images(first: 50) { nodes { id name type status region { code }
  os { type name version } chargeRoot { osLicense listing { id title } } listing { id } }
  pageInfo { hasNextPage endCursor } } }"""
#: the console's second page (P18): the customer's 50 instances with image, flavor and charges
INSTANCES_PAGE = """query Instances { instances(first: 50) { nodes { id name status
  region { code } zone { name } flavor { name vcpus memoryGb } image { id name os { type } }
  billing { timing } charges { kind quantity amount { amount } } createdAt }
  pageInfo { hasNextPage endCursor } } }"""
#: how many instances the benchmark's customer runs (the instances page shows them all)
BENCH_INSTANCES = 50
POSTGRAPHILE_DIR = Path(__file__).resolve().parent / "postgraphile"
#: the same page in PostGraphile's naming (the file's comments describe the differences)
POSTGRAPHILE_PAGE = " ".join(
    line.strip()
    for line in (POSTGRAPHILE_DIR / "page.graphql").read_text().splitlines()
    if line.strip() and not line.lstrip().startswith("#")
)
DEFAULT_POSTGRES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dbench_pg"
)
LUA = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
"""
AUTH = """wrk.headers["Authorization"] = "Bearer {token}"
"""


@dataclass(frozen=True)
class Contender:
    """One thing measured: which server answers, at which path, with which request."""

    name: str
    server: str
    path: str
    signed_in: bool
    query: str


CONTENDERS = {
    c.name: c
    for c in (
        Contender("page", "service-off", "/graphql", True, PAGE),
        Contender("instances", "service-off", "/graphql", True, INSTANCES_PAGE),
        Contender("page-ordinary", "service-ordinary", "/graphql", True, PAGE),
        Contender("page-cached", "service-on", "/graphql", True, PAGE),
        Contender("anonymous", "service-on", "/graphql", False, PAGE),
        Contender("raw", "raw", "/raw", True, PAGE),
        Contender("raw-anonymous", "raw", "/raw", False, PAGE),
        Contender("postgraphile", "postgraphile", "/graphql", False, POSTGRAPHILE_PAGE),
        Contender("physical", "physical", "/page", True, PAGE),
    )
}
DEFAULT_TARGETS = (
    "page",
    "instances",
    "page-ordinary",
    "page-cached",
    "anonymous",
    "raw",
    "postgraphile",
    "physical",
)
#: how each server is told apart from the others (besides its port)
SERVICE_CACHE = {"service-off": "0", "service-on": "1", "service-ordinary": "0"}
#: the servers that answer with the compiled read path off (the ordinary executor only)
ORDINARY = {"service-ordinary"}


@dataclass
class Database:
    """A prepared benchmark database."""

    kind: str  # "sqlite" or "postgresql"
    url: str
    env: dict[str, str]
    token: str = ""
    images: int = 0
    page: bytes = b""
    statements: dict[str, int] = field(default_factory=dict)


# -- output --------------------------------------------------------------------------------------


class Output:
    """Prints JSON lines (and keeps them, and writes them to ``--jsonl``)."""

    def __init__(self, path: Path | None) -> None:
        self.rows: list[dict[str, Any]] = []
        self._file: TextIO | None = path.open("a") if path else None

    def emit(self, row: dict[str, Any]) -> None:
        """Print one JSON line and remember it."""
        self.rows.append(row)
        line = json.dumps(row, ensure_ascii=False)
        print(line, flush=True)
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the JSON-lines file."""
        if self._file is not None:
            self._file.close()


def _version(command: list[str], pattern: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "missing"
    found = re.search(pattern, done.stdout + done.stderr)
    return found.group(1) if found else "unknown"


def meta(argv: list[str]) -> dict[str, Any]:
    """Date, commit and versions of a run."""
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    versions = {"Python": platform.python_version()}
    for package in ("strawberry-graphql", "graphql-core", "starlette", "uvicorn", "SQLAlchemy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "missing"
    versions["SQLite"] = sqlite3.sqlite_version
    versions["node"] = _version(["node", "--version"], r"v([\d.]+)")
    installed = POSTGRAPHILE_DIR / "node_modules" / "postgraphile" / "package.json"
    if installed.exists():
        versions["PostGraphile"] = json.loads(installed.read_text())["version"]
    versions["wrk"] = _version(["wrk", "-v"], r"wrk (\S+)")
    return {
        "kind": "meta",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "command": "python -m bench.run " + shlex.join(argv),
        "versions": versions,
        "cpus": os.cpu_count(),
    }


# -- servers -------------------------------------------------------------------------------------


@contextmanager
def started(command: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[None]:
    """Run a server (in its own process group, workers included) until the block ends."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:4]} exited; see {log}")
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[:4]} did not start; see {log}") from None
                time.sleep(0.3)
        yield
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a started server's process group (it was started as the group's leader)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    # uvicorn and cluster workers leave with their parent; make sure of it
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def postgraphile_target(url: str) -> tuple[str, str]:
    """PostGraphile's connection string and schema for a SQLAlchemy PostgreSQL URL."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    options = unquote(str(parsed.query.get("options", "")))
    found = re.search(r"search_path=([\w$]+)", options)
    plain = parsed.set(drivername="postgresql", query={})
    return plain.render_as_string(hide_password=False), found.group(1) if found else "public"


def server_command(name: str, port: int, workers: int, db: Database) -> tuple[list[str], str]:
    """The command line of one contender's server and the path that tells it is up."""
    baseline = [sys.executable, "-m", "bench.serve_app", "--port", str(port)]
    baseline += ["--workers", str(workers)]
    if name in SERVICE_CACHE:
        serve = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        return [*serve, "--workers", str(workers)], "/healthz"
    if name == "raw":
        return [*baseline, "bench.baseline:create"], "/raw"
    if name == "physical":
        return [*baseline, "bench.physical:create"], "/page"
    if name == "postgraphile":
        connection, schema = postgraphile_target(db.url)
        script = str(POSTGRAPHILE_DIR / "serve.sh")
        return [script, connection, schema, str(port), str(workers)], "/graphql"
    raise ValueError(name)


# -- preparing a database ------------------------------------------------------------------------


def base_env(url: str, work: Path) -> dict[str, str]:
    """The environment every Python server of a run shares."""
    return {
        **os.environ,
        "BCC_IMAGES_DATABASE_URL": url,
        "BCC_IMAGES_DATA_DIR": str(work / "data"),
        "BCC_IMAGES_LOG_LEVEL": "WARNING",
        "BCC_IMAGES_RATE_LIMIT_POINTS": "1000000000",
        "BCC_IMAGES_RATE_LIMIT_REFILL_PER_SECOND": "1000000000",
        "BCC_IMAGES_DB_POOL_SIZE": "80",
    }


def connection_share(db: Database, processes: int) -> dict[str, str]:
    """On PostgreSQL, every server process's fixed share of max_connections (less a few for
    the harness): all contenders stay up at once, and a pool that grew past its share would
    make another contender's connections fail ("too many clients") and answer errors fast.
    """
    if db.kind != "postgresql":
        return {}
    from sqlalchemy import create_engine, text

    engine = create_engine(db.url)
    with engine.connect() as conn:
        most = int(conn.execute(text("SHOW max_connections")).scalar_one())
    engine.dispose()
    share = max(4, (most - 10) // max(1, processes))
    reads = max(1, share // 8)  # the service's page reads have two pools of their own
    return {
        "BCC_IMAGES_DB_POOL_SIZE": str(share - 2 * reads),
        "BCC_IMAGES_DB_READ_POOL_SIZE": str(reads),
        "BCC_IMAGES_DB_MAX_OVERFLOW": "0",
        "BENCH_POSTGRAPHILE_POOL": str(share),
    }


def ensure_schema(url: str) -> None:
    """Create the PostgreSQL schema named by the URL's search_path if it is missing."""
    from sqlalchemy import create_engine, make_url, text

    _, schema = postgraphile_target(url)
    parsed = make_url(url)
    query = {k: v for k, v in parsed.query.items() if k != "options"}
    engine = create_engine(parsed.set(query=query), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()


def prepare(kind: str, url: str, images: int, work: Path, probe: bool = True) -> Database:
    """Generate the catalogue, make a customer token and (``probe``) count the page's SQL
    statements and store its bytes for the physical limit."""
    if kind == "postgresql":
        ensure_schema(url)
    db = Database(kind, url, base_env(url, work))
    made = subprocess.run(
        [sys.executable, "-m", "bench.generate", "--images", str(images)],
        env=db.env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    found = re.search(r"synthetic images: (\d+)", made)
    db.images = int(found.group(1)) if found else images
    account = subprocess.run(
        [sys.executable, "-m", "app.cli", "account", "create", "--name", "bench"]
        + ["--role", "CUSTOMER", "--balance", "1000000"],
        env=db.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    db.token = json.loads(account.stdout.strip().splitlines()[-1])["token"]
    launch_instances(db)
    if probe:
        db.statements, db.page = probe_page(db)
        store_page(db)
    return db


def launch_instances(db: Database) -> None:
    """Give the benchmark's customer its instances (postpaid, from a public image), through
    the service in process."""
    saved = dict(os.environ)
    os.environ.update(db.env)
    try:
        from app.config import load_settings
        from app.main import create_app

        async def launch(app: Any) -> None:
            headers = {"Authorization": f"Bearer {db.token}"}
            transport = httpx.ASGITransport(app=app)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://b") as client,
            ):
                found = await client.post(
                    "/graphql",
                    json={
                        "query": '{ images(first: 1, filter: {types: [PUBLIC], region: "bj", '
                        "osType: LINUX}) { nodes { id } } }"
                    },
                )
                image = found.json()["data"]["images"]["nodes"][0]["id"]
                request = {
                    "region": "bj",
                    "flavor": "bcc.g5.c2m8",
                    "image": {"id": image},
                    "count": BENCH_INSTANCES,
                    "systemDisk": {"storageType": "CDS_SSD", "sizeGb": 40},
                    "billing": {"timing": "POSTPAID"},
                }
                made = await client.post(
                    "/graphql",
                    json={
                        "query": "mutation($i: CreateInstancesInput!) { createInstances("
                        "input: $i) { instances { id } userErrors { code message } } }",
                        "variables": {"i": request},
                    },
                    headers=headers,
                )
                payload = made.json()["data"]["createInstances"]
                if payload["userErrors"]:
                    sys.exit(f"could not launch the bench instances: {payload['userErrors']}")

        settings = load_settings(run_worker=False, log_level="WARNING", rate_limit_points=10**9)
        asyncio.run(launch(create_app(settings)))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def probe_page(db: Database) -> tuple[dict[str, int], bytes]:
    """SQL statements one signed-in page costs on each side (counted in process, not timed),
    and the bytes of the service's answer (caches off)."""
    saved = dict(os.environ)
    os.environ.update(db.env)
    os.environ["BCC_IMAGES_RESPONSE_CACHE"] = "0"
    try:
        return _probe(db)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _probe(db: Database) -> tuple[dict[str, int], bytes]:
    from sqlalchemy import event

    from app.config import load_settings
    from app.main import create_app
    from bench.baseline import create

    async def count(app: Any, path: str, body: dict[str, Any] | None) -> tuple[int, bytes]:
        if hasattr(app.state, "engine"):  # the service: its own engine, and its page reads'
            engines = [app.state.engine, *app.state.page_reads.engines]
        else:
            engines = [app.state.bench_engine]
        seen = [0]

        def listen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if not statement.lstrip().upper().startswith("BEGIN"):
                seen[0] += 1

        headers = {"Authorization": f"Bearer {db.token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            await client.post(path, json=body, headers=headers)  # warm (pool, caches)
            for engine in engines:
                event.listen(engine, "before_cursor_execute", listen)
            try:
                answer = await client.post(path, json=body, headers=headers)
            finally:
                for engine in engines:
                    event.remove(engine, "before_cursor_execute", listen)
        engines[0].dispose()
        if hasattr(app.state, "page_reads"):
            await app.state.page_reads.close()
        if answer.status_code != 200 or b'"errors"' in answer.content:
            sys.exit(f"{path} did not answer the page: {answer.status_code} {answer.text[:500]}")
        return seen[0], answer.content

    settings = load_settings(run_worker=False, log_level="WARNING")
    graphql, body = asyncio.run(count(create_app(settings), "/graphql", {"query": PAGE}))
    raw, _ = asyncio.run(count(create(), "/raw", None))
    return {"graphql": graphql, "raw": raw}, body


def store_page(db: Database) -> None:
    """Keep the page's bytes in the database for the physical limit."""
    from app.config import load_settings
    from app.database import make_engine
    from bench.physical import store

    engine = make_engine(load_settings(environ=db.env))
    store(engine, db.page)
    engine.dispose()


# -- measuring -----------------------------------------------------------------------------------


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    """One wrk run: requests/s, latency percentiles in ms, and errors."""
    threads = max(1, min(2, connections))
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
        + ["-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}\n{done.stderr}")

    def pct(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return {
        "rps": float(rps.group(1)),
        "p50": pct("50"),
        "p99": pct("99"),
        "non2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": float(sum(int(n) for n in sockets.groups())) if sockets else 0.0,
    }


def lua_script(work: Path, contender: Contender, token: str) -> Path:
    """The wrk script that POSTs a contender's request."""
    lua = LUA.format(body=json.dumps(json.dumps({"query": contender.query})))
    if contender.signed_in:
        lua += AUTH.format(token=token)
    path = work / f"{contender.name}.lua"
    path.write_text(lua)
    return path


def _post(url: str, contender: Contender, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if contender.signed_in else {}
    return httpx.post(url, json={"query": contender.query}, headers=headers, timeout=60)


def first_difference(a: Any, b: Any, path: str = "data") -> str:
    """Where two JSON values first differ, and how."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {json.dumps(a)[:200]} vs {json.dumps(b)[:200]}"


def check_answers(db: Database, urls: dict[str, str], names: list[str]) -> None:
    """Every contender answers the page (the same data where the rules allow it)."""
    answers = {name: _post(urls[name], CONTENDERS[name], db.token) for name in names}
    for name, answer in answers.items():
        if answer.status_code != 200 or "errors" in answer.json():
            sys.exit(f"{name} did not answer the page: {answer.status_code} {answer.text[:500]}")
    data = {name: answer.json().get("data") for name, answer in answers.items()}
    notes = []
    pairs = (
        ("page", "raw"),
        ("page", "page-cached"),
        ("page", "page-ordinary"),
        ("anonymous", "raw-anonymous"),
    )
    for a, b in pairs:
        if a in data and b in data:
            if data[a] != data[b]:
                where = first_difference(data[a], data[b])
                sys.exit(f"{a} and {b} must answer the same data; they differ at {where}")
            notes.append(f"{a} = {b}")
    if "instances" in answers:
        count = len(data["instances"]["instances"]["nodes"])
        if count != BENCH_INSTANCES:
            sys.exit(f"the instances page shows {count} instances, not {BENCH_INSTANCES}")
        notes.append(f"the instances page shows {count} instances")
    if "physical" in answers:
        if answers["physical"].content != db.page:
            sys.exit("the physical limit must serve the stored page's bytes")
        notes.append(f"physical serves the page's {len(db.page):,} bytes")
    if "postgraphile" in data:
        nodes = data["postgraphile"]["allImages"]["nodes"]
        ours = {n["id"] for n in json.loads(db.page)["data"]["images"]["nodes"]}
        shared = sum(1 for n in nodes if n["id"] in ours)
        notes.append(
            f"PostGraphile answers {len(nodes)} images, {shared} of them on the signed-in page"
        )
    print(f"checked ({db.kind}): " + "; ".join(notes), flush=True)


def measure_database(db: Database, args: argparse.Namespace, out: Output, work: Path) -> None:
    """All rounds of every contender on one database, for each number of workers."""
    names = [n for n in args.targets if n != "postgraphile" or db.kind == "postgresql"]
    out.emit(
        {
            "kind": "statements",
            "db": db.kind,
            **db.statements,
            "physical": 1,
            "page_bytes": len(db.page),
        }
    )
    scripts = {name: lua_script(work, CONTENDERS[name], db.token) for name in names}
    for workers in args.workers:
        servers = sorted({CONTENDERS[n].server for n in names})
        ports = {server: free_port() for server in servers}
        urls = {
            n: f"http://127.0.0.1:{ports[CONTENDERS[n].server]}{CONTENDERS[n].path}" for n in names
        }
        pool = connection_share(db, len(servers) * workers)
        with ExitStack() as stack:
            for server in servers:  # one after the other: the service migrates at start
                command, ready = server_command(server, ports[server], workers, db)
                env = {**db.env, **pool}
                if server in SERVICE_CACHE:
                    env["BCC_IMAGES_RESPONSE_CACHE"] = SERVICE_CACHE[server]
                    env["BCC_IMAGES_COMPILED_READS"] = "0" if server in ORDINARY else "1"
                url = f"http://127.0.0.1:{ports[server]}{ready}"
                log = work / f"{db.kind}-{server}-{workers}w.log"
                stack.enter_context(started(command, env, url, log))
            check_answers(db, urls, names)
            if args.warmup > 0:
                for name in names:
                    wrk(urls[name], scripts[name], max(args.concurrency), args.warmup)
            for number in range(args.rounds):
                for connections in args.concurrency:
                    turn = number % len(names)
                    for name in names[turn:] + names[:turn]:
                        result = wrk(urls[name], scripts[name], connections, args.seconds)
                        out.emit(
                            {
                                "kind": "measurement",
                                "db": db.kind,
                                "images": db.images,
                                "workers": workers,
                                "c": connections,
                                "round": number + 1,
                                "target": name,
                                "seconds": args.seconds,
                                **result,
                            }
                        )


def measure_limits(db: Database, args: argparse.Namespace, out: Output) -> None:
    """P14 in process: the page with the request limits on and off."""
    from app.config import load_settings
    from bench.limits_overhead import measure

    settings = load_settings(environ=db.env, run_worker=False)
    for row in measure(settings, db.token, PAGE, args.requests):
        out.emit({"kind": "limits", "db": db.kind, "images": db.images, **row})


# -- the command ---------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line (the options of round 1 keep their meaning)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=None,
        help="measure this one database only (SQLite or PostgreSQL URL)",
    )
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--rounds", "--repeats", dest="rounds", type=int, default=3, help="medians of N rounds"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--targets", nargs="+", choices=tuple(CONTENDERS), default=None)
    parser.add_argument(
        "--anonymous",
        action="store_true",
        help="P7: only the anonymous page (response cache) and the same SQL asked anonymously",
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds per contender, unsaved")
    parser.add_argument("--jsonl", type=Path, default=None, help="also append JSON lines here")
    parser.add_argument("--markdown", type=Path, default=None, help="write tables and verdicts")
    parser.add_argument(
        "--limits-overhead",
        action="store_true",
        help="P14: time schema.execute of the page with the request limits on and off",
    )
    parser.add_argument("--requests", type=int, default=2000, help="--limits-overhead samples")
    args = parser.parse_args(argv)
    if args.targets is None:
        args.targets = ["anonymous", "raw-anonymous"] if args.anonymous else list(DEFAULT_TARGETS)
    return args


def databases(args: argparse.Namespace, work: Path) -> list[tuple[str, str]]:
    """(kind, URL) of each database to measure."""
    if args.database_url:
        url = args.database_url
        return [("postgresql" if url.startswith("postgres") else "sqlite", url)]
    kinds = args.databases or ["sqlite", "postgresql"]
    urls = {"sqlite": f"sqlite:///{work / 'bench.db'}", "postgresql": args.postgres_url}
    return [(kind, urls[kind]) for kind in kinds]


def main(argv: list[str] | None = None) -> None:
    """Run the measurement, print every JSON line, the tables and the verdicts."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if not args.limits_overhead:
        if shutil.which("wrk") is None:
            sys.exit("wrk is not installed (apt-get install -y wrk)")
        kinds = [kind for kind, _ in databases(args, Path(tempfile.gettempdir()))]
        if (
            "postgraphile" in args.targets
            and "postgresql" in kinds
            and not (POSTGRAPHILE_DIR / "node_modules").exists()
        ):
            sys.exit("PostGraphile is not installed: cd bench/postgraphile && npm ci")
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    print(f"work directory (databases, server logs): {work}", flush=True)
    out = Output(args.jsonl)
    out.emit(meta(argv))
    try:
        for kind, url in databases(args, work):
            db = prepare(kind, url, args.images, work / kind, probe=not args.limits_overhead)
            if args.limits_overhead:
                measure_limits(db, args, out)
            else:
                measure_database(db, args, out, work)
        text = report.markdown(out.rows)
        print("\n" + text)
        for verdict in report.verdicts(out.rows):
            out.emit(verdict.as_row())
    finally:
        out.close()
    if args.markdown:
        args.markdown.write_text(text)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
