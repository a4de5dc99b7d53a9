"""shares the recipient controls (R172, R198): each share has a status (every existing one is
ACCEPTED) and each account says how it takes new shares (AUTOMATIC, as before); indexes for an
image's last launch and for the listings an account pays or paid

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 05:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("image_share") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=8), nullable=False, server_default="ACCEPTED")
        )
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column(
                "share_acceptance",
                sa.String(length=10),
                nullable=False,
                server_default="AUTOMATIC",
            )
        )

    op.create_index("ix_instance_created_from", "instance", ["created_from_image_id", "created_at"])
    op.create_index("ix_sale_buyer_listing", "sale", ["buyer_id", "listing_id"])


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index("ix_sale_buyer_listing", "sale")
    op.drop_index("ix_instance_created_from", "instance")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("share_acceptance")
    with op.batch_alter_table("image_share") as batch:
        batch.drop_column("status")
