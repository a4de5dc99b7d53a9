"""a provider's sales name what was sold (R171): the order and its line for prepaid sales, and
the instances each sale covered; prepaid sales made before keep their order id (it was their
reference) and the instances of their order's software shares

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 05:00:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("sale") as batch:
        batch.add_column(sa.Column("order_id", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("order_line", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("instance_ids", sa.Text(), nullable=False, server_default="[]"))
    sale = sa.table(
        "sale",
        sa.column("id", sa.String),
        sa.column("reference", sa.String),
        sa.column("listing_id", sa.String),
        sa.column("order_id", sa.String),
        sa.column("instance_ids", sa.Text),
    )
    share = sa.table(
        "charge_share",
        sa.column("order_id", sa.String),
        sa.column("listing_id", sa.String),
        sa.column("instance_id", sa.String),
        sa.column("kind", sa.String),
    )
    connection = op.get_bind()
    prepaid = connection.execute(
        sa.select(sale.c.id, sale.c.reference, sale.c.listing_id).where(
            sale.c.reference.like("ord-%")
        )
    ).all()
    for sale_id, order_id, listing_id in prepaid:
        instances = connection.execute(
            sa.select(share.c.instance_id)
            .where(
                share.c.order_id == order_id,
                share.c.listing_id == listing_id,
                share.c.kind == "SOFTWARE",
            )
            .order_by(share.c.instance_id)
        ).scalars()
        connection.execute(
            sa.update(sale)
            .where(sale.c.id == sale_id)
            .values(order_id=order_id, instance_ids=json.dumps(list(dict.fromkeys(instances))))
        )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("sale") as batch:
        batch.drop_column("instance_ids")
        batch.drop_column("order_line")
        batch.drop_column("order_id")
