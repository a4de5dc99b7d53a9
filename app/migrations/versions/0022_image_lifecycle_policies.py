"""image lifecycle policies (R175, R203): the policies, what they did at each run, and the
images their owners took back from a policy

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 08:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.database import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "image_lifecycle_policy",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=8), nullable=False),
        sa.Column("family", sa.String(length=63), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("deprecate_after_days", sa.Integer(), nullable=True),
        sa.Column("disable_after_days", sa.Integer(), nullable=True),
        sa.Column("delete_after_days", sa.Integer(), nullable=True),
        sa.Column("keep_newest", sa.Integer(), nullable=False),
        sa.Column("exclude_tags", sa.Text(), nullable=False),
        sa.Column("launched_within_days", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_image_lifecycle_policy_owner",
        "image_lifecycle_policy",
        ["owner_id", "created_at", "id"],
    )
    op.create_table(
        "image_lifecycle_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=16), nullable=False),
        sa.Column("image_id", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("taken", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_image_lifecycle_action_policy", "image_lifecycle_action", ["policy_id", "at", "id"]
    )
    op.create_index(
        "ix_image_lifecycle_action_image", "image_lifecycle_action", ["image_id", "action"]
    )
    op.create_table(
        "image_lifecycle_exclusion",
        sa.Column("image_id", sa.String(length=16), nullable=False),
        sa.Column("policy_id", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("image_id", "policy_id"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("image_lifecycle_exclusion")
    op.drop_index("ix_image_lifecycle_action_image", table_name="image_lifecycle_action")
    op.drop_index("ix_image_lifecycle_action_policy", table_name="image_lifecycle_action")
    op.drop_table("image_lifecycle_action")
    op.drop_index("ix_image_lifecycle_policy_owner", table_name="image_lifecycle_policy")
    op.drop_table("image_lifecycle_policy")
