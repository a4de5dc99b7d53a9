"""image governance: deprecation, disable, deletion protection, the recycle bin, families

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.database import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration (new columns and indexes only: no table is copied)."""
    op.add_column("image", sa.Column("deprecate_at", UTCDateTime(), nullable=True))
    op.add_column("image", sa.Column("replacement_id", sa.String(length=16), nullable=True))
    op.add_column(
        "image", sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "image",
        sa.Column("deletion_protection", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("image", sa.Column("purge_at", UTCDateTime(), nullable=True))
    op.add_column("image", sa.Column("purged_at", UTCDateTime(), nullable=True))
    op.add_column("image", sa.Column("family", sa.String(length=63), nullable=True))
    op.create_index(
        "ix_image_family", "image", ["owner_id", "family", "region_code", "created_at", "id"]
    )
    op.create_index("ix_image_deprecate_at", "image", ["deprecate_at"])
    op.create_index("ix_image_purge_at", "image", ["purge_at"])


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index("ix_image_purge_at", table_name="image")
    op.drop_index("ix_image_deprecate_at", table_name="image")
    op.drop_index("ix_image_family", table_name="image")
    with op.batch_alter_table("image") as batch:
        for column in (
            "family",
            "purged_at",
            "purge_at",
            "deletion_protection",
            "disabled",
            "replacement_id",
            "deprecate_at",
        ):
            batch.drop_column(column)
