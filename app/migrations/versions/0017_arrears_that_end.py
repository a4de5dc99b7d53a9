"""arrears that end (R165, R192): an account records when its balance went below zero
(``arrears_since``, the start of its grace period) and ``in_arrears`` means a negative balance
for every account; an instance records why it was released (``release_reason``: OWNER or
ARREARS). Accounts already in debt start their arrears at the ledger entry that took the
balance below zero for the last time; instances already released were released by their
owners.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.database import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCOUNTS = sa.table(
    "account",
    sa.column("id", sa.String),
    sa.column("balance_minor", sa.BigInteger),
    sa.column("in_arrears", sa.Boolean),
    sa.column("arrears_since", UTCDateTime()),
)
LEDGER = sa.table(
    "ledger_entry",
    sa.column("account_id", sa.String),
    sa.column("balance_after_minor", sa.BigInteger),
    sa.column("created_at", UTCDateTime()),
)


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("arrears_since", UTCDateTime(), nullable=True))
    with op.batch_alter_table("instance") as batch:
        batch.add_column(sa.Column("release_reason", sa.String(length=8), nullable=True))
    op.execute("UPDATE instance SET release_reason = 'OWNER' WHERE status = 'RELEASED'")
    bind = op.get_bind()
    bind.execute(sa.update(ACCOUNTS).values(in_arrears=ACCOUNTS.c.balance_minor < 0))
    in_debt = bind.execute(sa.select(ACCOUNTS.c.id).where(ACCOUNTS.c.balance_minor < 0)).all()
    for (account_id,) in in_debt:
        since = None
        entries = bind.execute(
            sa.select(LEDGER.c.balance_after_minor, LEDGER.c.created_at)
            .where(LEDGER.c.account_id == account_id)
            .order_by(LEDGER.c.created_at.desc())
        ).all()
        for balance_after, created_at in entries:
            if balance_after >= 0:
                break
            since = created_at
        bind.execute(
            sa.update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(arrears_since=since)
        )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("instance") as batch:
        batch.drop_column("release_reason")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("arrears_since")
