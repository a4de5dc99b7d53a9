"""Synthetic catalogue for benchmarks: many accounts' custom images, shares, instances.

Usage: .venv/bin/python -m bench.generate --images 100000 [--database-url URL]
Idempotent: it tops the database up to the requested number of synthetic images.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select

from app.accounts.models import Account
from app.clock import Clock
from app.config import load_settings
from app.database import make_engine
from app.ids import new_id
from app.images.models import Image, ImageShare
from app.seed import prepare

REGIONS = ("bj", "bd", "su", "gz", "fwh", "hkg")
ACCOUNTS = 2000
CHUNK = 5000
PREFIX = "synthetic-"


def progress(done: int, total: int, started: float) -> None:
    """A one-line progress bar on stderr."""
    width = 40
    filled = int(width * done / total) if total else width
    rate = done / max(time.monotonic() - started, 1e-6)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:,.0f}/s")
    sys.stderr.flush()


def synthetic_count(engine: Engine) -> int:
    """How many synthetic images exist already."""
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(Image).where(Image.name.startswith(PREFIX))  # type: ignore[attr-defined]
        return int(conn.execute(stmt).scalar_one())


def accounts(engine: Engine) -> list[str]:
    """The synthetic accounts, created once."""
    with engine.begin() as conn:
        found = [
            row[0]
            for row in conn.execute(select(Account.id).where(Account.name.startswith(PREFIX)))  # type: ignore[attr-defined]
        ]
        if len(found) >= ACCOUNTS:
            return found
        new = [new_id("acc") for _ in range(ACCOUNTS - len(found))]
        now = datetime.now(UTC)
        conn.execute(
            insert(Account),
            [
                {
                    "id": a,
                    "name": f"{PREFIX}{a}",
                    "role": "CUSTOMER",
                    "balance_minor": 0,
                    "in_arrears": False,
                    "created_at": now,
                }
                for a in new
            ],
        )
        return found + new


def generate(engine: Engine, total: int) -> None:
    """Top the database up to ``total`` synthetic custom images (and some shares)."""
    have = synthetic_count(engine)
    owners = accounts(engine)
    started = time.monotonic()
    base = datetime(2024, 1, 1, tzinfo=UTC)
    n = have
    while n < total:
        batch = min(CHUNK, total - n)
        rows = []
        shares = []
        for i in range(n, n + batch):
            image_id = new_id("m")
            owner = owners[i % len(owners)]
            rows.append(
                {
                    "id": image_id,
                    "name": f"{PREFIX}{i:08d}",
                    "description": "",
                    "kind": "CUSTOM",
                    "generation": "BCC",
                    "region_code": REGIONS[i % len(REGIONS)],
                    "status": "AVAILABLE",
                    "os_type": "WINDOWS" if i % 7 == 0 else "LINUX",
                    "os_name": "Windows Server" if i % 7 == 0 else "Ubuntu",
                    "os_version": "2019" if i % 7 == 0 else "22.04",
                    "os_arch": "x86_64",
                    "min_disk_gb": 40,
                    "size_gb": 40,
                    "created_at": base + timedelta(seconds=i),
                    "owner_id": owner,
                    "source_kind": "INSTANCE",
                    "system_disk_kind": "CDS",
                    "charge_os_license": "WINDOWS" if i % 7 == 0 else "NONE",
                }
            )
            if i % 50 == 0:
                shares.append(
                    {
                        "image_id": image_id,
                        "account_id": owners[(i + 1) % len(owners)],
                        "created_at": base,
                    }
                )
        with engine.begin() as conn:
            conn.execute(insert(Image), rows)
            if shares:
                conn.execute(insert(ImageShare), shares)
        n += batch
        progress(n - have, total - have, started)
    sys.stderr.write("\n")


def main() -> None:
    """Generate a synthetic catalogue."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = load_settings(**overrides)
    engine = make_engine(settings)
    prepare(engine, settings.seed_dir, Clock(simulated=False).now())
    generate(engine, args.images)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"synthetic images: {synthetic_count(engine)}")


if __name__ == "__main__":
    main()
