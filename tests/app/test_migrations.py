"""The Alembic migrations produce exactly the tables the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import app.accounts.models
import app.billing.models
import app.catalogue
import app.images.models
import app.instances.models
import app.marketplace.models
import app.operations.models
import app.persisted_queries
import app.regions.models
import app.secrets_store
import app.snapshots.models
import app.storage.models  # noqa: F401


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
