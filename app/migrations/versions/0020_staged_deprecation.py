"""a custom image's deprecation may schedule when it is disabled and when it moves to the
recycle bin (R174), and a stage that could not run is noted on the image

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 05:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.database import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("image") as batch:
        batch.add_column(sa.Column("disable_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("delete_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("lifecycle_note", sa.Text(), nullable=True))
        batch.create_index("ix_image_disable_at", ["disable_at"])
        batch.create_index("ix_image_delete_at", ["delete_at"])


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("image") as batch:
        batch.drop_index("ix_image_delete_at")
        batch.drop_index("ix_image_disable_at")
        batch.drop_column("lifecycle_note")
        batch.drop_column("delete_at")
        batch.drop_column("disable_at")
