"""persisted queries: when each was last used, so the table keeps the most recently used
(R154); documents over 64 KiB, which registration no longer keeps, are dropped

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.database import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.execute("DELETE FROM persisted_query WHERE length(query) > 65536")
    with op.batch_alter_table("persisted_query") as batch:
        batch.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE persisted_query SET last_used_at = created_at")
    with op.batch_alter_table("persisted_query") as batch:
        batch.alter_column("last_used_at", existing_type=UTCDateTime(), nullable=False)
    op.create_index("ix_persisted_query_last_used_at", "persisted_query", ["last_used_at"])


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index("ix_persisted_query_last_used_at", table_name="persisted_query")
    with op.batch_alter_table("persisted_query") as batch:
        batch.drop_column("last_used_at")
