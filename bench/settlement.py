"""R191: 720 hourly settlements of 1,000 postpaid instances (one 30-day advance) on SQLite.

Usage: .venv/bin/python -m bench.settlement [--instances 1000] [--days 30]

A fresh SQLite database with the seed; ten accounts launch the instances (postpaid, through
the API in process) and the operations finish; then an administrator moves the simulated clock
by ``--days`` with one ``advanceClock`` (the target: at most 60 s for 30 days). Prints one JSON
line: the seconds the advance took, the hours settled and the USAGE entries posted, after
checking that every account has one USAGE entry per hour.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlmodel import col, func, select
from starlette.testclient import TestClient

from app.billing.models import LedgerEntry
from app.billing.rules import TransactionKind
from app.clock import Clock
from app.config import load_settings
from app.database import make_engine, read_session
from app.images.models import Image
from app.main import create_app
from app.platform.viewer import Role
from app.seed import prepare
from tests.factories import Factory

CREATE = """mutation($i: CreateInstancesInput!) { createInstances(input: $i) {
  instances { id } userErrors { code message } } }"""
ADVANCE = "mutation($s: Int!) { advanceClock(input: {seconds: $s}) { now userErrors { message } } }"
PER_ACCOUNT = 100  # the largest batch createInstances takes


def main() -> None:
    """Launch the instances, advance the clock once, print the measurement."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-settlement-"))
    settings = load_settings(
        {},
        database_url=f"sqlite:///{folder / 'bench.db'}",
        data_dir=folder / "data",
        operation_seconds=0.0,
        operation_seconds_per_gb=0.0,
        run_worker=False,
        simulated_clock=True,
        rate_limit_points=1_000_000,
        rate_limit_refill_per_second=1_000_000.0,
    )
    engine = make_engine(settings)
    prepare(engine, settings.seed_dir, Clock(simulated=False).now())
    with read_session(engine) as session:
        image = session.exec(
            select(Image)
            .where(Image.kind == "PUBLIC", Image.region_code == "bj", Image.os_arch == "x86_64")
            .order_by(col(Image.seed_key))
        ).first()
        assert image is not None
    factory = Factory(engine)
    admin = factory.account(Role.ADMIN).token
    accounts = []
    with TestClient(create_app(settings)) as client:
        for left in range(args.instances, 0, -PER_ACCOUNT):
            customer = factory.account(balance="1000000")
            accounts.append(customer.id)
            request = {
                "region": "bj",
                "flavor": "bcc.g5.c2m8",
                "imageId": image.id,
                "count": min(left, PER_ACCOUNT),
                "systemDisk": {"storageType": "CDS_SSD", "sizeGb": 60},
                "billing": {"timing": "POSTPAID"},
            }
            body = client.post(
                "/graphql",
                json={"query": CREATE, "variables": {"i": request}},
                headers=customer.headers,
            ).json()
            assert body["data"]["createInstances"]["userErrors"] == [], body
        worker = client.app.state.worker  # type: ignore[attr-defined]
        while worker.tick():
            pass
        started = time.perf_counter()
        answer = client.post(
            "/graphql",
            json={"query": ADVANCE, "variables": {"s": args.days * 86400}},
            headers={"Authorization": f"Bearer {admin}"},
        ).json()
        seconds = time.perf_counter() - started
        assert "errors" not in answer, answer
        assert answer["data"]["advanceClock"]["userErrors"] == [], answer
    with read_session(engine) as session:
        per_account = dict(
            session.exec(  # type: ignore[arg-type]
                select(LedgerEntry.account_id, func.count())
                .where(LedgerEntry.kind == TransactionKind.USAGE.value)
                .group_by(col(LedgerEntry.account_id))
            ).all()
        )
    hours = args.days * 24
    assert sorted(per_account) == sorted(accounts), per_account
    assert set(per_account.values()) == {hours}, per_account  # one entry per account per hour
    print(
        json.dumps(
            {
                "instances": args.instances,
                "hours": hours,
                "usage_entries": sum(per_account.values()),
                "seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
