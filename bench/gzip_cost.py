"""What gzip costs and saves on the console's image page (API.md: responses over 1 KB are
compressed when the client accepts it).

Usage: .venv/bin/python -m bench.gzip_cost
Builds the page's real answer in process (SQLite, the seeded catalogue plus synthetic
images), then times Starlette's GZipMiddleware path (gzip at level 9, what it uses) on those
bytes, and the whole request with and without Accept-Encoding: gzip. Prints JSON lines.
"""

from __future__ import annotations

import gzip
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from app.clock import Clock
from app.config import load_settings
from app.database import make_engine
from app.main import create_app
from app.seed import prepare
from bench.generate import generate
from bench.run import PAGE


def median_ms(samples: list[float]) -> float:
    """Median of samples taken in seconds, in milliseconds."""
    return round(statistics.median(samples) * 1000, 3)


def main() -> None:
    """Measure and print."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = load_settings(
            {},
            database_url=url,
            data_dir=Path(tmp) / "data",
            run_worker=False,
            response_cache=False,
            rate_limit_points=10**9,
            rate_limit_refill_per_second=10**9,
        )
        engine = make_engine(settings)
        prepare(engine, settings.seed_dir, Clock(simulated=False).now())
        generate(engine, 1000)
        with TestClient(create_app(settings)) as client:
            body = {"query": PAGE}
            plain = client.post("/graphql", json=body, headers={"Accept-Encoding": "identity"})
            raw = plain.content
            compressed = gzip.compress(raw, compresslevel=9)
            compress = []
            for _ in range(200):
                started = time.perf_counter()
                gzip.compress(raw, compresslevel=9)
                compress.append(time.perf_counter() - started)
            print(
                json.dumps(
                    {
                        "measure": "page bytes",
                        "plain": len(raw),
                        "gzip": len(compressed),
                        "ratio": round(len(compressed) / len(raw), 3),
                    }
                )
            )
            print(
                json.dumps({"measure": "gzip level 9 of the page", "p50_ms": median_ms(compress)})
            )
            for encoding in ("identity", "gzip", "identity", "gzip"):
                samples = []
                for _ in range(100):
                    started = time.perf_counter()
                    client.post("/graphql", json=body, headers={"Accept-Encoding": encoding})
                    samples.append(time.perf_counter() - started)
                print(
                    json.dumps(
                        {
                            "measure": f"request, Accept-Encoding: {encoding}",
                            "p50_ms": median_ms(samples),
                        }
                    )
                )


if __name__ == "__main__":
    main()
