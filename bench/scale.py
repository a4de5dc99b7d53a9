"""P5: the page's latency at 10 thousand and at 1 million images (first and deep page).

Usage: .venv/bin/python -m bench.scale [--sizes 10000 1000000] [--requests 300]
For each size: a fresh SQLite database, the synthetic catalogue, one server; then a customer
(and an admin, who sees every image) reads the first page and a page deep in the list, one
request at a time, and the p50 of each is printed with the ratio to the smallest size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.run import PAGE
from bench.server import ROOT, server

DEEP = """query Deep($after: String) { images(first: 50, after: $after) { nodes { id name type
  status region { code } os { type name version } chargeRoot { osLicense listing { id title } }
  listing { id } } pageInfo { hasNextPage endCursor } } }"""


def p50(url: str, token: str, body: dict[str, object], count: int) -> float:
    """Median latency (ms) of ``count`` sequential requests."""
    times = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for _ in range(10):
            client.post(url, json=body)
        for _ in range(count):
            started = time.perf_counter()
            response = client.post(url, json=body)
            times.append((time.perf_counter() - started) * 1000)
            assert "errors" not in response.json(), response.text
    return statistics.median(times)


def deep_cursor(url: str, token: str, pages: int) -> str | None:
    """The cursor after ``pages`` pages of the list."""
    after = None
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for _ in range(pages):
            data = client.post(url, json={"query": DEEP, "variables": {"after": after}}).json()
            info = data["data"]["images"]["pageInfo"]
            if not info["hasNextPage"]:
                break
            after = info["endCursor"]
    return after


def main() -> None:
    """Measure and print one JSON line per (size, viewer, page)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    results: dict[tuple[int, str, str], float] = {}
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            env_url = f"sqlite:///{work / 'bench.db'}"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.generate",
                    "--images",
                    str(size),
                    "--database-url",
                    env_url,
                ],
                cwd=ROOT,
                check=True,
            )
            with server(
                work,
                {
                    "BCC_IMAGES_RATE_LIMIT_POINTS": "1000000000",
                    "BCC_IMAGES_RATE_LIMIT_REFILL_PER_SECOND": "1000000000",
                },
            ) as running:
                url = f"{running.url}/graphql"
                for role in ("CUSTOMER", "ADMIN"):
                    token = str(
                        running.cli("account", "create", "--name", role.lower(), "--role", role)[
                            "token"
                        ]
                    )
                    after = deep_cursor(url, token, 40 if role == "ADMIN" else 2)
                    for page, body in (
                        ("first", {"query": PAGE}),
                        ("deep", {"query": DEEP, "variables": {"after": after}}),
                    ):
                        value = p50(url, token, body, args.requests)
                        results[(size, role, page)] = value
                        print(
                            json.dumps(
                                {
                                    "images": size,
                                    "viewer": role,
                                    "page": page,
                                    "p50_ms": round(value, 2),
                                }
                            ),
                            flush=True,
                        )
    base = min(args.sizes)
    print(f"\n{'images':>9} {'viewer':>9} {'page':>6} {'p50 ms':>8} {'ratio':>6}")
    for (size, role, page), value in sorted(results.items()):
        ratio = value / results[(base, role, page)]
        print(f"{size:>9} {role:>9} {page:>6} {value:>8.2f} {ratio:>6.2f}")


if __name__ == "__main__":
    main()
