"""Alembic environment: runs migrations on the engine handed over by app.database.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

# every table registers itself on SQLModel.metadata when its module is imported
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
