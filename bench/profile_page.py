"""Profile the authenticated image page in process (cProfile through httpx's ASGI transport).

Usage: .venv/bin/python -m bench.profile_page --database-url sqlite:///path/bench.db
       [--sort cumtime]
Use a database made by bench.generate. Prints the mean time per request and the profile.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import time

import httpx

from bench.run import PAGE
from bench.server import ROOT


async def _run(app: object, token: str, sort: str) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(10):
            await client.post("/graphql", json={"query": PAGE}, headers=headers)
        started = time.perf_counter()
        for _ in range(50):
            await client.post("/graphql", json={"query": PAGE}, headers=headers)
        print(f"per request: {(time.perf_counter() - started) / 50 * 1000:.2f} ms")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(30):
            await client.post("/graphql", json={"query": PAGE}, headers=headers)
        profile.disable()
        pstats.Stats(profile).sort_stats(sort).print_stats(
            int(os.environ.get("BENCH_PROFILE_ROWS", "40"))
        )


def main() -> None:
    """Profile the page."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--sort", default="cumtime")
    args = parser.parse_args()
    os.environ["BCC_IMAGES_DATABASE_URL"] = args.database_url
    from app.config import load_settings
    from app.main import create_app

    made = subprocess.run(
        [sys.executable, "-m", "app.cli", "account", "create", "--name", "p", "--role", "CUSTOMER"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    settings = load_settings(
        run_worker=False,
        response_cache=False,  # what a request costs when it is computed
        log_level="WARNING",
        rate_limit_points=10**9,
        rate_limit_refill_per_second=10**9,
    )
    asyncio.run(_run(create_app(settings), json.loads(made.stdout)["token"], args.sort))


if __name__ == "__main__":
    main()
