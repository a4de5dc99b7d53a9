"""a provider's sales name what was sold (R171): the order and its line for prepaid sales, and
the instances each sale covered; prepaid sales made before get their order (it was their
reference), and their line and instances where the order's records tell them apart

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
        sa.column("amount_minor", sa.BigInteger),
        sa.column("order_id", sa.String),
        sa.column("order_line", sa.Integer),
        sa.column("instance_ids", sa.Text),
    )
    connection = op.get_bind()
    prepaid = connection.execute(
        sa.select(sale.c.id, sale.c.reference, sale.c.listing_id, sale.c.amount_minor)
        .where(sale.c.reference.like("ord-%"))
        .order_by(sale.c.id)
    ).all()
    by_order: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for sale_id, order_id, listing_id, amount in prepaid:
        by_order.setdefault((order_id, listing_id), []).append((sale_id, amount))
    for (order_id, listing_id), sales in by_order.items():
        for sale_id, (instances, line) in _matched(connection, order_id, listing_id, sales):
            connection.execute(
                sa.update(sale)
                .where(sale.c.id == sale_id)
                .values(order_id=order_id, order_line=line, instance_ids=json.dumps(instances))
            )


def _matched(
    connection: sa.Connection, order_id: str, listing_id: str, sales: list[tuple[str, int]]
) -> list[tuple[str, tuple[list[str], int | None]]]:
    """Each sale of an order with the instances and the order line it was for. A launch made
    one sale for its one SOFTWARE line (every instance's share); a rebuild made one sale per
    instance, each of its own line (named after the instance) and of its share's amount.
    """
    share = sa.table(
        "charge_share",
        sa.column("order_id", sa.String),
        sa.column("listing_id", sa.String),
        sa.column("instance_id", sa.String),
        sa.column("kind", sa.String),
        sa.column("amount_minor", sa.BigInteger),
    )
    line = sa.table(
        "order_line",
        sa.column("order_id", sa.String),
        sa.column("position", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("description", sa.String),
    )
    shares = connection.execute(
        sa.select(share.c.instance_id, share.c.amount_minor)
        .where(
            share.c.order_id == order_id,
            share.c.listing_id == listing_id,
            share.c.kind == "SOFTWARE",
        )
        .order_by(share.c.instance_id)
    ).all()
    lines = connection.execute(
        sa.select(line.c.position, line.c.description).where(
            line.c.order_id == order_id, line.c.kind == "SOFTWARE"
        )
    ).all()
    if len(sales) == 1:
        only = lines[0][0] if len(lines) == 1 else None
        return [(sales[0][0], (list(dict.fromkeys(i for i, _ in shares)), only))]
    unused = list(shares)
    found = []
    for sale_id, amount in sales:
        match = next((s for s in unused if s[1] == amount), None)
        if match is None:
            found.append((sale_id, ([], None)))
            continue
        unused.remove(match)
        named = [p for p, text in lines if text.endswith(f"({match[0]})")]
        found.append((sale_id, ([match[0]], named[0] if len(named) == 1 else None)))
    return found


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("sale") as batch:
        batch.drop_column("instance_ids")
        batch.drop_column("order_line")
        batch.drop_column("order_id")
