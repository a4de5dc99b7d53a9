"""sales get ids of their own (sale-…) so they can be fetched as nodes; the store of
persisted queries

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.database import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.execute("UPDATE sale SET id = 'sale-' || substr(id, 5) WHERE id LIKE 'txn-%'")
    op.create_table(
        "persisted_query",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("persisted_query")
    op.execute("UPDATE sale SET id = 'txn-' || substr(id, 6) WHERE id LIKE 'sale-%'")
