"""Shared fixtures: a migrated, seeded database (SQLite or PostgreSQL) and an in-process client."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from starlette.testclient import TestClient

from app.clock import Clock
from app.config import Settings, load_settings
from app.database import make_engine
from app.main import create_app
from app.operations.worker import Worker
from app.seed import prepare
from tests.factories import Factory

TEST_DATABASE_ENV = "BCC_IMAGES_TEST_DATABASE_URL"

#: the modules about money (terms, refunds, settlement, arrears): marked ``money``, which CI
#: runs a second time under fixed dates where month lengths and leap days matter (R150)
MONEY_MODULES = frozenset(
    {
        "tests/acceptance/test_billing.py",
        "tests/acceptance/test_change_image.py",
        "tests/acceptance/test_marketplace.py",
        "tests/app/billing/test_money_machine.py",
        "tests/app/billing/test_pricing.py",
        "tests/app/billing/test_settlement.py",
        "tests/app/instances/test_expiry.py",
        "tests/app/instances/test_rules.py",
        "tests/app/marketplace/test_rules.py",
        "tests/app/test_money.py",
        "tests/schema/billing/test_billing_admin.py",
        "tests/schema/billing/test_charge_properties.py",
        "tests/schema/billing/test_money_that_ends.py",
        "tests/schema/instances/test_instances.py",
        "tests/schema/marketplace/test_marketplace.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the money modules ``money``."""
    root = Path(str(config.rootpath))
    for item in items:
        if item.path.relative_to(root).as_posix() in MONEY_MODULES:
            item.add_marker(pytest.mark.money)


def _postgres_schema_url(base: str, schema_name: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema_name}"


@contextmanager
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new empty database: a SQLite file, or a new schema in the PostgreSQL test database."""
    base = os.environ.get(TEST_DATABASE_ENV, "sqlite")
    if base == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    schema_name = f"t_{secrets.token_hex(6)}"
    admin: Engine = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    try:
        yield _postgres_schema_url(base, schema_name)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for this test session's in-process tests."""
    with fresh_database(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for tests: no waiting in operations, generous rate limits."""
    return load_settings(
        {},
        database_url=database_url,
        data_dir=Path(tmp_path_factory.mktemp("data")),
        operation_seconds=0.0,
        operation_seconds_per_gb=0.0,
        run_worker=False,
        rate_limit_points=1_000_000,
        rate_limit_refill_per_second=1_000_000.0,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    """The migrated and seeded engine shared by the session's tests."""
    engine = make_engine(settings)
    prepare(engine, settings.seed_dir, Clock(simulated=False).now())
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> Factory:
    """Creates accounts and other entities directly through the services."""
    return Factory(engine)


@pytest.fixture
def run_operations(app_client: TestClient) -> Callable[[], int]:
    """Advance due operations now, as the in-process worker would (tests run none)."""
    worker: Worker = app_client.app.state.worker  # type: ignore[attr-defined]
    return worker.tick


@pytest.fixture(scope="session")
def app_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The real ASGI app, in process."""
    with TestClient(create_app(settings)) as client:
        yield client
