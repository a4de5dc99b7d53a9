"""charge attribution: each instance's share of each prepaid order line, and the hourly
software revenue carried per listing instead of per provider

Existing orders are split into shares the way the service splits them (each line divided
among the order's instances to the fen), SOFTWARE shares take their listing and revenue from
the order's sales, and each provider's carried revenue moves to its oldest listing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 20:00:00.000000
"""

import secrets
import string
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.database import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ALPHABET = string.ascii_letters + string.digits


def _new_id() -> str:
    return "chg-" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "charge_share",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("instance_id", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("listing_id", sa.String(length=16), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("revenue_minor", sa.BigInteger(), nullable=False),
        sa.Column("reversed_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("consumed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["order.id"]),
        sa.ForeignKeyConstraint(["listing_id"], ["listing.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_charge_share_instance", "charge_share", ["instance_id", "kind"])
    op.create_table(
        "listing_revenue",
        sa.Column("listing_id", sa.String(length=16), nullable=False),
        sa.Column("carry", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["listing_id"], ["listing.id"]),
        sa.PrimaryKeyConstraint("listing_id"),
    )
    _convert_orders()
    _move_revenue_carry()
    with op.batch_alter_table("instance") as batch:
        batch.drop_column("paid_minor")
        batch.drop_column("software_revenue_minor")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("revenue_carry")


def _convert_orders() -> None:
    conn = op.get_bind()
    orders = conn.execute(
        sa.text('SELECT id, kind, created_at FROM "order" ORDER BY created_at, id')
    ).all()
    for order_id, kind, created_at in orders:
        instances = conn.execute(
            sa.text(
                "SELECT i.id, i.created_at, i.expires_at FROM order_instance o "
                "JOIN instance i ON i.id = o.instance_id WHERE o.order_id = :o ORDER BY i.id"
            ),
            {"o": order_id},
        ).all()
        instances = [i for i in instances if i.expires_at is not None]
        if not instances:
            continue
        sale = conn.execute(
            sa.text("SELECT listing_id, revenue_minor FROM sale WHERE reference = :o"),
            {"o": order_id},
        ).first()
        lines = conn.execute(
            sa.text("SELECT kind, amount_minor FROM order_line WHERE order_id = :o"),
            {"o": order_id},
        ).all()
        for line_kind, amount in lines:
            listing = sale.listing_id if sale is not None and line_kind == "SOFTWARE" else None
            revenue = _split(sale.revenue_minor, len(instances)) if listing else None
            for index, (share, instance) in enumerate(
                zip(_split(amount, len(instances)), instances, strict=True)
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO charge_share (id, instance_id, order_id, kind, listing_id, "
                        "amount_minor, revenue_minor, reversed_minor, refunded_minor, "
                        "starts_at, ends_at) VALUES (:id, :i, :o, :k, :l, :a, :r, 0, 0, :s, :e)"
                    ),
                    {
                        "id": _new_id(),
                        "i": instance.id,
                        "o": order_id,
                        "k": line_kind,
                        "l": listing,
                        "a": share,
                        "r": revenue[index] if revenue else 0,
                        "s": instance.created_at if kind == "NEW_INSTANCES" else created_at,
                        "e": instance.expires_at,
                    },
                )


def _move_revenue_carry() -> None:
    conn = op.get_bind()
    carried = conn.execute(
        sa.text("SELECT id, revenue_carry FROM account WHERE revenue_carry <> 0")
    ).all()
    for provider_id, carry in carried:
        listing = conn.execute(
            sa.text(
                "SELECT id FROM listing WHERE provider_id = :p ORDER BY created_at, id LIMIT 1"
            ),
            {"p": provider_id},
        ).first()
        if listing is not None:
            conn.execute(
                sa.text("INSERT INTO listing_revenue (listing_id, carry) VALUES (:l, :c)"),
                {"l": listing.id, "c": carry},
            )


def downgrade() -> None:
    """Revert this migration (carried revenue and shares are summed back per account and
    instance).
    """
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("revenue_carry", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("instance") as batch:
        batch.add_column(
            sa.Column("paid_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("software_revenue_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE instance SET paid_minor = COALESCE((SELECT SUM(amount_minor) FROM charge_share "
        "WHERE charge_share.instance_id = instance.id), 0), software_revenue_minor = "
        "COALESCE((SELECT SUM(revenue_minor - reversed_minor) FROM charge_share "
        "WHERE charge_share.instance_id = instance.id), 0)"
    )
    op.execute(
        "UPDATE account SET revenue_carry = COALESCE((SELECT SUM(r.carry) FROM listing_revenue r "
        "JOIN listing l ON l.id = r.listing_id WHERE l.provider_id = account.id), 0)"
    )
    op.drop_table("listing_revenue")
    op.drop_index("ix_charge_share_instance", table_name="charge_share")
    op.drop_table("charge_share")
