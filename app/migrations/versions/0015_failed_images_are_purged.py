"""failed images are purged a day after they failed (R193): the CREATE_FAILED images of
earlier releases, which never were, get a purgeAt a day after they were created

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from app.database import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMAGES = sa.table(
    "image",
    sa.column("id", sa.String),
    sa.column("status", sa.String),
    sa.column("created_at", UTCDateTime()),
    sa.column("purge_at", UTCDateTime()),
    sa.column("deleted_at", UTCDateTime()),
)
SHOWN = timedelta(hours=24)


def upgrade() -> None:
    """Apply this migration."""
    bind = op.get_bind()
    failed = bind.execute(
        sa.select(IMAGES.c.id, IMAGES.c.created_at).where(
            IMAGES.c.status == "CREATE_FAILED", IMAGES.c.purge_at.is_(None)
        )
    ).all()
    for image_id, created_at in failed:
        bind.execute(
            IMAGES.update().where(IMAGES.c.id == image_id).values(purge_at=created_at + SHOWN)
        )


def downgrade() -> None:
    """Revert this migration: failed images outside the recycle bin lose their purgeAt."""
    bind = op.get_bind()
    bind.execute(
        IMAGES.update()
        .where(IMAGES.c.status == "CREATE_FAILED", IMAGES.c.deleted_at.is_(None))
        .values(purge_at=None)
    )
