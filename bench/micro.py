"""Micro-benchmarks: P6 (parse/validate overhead, cost per resolved field), P8 (priceQuote and
createInstances of 100 instances), P9a (hourly settlement of 100,000 postpaid instances).

Usage: .venv/bin/python -m bench.micro [--instances 100000]
Runs in process on a fresh SQLite database; prints one JSON line per measure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from app.accounts import service as accounts_service
from app.accounts.permissions import OPERATOR
from app.clock import Clock
from app.config import load_settings
from app.database import make_engine, read_session, write_session
from app.ids import new_id
from app.instances.models import Instance, InstanceRate
from app.main import create_app
from app.platform.viewer import Role
from app.seed import prepare
from app.workflows import settlement
from app.workflows.settlement import settle
from bench.run import PAGE
from schema import build_schema

# the console page's fields per image: id name type status, region{code}, os{type name version},
# chargeRoot{osLicense listing}, listing, and the objects themselves
FIELDS_PER_IMAGE = 14


def timed(run: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``run`` in milliseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def _execute_timing(schema: Any, context: Any, query: str, repeat: int) -> float:
    for _ in range(5):
        await schema.execute(query, context_value=context)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = await schema.execute(query, context_value=context)
        samples.append((time.perf_counter() - started) * 1000)
        assert not result.errors, result.errors
    return statistics.median(samples)


def parse_validate(settings: Any) -> dict[str, float]:
    """P6: parse + validate of the console page, uncached, and a repeated tiny document
    through every extension (parse and validation cached): the fixed cost of a request."""
    from graphql import parse, validate

    from app.platform.viewer import Viewer
    from schema.context import Context, Services
    from schema.limits.rate_limit import RateLimiter

    schema = build_schema(settings)
    uncached = timed(lambda: validate(schema._schema, parse(PAGE)), 100)
    engine = make_engine(settings)
    services = Services(
        settings=settings,
        engine=engine,
        clock=Clock(simulated=False),
        store=None,  # type: ignore[arg-type]  # nothing here stores objects
        rate_limiter=RateLimiter(10**9, 10**9),
    )
    context = Context(
        request=None,  # type: ignore[arg-type]
        response=None,
        services=services,
        viewer=Viewer("acc-bench000", Role.CUSTOMER, "t"),
    )
    fixed = asyncio.run(_execute_timing(schema, context, "{ __typename }", 500))
    return {
        "p6_parse_validate_uncached_ms": round(uncached, 3),
        "p6_repeated_request_fixed_ms": round(fixed, 3),
    }


async def _request_timing(app: Any, token: str, body: dict[str, Any], repeat: int) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(5):
            await c.post("/graphql", json=body, headers=headers)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = await c.post("/graphql", json=body, headers=headers)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        return statistics.median(samples)


def main() -> None:
    """Run every micro-benchmark and print the results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=f"sqlite:///{Path(tmp) / 'micro.db'}",
            data_dir=Path(tmp) / "data",
            run_worker=False,
            log_level="WARNING",
            rate_limit_points=10**9,
            rate_limit_refill_per_second=10**9,
            max_query_cost=10**6,
            operation_seconds=0.0,
        )
        engine = make_engine(settings)
        prepare(engine, settings.seed_dir, Clock(simulated=False).now())
        with write_session(engine) as session:
            now = datetime.now(UTC)
            account = accounts_service.create(
                session=session, viewer=OPERATOR, name="bench", role=Role.CUSTOMER, now=now
            )
            _, token = accounts_service.create_token(
                session=session, viewer=OPERATOR, account_id=account.id, now=now
            )
            settlement.top_up(
                session=session,
                viewer=OPERATOR,
                account_id=account.id,
                amount=__import__("decimal").Decimal("10000000"),
                now=now,
            )
        app = create_app(settings)
        results: dict[str, Any] = {}
        with read_session(engine) as session:
            from sqlmodel import select

            from app.images.models import Image

            image_id = session.exec(
                select(Image.id).where(
                    Image.kind == "PUBLIC", Image.region_code == "bj", Image.os_type == "WINDOWS"
                )
            ).first()
        launch = {
            "region": "bj",
            "flavor": "bcc.g5.c2m8",
            "imageId": image_id,
            "count": 100,
            "systemDisk": {"storageType": "CDS_SSD", "sizeGb": 80},
            "billing": {"timing": "PREPAID", "months": 12},
        }
        quote = {
            "query": "query($i: CreateInstancesInput!) { priceQuote(input: $i) { "
            "total { amount } lines { kind amount { amount } } } }",
            "variables": {"i": launch},
        }
        results["p8_price_quote_100_ms"] = round(
            asyncio.run(_request_timing(app, token, quote, 50)), 2
        )
        create = {
            "query": "mutation($i: CreateInstancesInput!) { createInstances(input: $i) { "
            "instances { id } order { id } userErrors { code } } }",
            "variables": {"i": launch},
        }
        results["p8_create_instances_100_ms"] = round(
            asyncio.run(_request_timing(app, token, create, 10)), 2
        )
        results.update(parse_validate(settings))
        # P6: the cost of one more resolved field, from the page at 100 and at 10 items
        big = asyncio.run(_request_timing(app, token, {"query": PAGE.replace("50", "100")}, 50))
        small = asyncio.run(_request_timing(app, token, {"query": PAGE.replace("50", "10")}, 50))
        fields = 90 * FIELDS_PER_IMAGE
        results["p6_us_per_field"] = round((big - small) * 1000 / fields, 2)
        # P9a: hourly settlement of N postpaid instances
        start = datetime.now(UTC) - timedelta(hours=1)
        with engine.begin() as conn:
            owners = [new_id("acc") for _ in range(1000)]
            conn.execute(
                insert(__import__("app.accounts.models", fromlist=["Account"]).Account),
                [
                    {
                        "id": o,
                        "name": o,
                        "role": "CUSTOMER",
                        "balance_minor": 10**9,
                        "in_arrears": False,
                        "created_at": start,
                    }
                    for o in owners
                ],
            )
            rows = []
            for n in range(args.instances):
                rows.append(
                    {
                        "id": new_id("i"),
                        "name": "n",
                        "owner_id": owners[n % 1000],
                        "region_code": "bj",
                        "zone_name": "cn-bj-a",
                        "flavor_name": "bcc.g5.c2m8",
                        "generation": "BCC",
                        "status": "RUNNING",
                        "image_id": image_id,
                        "image_name": "x",
                        "image_os_type": "LINUX",
                        "image_os_name": "U",
                        "image_os_version": "1",
                        "image_os_arch": "x86_64",
                        "created_from_image_id": image_id,
                        "created_from_image_name": "x",
                        "created_from_os_type": "LINUX",
                        "created_from_os_name": "U",
                        "created_from_os_version": "1",
                        "created_from_os_arch": "x86_64",
                        "charge_os_license": "NONE",
                        "system_disk_type": "CDS_SSD",
                        "system_disk_gb": 40,
                        "billing_timing": "POSTPAID",
                        "charge_lines": "[]",
                        "accrued_until": start,
                        "created_at": start,
                    }
                )
                if len(rows) == 10000:
                    _insert_postpaid(conn, rows)
                    rows = []
            if rows:
                _insert_postpaid(conn, rows)
        started = time.perf_counter()
        with write_session(engine) as session:
            entries = settle(session=session, until=start + timedelta(hours=1))
        results["p9_settle_instances"] = args.instances
        results["p9_settle_seconds"] = round(time.perf_counter() - started, 2)
        results["p9_settle_usage_entries"] = len(entries)
        print(json.dumps(results))


if __name__ == "__main__":
    main()


def _insert_postpaid(conn: Any, rows: list[dict[str, Any]]) -> None:
    """Insert postpaid instances, each paying 0.42 CNY an hour of compute."""
    conn.execute(insert(Instance), rows)
    conn.execute(
        insert(InstanceRate),
        [{"instance_id": r["id"], "kind": "COMPUTE", "hourly_micros": 420000} for r in rows],
    )
