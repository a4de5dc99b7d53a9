"""The Alembic migrations produce exactly the tables the models declare."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

import app.accounts.models
import app.billing.models
import app.images.models
import app.instances.models
import app.marketplace.models
import app.operations.models
import app.platform.catalogue_version
import app.platform.idempotency
import app.platform.persisted_queries
import app.platform.schedule
import app.platform.service_secrets
import app.platform.versions
import app.regions.models
import app.snapshots.models
import app.storage.models
import app.tags.models
import app.webhooks.models  # noqa: F401
from app.config import load_settings
from app.database import alembic_config, make_engine


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_old_rebuild_records_replay_after_the_upgrade(tmp_path: Path) -> None:
    """0011: a single-instance rebuild record of the first release takes the list form that
    every idempotent result now has, so a retry after the upgrade still replays."""
    engine = make_engine(load_settings({}, database_url=f"sqlite:///{tmp_path / 'm.db'}"))
    config = alembic_config(engine)
    command.upgrade(config, "0010")
    old = {"instance": "i-1", "order": None, "operation": "op-1"}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO account (id, name, role, balance_minor, in_arrears, created_at, "
                "usage_carry) VALUES ('acc-1', 'a', 'USER', 0, false, '2026-01-01', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO idempotency_record VALUES "
                "('acc-1', 'rebuildInstance', 't1', 'h', :r, '2026-01-01')"
            ),
            {"r": json.dumps(old)},
        )
    command.upgrade(config, "0011")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT result FROM idempotency_record")).scalar_one()
    assert json.loads(stored) == {"instances": ["i-1"], "order": None, "operations": ["op-1"]}
    command.downgrade(config, "0010")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT result FROM idempotency_record")).scalar_one()
    assert json.loads(stored) == old
    engine.dispose()


def test_failed_images_of_earlier_releases_are_purged_a_day_after_they_were_made(
    tmp_path: Path,
) -> None:
    """0015: CREATE_FAILED images lingered; now each gets a purgeAt a day after it was
    created (R193), which the periodic job honours; other images keep none."""
    engine = make_engine(load_settings({}, database_url=f"sqlite:///{tmp_path / 'm.db'}"))
    config = alembic_config(engine)
    command.upgrade(config, "0014")
    image = (
        "INSERT INTO image (id, name, description, kind, generation, region_code, status, "
        "os_type, os_name, os_version, os_arch, min_disk_gb, created_at, owner_id, "
        "source_kind, charge_os_license, disabled, deletion_protection) VALUES (:id, 'n', '', "
        "'CUSTOM', 'BCC', 'bj', :status, 'LINUX', 'Ubuntu', '22.04', 'x86_64', 1, "
        "'2026-01-01 10:00:00', 'acc-1', 'IMPORT', 'NONE', false, false)"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO account (id, name, role, balance_minor, in_arrears, created_at, "
                "usage_carry) VALUES ('acc-1', 'a', 'USER', 0, false, '2026-01-01', 0)"
            )
        )
        conn.execute(text("INSERT INTO region VALUES ('bj', 'Beijing', true, 0)"))
        conn.execute(text(image), [{"id": "m-failed", "status": "CREATE_FAILED"}])
        conn.execute(text(image), [{"id": "m-fine", "status": "AVAILABLE"}])
    command.upgrade(config, "0015")
    purge_at = "SELECT id, purge_at FROM image ORDER BY id"
    with engine.connect() as conn:
        upgraded = [tuple(row) for row in conn.execute(text(purge_at))]
    command.downgrade(config, "0014")
    with engine.connect() as conn:
        downgraded = [tuple(row) for row in conn.execute(text(purge_at))]
    engine.dispose()
    assert upgraded == [("m-failed", "2026-01-02 10:00:00.000000"), ("m-fine", None)]
    assert downgraded == [("m-failed", None), ("m-fine", None)]


def test_prepaid_sales_of_earlier_releases_name_their_order_and_instances(tmp_path: Path) -> None:
    """0019: a prepaid sale's order id was only its reference; it becomes its order, with the
    instances of that order's software shares (a launch: one sale for all; a rebuild: one sale
    per instance, told apart by amount, with its own order line) (R171); an hourly sale names
    none."""
    path = tmp_path / "m.db"
    engine = make_engine(load_settings({}, database_url=f"sqlite:///{path}"))
    config = alembic_config(engine)
    command.upgrade(config, "0018")
    with sqlite3.connect(path) as conn:  # foreign keys off: no account, listing or order rows
        conn.executemany(
            "INSERT INTO sale (id, listing_id, provider_id, buyer_id, plan_timing, "
            "plan_price_micros, instance_count, amount_minor, revenue_minor, reference, "
            "created_at) VALUES (?, 'lst-1', 'acc-p', 'acc-b', ?, 1, 1, ?, 0, ?, "
            "'2026-01-01 10:00:00')",
            [
                ("sale-launch", "PREPAID", 100, "ord-1"),
                ("sale-hourly", "POSTPAID", 5, None),
                ("sale-rebuild-a", "PREPAID", 40, "ord-2"),
                ("sale-rebuild-b", "PREPAID", 30, "ord-2"),
            ],
        )
        conn.executemany(
            "INSERT INTO charge_share (id, instance_id, order_id, kind, listing_id, amount_minor, "
            "revenue_minor, reversed_minor, refunded_minor, starts_at, ends_at) VALUES "
            "(?, ?, ?, ?, ?, ?, 0, 0, 0, '2026-01-01', '2026-02-01')",
            [
                ("cs-1", "i-2", "ord-1", "SOFTWARE", "lst-1", 50),
                ("cs-2", "i-1", "ord-1", "SOFTWARE", "lst-1", 50),
                ("cs-3", "i-3", "ord-1", "COMPUTE", None, 10),
                ("cs-4", "i-5", "ord-2", "SOFTWARE", "lst-1", 30),
                ("cs-5", "i-6", "ord-2", "SOFTWARE", "lst-1", 40),
            ],
        )
        conn.executemany(
            "INSERT INTO order_line (order_id, position, kind, description, quantity, unit, "
            "unit_price_micros, amount_minor) VALUES (?, ?, ?, ?, '1', 'DAY', 1, 1)",
            [
                ("ord-1", 0, "COMPUTE", "compute"),
                ("ord-1", 1, "SOFTWARE", "waf"),
                ("ord-2", 0, "SOFTWARE", "waf; 3 of 30 days left in the term (i-5)"),
                ("ord-2", 1, "SOFTWARE", "waf; 3 of 30 days left in the term (i-6)"),
            ],
        )
    command.upgrade(config, "0019")
    named = "SELECT id, order_id, order_line, instance_ids FROM sale ORDER BY id"
    with engine.connect() as conn:
        upgraded = [tuple(row) for row in conn.execute(text(named))]
    command.downgrade(config, "0018")
    with engine.connect() as conn:
        kept = [tuple(row) for row in conn.execute(text("SELECT id, reference FROM sale"))]
    engine.dispose()
    assert upgraded == [
        ("sale-hourly", None, None, "[]"),
        ("sale-launch", "ord-1", 1, '["i-1", "i-2"]'),
        ("sale-rebuild-a", "ord-2", 1, '["i-6"]'),
        ("sale-rebuild-b", "ord-2", 0, '["i-5"]'),
    ]
    assert len(kept) == 4 and ("sale-launch", "ord-1") in kept


def _instance_row(instance_id: str, owner: str, timing: str, lines: list[Any], **more: Any) -> Any:
    """An instance as the 0022 schema stores it (foreign keys off: no image or flavor rows)."""
    return {
        "id": instance_id,
        "name": instance_id,
        "owner_id": owner,
        "region_code": "bj",
        "zone_name": "cn-bj-a",
        "flavor_name": "bcc.g5.c2m8",
        "generation": "BCC",
        "status": "RUNNING",
        "image_id": "m-1",
        "image_name": "m",
        "image_os_type": "WINDOWS",
        "image_os_name": "Windows",
        "image_os_version": "2022",
        "image_os_arch": "x86_64",
        "created_from_image_id": "m-1",
        "created_from_image_name": "m",
        "created_from_os_type": "WINDOWS",
        "created_from_os_name": "Windows",
        "created_from_os_version": "2022",
        "created_from_os_arch": "x86_64",
        "charge_os_license": "WINDOWS",
        "system_disk_type": "CDS_SSD",
        "system_disk_gb": 40,
        "billing_timing": timing,
        "charge_lines": json.dumps(
            [
                {"kind": k, "description": k, "quantity": q, "unit": "HOUR", "unitPrice": p}
                | {"amount": "0.00"}
                for k, q, p in lines
            ]
        ),
        "accrued_until": "2026-01-01 10:00:00",
        "created_at": "2026-01-01 09:00:00",
    } | more


def test_postpaid_rates_of_earlier_releases_are_split_line_by_line(tmp_path: Path) -> None:
    """0023 (R207, R191): an instance's combined hourly rate becomes one row per charge line
    (the software line at the software rate, paying its listing; anything the lines do not
    explain on compute) and an account's carry moves onto the compute line of its first
    instance still being settled; the downgrade sums them back."""
    path = tmp_path / "m.db"
    engine = make_engine(load_settings({}, database_url=f"sqlite:///{path}"))
    config = alembic_config(engine)
    command.upgrade(config, "0022")
    windows = [("COMPUTE", "1", "0.42"), ("WINDOWS_LICENSE", "2", "0.03")]
    market = [("COMPUTE", "1", "0.42"), ("SOFTWARE", "1", "5.00")]
    rows = [
        # released and settled up to its release: the carry goes past it
        _instance_row("i-1", "acc-1", "POSTPAID", windows, hourly_micros=480_000)
        | {"released_at": "2026-01-01 10:00:00"},
        _instance_row("i-2", "acc-1", "POSTPAID", market, hourly_micros=5_420_000)
        | {"software_micros": 5_000_000, "charge_listing_id": "lst-1"},
        # lines that do not add up to what it was charged: the rest is compute
        _instance_row("i-3", "acc-2", "POSTPAID", windows, hourly_micros=500_000),
        _instance_row("i-4", "acc-2", "PREPAID", windows, hourly_micros=0),
    ]
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO account (id, name, role, balance_minor, in_arrears, created_at, "
            "usage_carry) VALUES (?, ?, 'CUSTOMER', 0, false, '2026-01-01', ?)",
            [("acc-1", "a", -300_000), ("acc-2", "b", 0)],
        )
        for row in rows:
            row.setdefault("software_micros", 0)
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO instance ({names}) VALUES ({marks})", list(row.values()))
    command.upgrade(config, "0023")
    split = "SELECT instance_id, kind, listing_id, hourly_micros, carry FROM instance_rate"
    with engine.connect() as conn:
        upgraded = sorted(tuple(row) for row in conn.execute(text(split)))
    command.downgrade(config, "0022")
    summed = "SELECT id, hourly_micros, software_micros FROM instance ORDER BY id"
    with engine.connect() as conn:
        back = [tuple(row) for row in conn.execute(text(summed))]
        carries = list(conn.execute(text("SELECT id, usage_carry FROM account ORDER BY id")))
    engine.dispose()
    assert upgraded == [
        ("i-1", "COMPUTE", None, 420_000, 0),
        ("i-1", "WINDOWS_LICENSE", None, 60_000, 0),
        ("i-2", "COMPUTE", None, 420_000, -300_000),
        ("i-2", "SOFTWARE", "lst-1", 5_000_000, 0),
        ("i-3", "COMPUTE", None, 440_000, 0),
        ("i-3", "WINDOWS_LICENSE", None, 60_000, 0),
    ]
    assert back == [
        ("i-1", 480_000, 0),
        ("i-2", 5_420_000, 5_000_000),
        ("i-3", 500_000, 0),
        ("i-4", 0, 0),
    ]
    assert [tuple(row) for row in carries] == [("acc-1", -300_000), ("acc-2", 0)]
