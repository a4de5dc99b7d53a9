"""P1, P2, P4, P5: the console's image page through GraphQL against the raw baseline.

Usage: .venv/bin/python -m bench.run [--images 100000] [--database-url URL] [--seconds 10]
       [--repeats 2] [--workers 1 2] [--concurrency 1 16 64]
Starts both servers on one database, checks they answer the same JSON, then runs wrk against
each in turn (alternating, same conditions) and prints req/s, p50, p99 and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.server import ROOT, free_port

# The console's image page (cost 954 of the 1,000 allowed per request).
PAGE = """query Page { images(first: 50) { nodes { id name type status region { code }
  os { type name version } chargeRoot { osLicense listing { id title } } listing { id } }
  pageInfo { hasNextPage endCursor } } }"""
LUA = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
"""
AUTH = """wrk.headers["Authorization"] = "Bearer {token}"
"""


@contextmanager
def started(command: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[None]:
    """Run a server until the block ends."""
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    """One wrk run: requests/s and latency percentiles in ms."""
    threads = max(1, min(2, connections))
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": pct("50"),
        "p99": pct("99"),
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }


def statements_per_request(env: dict[str, str], token: str | None) -> dict[str, int]:
    """SQL statements one page costs on each side (counted in process, not timed)."""
    import asyncio

    from sqlalchemy import event

    os.environ.update(env)
    from app.config import load_settings
    from app.main import create_app
    from bench.baseline import create

    async def count(app: Any, path: str, body: dict[str, Any] | None) -> int:
        engine = app.state.engine if hasattr(app.state, "engine") else app.state.bench_engine
        seen = [0]

        def listen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if not statement.lstrip().upper().startswith("BEGIN"):
                seen[0] += 1

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            await client.post(path, json=body, headers=headers)  # warm (pool, caches)
            event.listen(engine, "before_cursor_execute", listen)
            try:
                await client.post(path, json=body, headers=headers)
            finally:
                event.remove(engine, "before_cursor_execute", listen)
        return seen[0]

    settings = load_settings(run_worker=False, log_level="WARNING")
    graphql = asyncio.run(count(create_app(settings), "/graphql", {"query": PAGE}))
    raw = asyncio.run(count(create(), "/raw", None))
    return {"graphql": graphql, "raw": raw}


def main() -> None:
    """Run the comparison and print a table (and JSON lines) of the results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--anonymous",
        action="store_true",
        help="P7: no token, so the public catalogue page comes from the response cache",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    env = {
        **os.environ,
        "BCC_IMAGES_DATABASE_URL": url,
        "BCC_IMAGES_DATA_DIR": str(work / "data"),
        "BCC_IMAGES_LOG_LEVEL": "WARNING",
        "BCC_IMAGES_RATE_LIMIT_POINTS": "1000000000",
        "BCC_IMAGES_RATE_LIMIT_REFILL_PER_SECOND": "1000000000",
        "BCC_IMAGES_DB_POOL_SIZE": "80",
    }
    subprocess.run(
        [sys.executable, "-m", "bench.generate", "--images", str(args.images)],
        env={**env},
        cwd=ROOT,
        check=True,
    )
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "account",
            "create",
            "--name",
            "bench",
            "--role",
            "CUSTOMER",
        ],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    token = json.loads(made.stdout)["token"]
    script = work / "post.lua"
    lua = LUA.format(body=json.dumps(json.dumps({"query": PAGE})))
    if not args.anonymous:
        lua += AUTH.format(token=token)
    script.write_text(lua)
    counts = statements_per_request(env, None if args.anonymous else token)
    print(f"SQL statements per request: GraphQL {counts['graphql']}, raw {counts['raw']}")
    rows: list[dict[str, Any]] = []
    for workers in args.workers:
        gql_port, raw_port = free_port(), free_port()
        gql = [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(gql_port),
            "--workers",
            str(workers),
        ]
        raw = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.baseline:create",
            "--factory",
            "--port",
            str(raw_port),
            "--workers",
            str(workers),
            "--loop",
            "asyncio",
            "--log-level",
            "warning",
        ]
        targets = {
            "graphql": (gql, f"http://127.0.0.1:{gql_port}/graphql"),
            "raw": (raw, f"http://127.0.0.1:{raw_port}/raw"),
        }
        with (
            started(gql, env, f"http://127.0.0.1:{gql_port}/healthz", work / "gql.log"),
            started(raw, env, f"http://127.0.0.1:{raw_port}/raw", work / "raw.log"),
        ):
            headers = {} if args.anonymous else {"Authorization": f"Bearer {token}"}
            via_gql = httpx.post(
                targets["graphql"][1], json={"query": PAGE}, headers=headers
            ).json()
            via_raw = httpx.post(targets["raw"][1], headers=headers).json()
            if via_gql["data"] != via_raw["data"]:
                sys.exit(f"the baseline must answer the same JSON:\n{via_gql}\n{via_raw}")
            for _ in range(args.repeats):
                for connections in args.concurrency:
                    for name in ("graphql", "raw"):
                        result = wrk(targets[name][1], script, connections, args.seconds)
                        rows.append(
                            {"workers": workers, "c": connections, "target": name, **result}
                        )
                        print(json.dumps(rows[-1]), flush=True)
    who = "anonymous (response cache)" if args.anonymous else "customer token"
    kind = "postgresql" if url.startswith("postgres") else "sqlite"
    print(f"\nimages={args.images} db={kind} viewer={who}")
    print(
        f"{'workers':>7} {'c':>3} {'graphql req/s':>14} {'raw req/s':>10} {'ratio':>6} "
        f"{'gql p50':>8} {'gql p99':>8} {'raw p50':>8} {'raw p99':>8}"
    )
    for workers in args.workers:
        for connections in args.concurrency:
            g, r = (mean(rows, workers, connections, t, "rps") for t in ("graphql", "raw"))
            print(
                f"{workers:>7} {connections:>3} {g:>14.1f} {r:>10.1f} {g / r:>6.1%} "
                f"{mean(rows, workers, connections, 'graphql', 'p50'):>8.2f} "
                f"{mean(rows, workers, connections, 'graphql', 'p99'):>8.2f} "
                f"{mean(rows, workers, connections, 'raw', 'p50'):>8.2f} "
                f"{mean(rows, workers, connections, 'raw', 'p99'):>8.2f}"
            )


def mean(
    rows: list[dict[str, Any]], workers: int, connections: int, target: str, key: str
) -> float:
    """The mean of one measure over the repeats of one configuration."""
    values = [
        r[key]
        for r in rows
        if r["workers"] == workers and r["c"] == connections and r["target"] == target
    ]
    return sum(values) / len(values)


if __name__ == "__main__":
    main()
