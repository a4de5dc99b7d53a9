"""postpaid rates fixed per charge line (R167, R191, R207): each postpaid instance's combined
hourly rate is split into one row per charge line, with the fraction of a fen each line has
used but not been charged; the account-wide carry moves onto one of the account's lines

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 15:00:00.000000

The lines are read from the instance's stored charge lines (quantity x unit price of one
instance for one hour). Should they not add up to the combined rate settlements charged, the
difference goes on the compute line, so that every instance is charged what it was before.
The software line pays the instance's listing, at the software rate it had. An account's
carry (at most half a fen either way) goes on the compute line of its first postpaid
instance still being settled, or of its first postpaid instance if none is.
"""

import json
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSERT = sa.text(
    "INSERT INTO instance_rate (instance_id, kind, listing_id, hourly_micros, carry) "
    "VALUES (:i, :k, :l, :r, 0)"
)


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "instance_rate",
        sa.Column("instance_id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("listing_id", sa.String(length=16), nullable=True),
        sa.Column("hourly_micros", sa.BigInteger(), nullable=False),
        sa.Column("carry", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"]),
        sa.PrimaryKeyConstraint("instance_id", "kind"),
    )
    _split_rates()
    _move_carries()
    with op.batch_alter_table("instance") as batch:
        batch.drop_column("hourly_micros")
        batch.drop_column("software_micros")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("usage_carry")


def _split_rates() -> None:
    conn = op.get_bind()
    postpaid = conn.execute(
        sa.text(
            "SELECT id, charge_lines, charge_listing_id, hourly_micros, software_micros "
            "FROM instance WHERE billing_timing = 'POSTPAID' ORDER BY id"
        )
    ).all()
    for row in postpaid:
        rates: dict[str, int] = {}
        for line in json.loads(row.charge_lines):
            exact = Decimal(line["quantity"]) * Decimal(line["unitPrice"]) * 1_000_000
            rates[line["kind"]] = rates.get(line["kind"], 0) + int(exact)
        rates.pop("SOFTWARE", None)
        if row.software_micros:
            rates["SOFTWARE"] = row.software_micros
        rates["COMPUTE"] = rates.get("COMPUTE", 0) + row.hourly_micros - sum(rates.values())
        for kind, micros in sorted(rates.items()):
            listing = row.charge_listing_id if kind == "SOFTWARE" else None
            conn.execute(INSERT, {"i": row.id, "k": kind, "l": listing, "r": micros})


def _move_carries() -> None:
    conn = op.get_bind()
    carried = conn.execute(
        sa.text("SELECT id, usage_carry FROM account WHERE usage_carry <> 0 ORDER BY id")
    ).all()
    for account_id, carry in carried:
        line = conn.execute(
            sa.text(
                "SELECT r.instance_id FROM instance_rate r JOIN instance i ON i.id = r.instance_id "
                "WHERE i.owner_id = :a AND r.kind = 'COMPUTE' ORDER BY CASE WHEN "
                "i.released_at IS NULL OR i.accrued_until < i.released_at THEN 0 ELSE 1 END, "
                "i.id LIMIT 1"
            ),
            {"a": account_id},
        ).first()
        if line is not None:
            conn.execute(
                sa.text(
                    "UPDATE instance_rate SET carry = :c "
                    "WHERE instance_id = :i AND kind = 'COMPUTE'"
                ),
                {"c": carry, "i": line.instance_id},
            )


def downgrade() -> None:
    """Revert this migration (rates are summed back per instance, carries per account)."""
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("usage_carry", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("instance") as batch:
        batch.add_column(
            sa.Column("hourly_micros", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("software_micros", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE instance SET hourly_micros = COALESCE((SELECT SUM(hourly_micros) FROM "
        "instance_rate r WHERE r.instance_id = instance.id), 0), software_micros = "
        "COALESCE((SELECT hourly_micros FROM instance_rate r WHERE r.instance_id = instance.id "
        "AND r.kind = 'SOFTWARE'), 0)"
    )
    op.execute(
        "UPDATE account SET usage_carry = COALESCE((SELECT SUM(r.carry) FROM instance_rate r "
        "JOIN instance i ON i.id = r.instance_id WHERE i.owner_id = account.id), 0)"
    )
    op.drop_table("instance_rate")
