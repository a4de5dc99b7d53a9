"""flavors carry their processor architecture (R170, R205): X86_64 for every flavor so far
(the seed adds ARM64 flavors)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("flavor") as batch:
        batch.add_column(
            sa.Column("arch", sa.String(length=8), nullable=False, server_default="X86_64")
        )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("flavor") as batch:
        batch.drop_column("arch")
