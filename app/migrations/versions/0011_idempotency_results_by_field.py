"""idempotency results name their rows by the result's fields: the single-instance
rebuild records of the first release ({"instance", "operation"}) take the list form
({"instances", "operations"}) every rebuild record now has

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 20:00:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORDS = sa.table(
    "idempotency_record",
    sa.column("account_id", sa.String),
    sa.column("mutation", sa.String),
    sa.column("client_token", sa.String),
    sa.column("result", sa.Text),
)


def upgrade() -> None:
    """Apply this migration."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(RECORDS).where(RECORDS.c.mutation.in_(["rebuildInstance", "rebuildInstances"]))
    ).all()
    for row in rows:
        result = json.loads(row.result or "{}")
        if "instance" not in result:
            continue
        result["instances"] = [result.pop("instance")]
        result["operations"] = [result.pop("operation")]
        bind.execute(
            RECORDS.update()
            .where(
                RECORDS.c.account_id == row.account_id,
                RECORDS.c.mutation == row.mutation,
                RECORDS.c.client_token == row.client_token,
            )
            .values(result=json.dumps(result))
        )


def downgrade() -> None:
    """Revert this migration (single-instance records go back to the single form)."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(RECORDS).where(RECORDS.c.mutation == "rebuildInstance")).all()
    for row in rows:
        result = json.loads(row.result or "{}")
        if len(result.get("instances", [])) != 1:
            continue
        result["instance"] = result.pop("instances")[0]
        result["operation"] = result.pop("operations")[0]
        bind.execute(
            RECORDS.update()
            .where(
                RECORDS.c.account_id == row.account_id,
                RECORDS.c.mutation == row.mutation,
                RECORDS.c.client_token == row.client_token,
            )
            .values(result=json.dumps(result))
        )
