"""tags on images, snapshots and instances

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.database import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "tag",
        sa.Column("resource_id", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("owner_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("resource_id", "key"),
    )
    op.create_index("ix_tag_owner_key_value", "tag", ["owner_id", "key", "value", "resource_id"])


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index("ix_tag_owner_key_value", table_name="tag")
    op.drop_table("tag")
