"""Alembic environment: runs migrations on the engine handed over by app.database.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
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
import app.storage.models
import app.tags.models
import app.versions  # noqa: F401  (registers every table on SQLModel.metadata)

target_metadata = SQLModel.metadata
config = context.config


def run() -> None:
    """Run the migrations online, on the configured engine (or a URL for autogenerate)."""
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.driver_connection
        assert raw is not None
        if sqlite:  # batch migrations copy tables; other tables' keys must not stop that
            raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, or it is ignored
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if sqlite:
            raw.execute("PRAGMA foreign_keys=ON")


run()
