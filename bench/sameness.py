"""The compiled read path's full sameness corpus (R162): N generated documents, each asked as
the owner of custom images, a share recipient, a provider, an unrelated customer, an
administrator and anonymously, answered with compiled reads on and off; every answer must be
the same bytes (``extensions.cost.remaining`` aside, which moves with the bucket).

Usage: .venv/bin/python -m bench.sameness [--documents 2000] [--seed 1]
       [--database-url postgresql+psycopg://…/test?options=-csearch_path%3Dsameness]

Without --database-url it uses a new SQLite file in a temporary directory; a PostgreSQL URL
should name a schema of its own (it is created if missing and filled). Prints how many
answers the compiled path gave and every difference (the first ones in full); exits 1 on any.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from starlette.testclient import TestClient

from app.clock import Clock
from app.config import load_settings
from app.database import make_engine
from app.main import create_app
from app.seed import prepare
from schema import schema as default_schema
from tests.factories import Factory
from tests.schema.compiled.corpus import Generator
from tests.schema.compiled.test_sameness import build_world, differences, outcomes


def _ensure_schema(url: str) -> None:
    options = make_url(url).query.get("options", "")
    name = str(options).split("search_path=")[-1] if "search_path=" in str(options) else ""
    if not name:
        return
    admin = create_engine(make_url(url).set(query={}))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{name}"'))
    admin.dispose()


def main() -> None:
    """Run the corpus and report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sameness-"))
    url = args.database_url or f"sqlite:///{work / 'sameness.db'}"
    if url.startswith("postgresql"):
        _ensure_schema(url)
    base = load_settings(
        {},
        database_url=url,
        data_dir=work / "data",
        operation_seconds=0.0,
        operation_seconds_per_gb=0.0,
        run_worker=False,
        rate_limit_points=10**9,
        rate_limit_refill_per_second=10**9,
        log_level="WARNING",
        response_cache=False,
    )
    engine = make_engine(base)
    prepare(engine, base.seed_dir, Clock(simulated=False).now())
    on = base.model_copy(update={"compiled_reads": True})
    off = base.model_copy(update={"compiled_reads": False})
    with TestClient(create_app(on)) as compiled, TestClient(create_app(off)) as ordinary:
        worker = compiled.app.state.worker  # type: ignore[attr-defined]
        world, viewers = build_world(compiled, Factory(engine), engine, worker.tick)
        requests = Generator(default_schema._schema, world, args.seed).requests(args.documents)
        before = outcomes()
        started = time.monotonic()
        found = differences(compiled, ordinary, requests, viewers)
        after = outcomes()
    counted = {name: int(after[name] - before.get(name, 0)) for name in after}
    asked = len(requests) * len(viewers.all())
    print(
        f"{len(requests)} documents x {len(viewers.all())} callers = {asked} answers compared "
        f"in {time.monotonic() - started:.0f} s on {make_url(url).get_backend_name()}; "
        f"compiled path: {counted}; differences: {len(found)}"
    )
    for difference in found[:5]:
        print("\n" + difference)
    sys.exit(1 if found or counted.get("failed", 0) else 0)


if __name__ == "__main__":
    main()
