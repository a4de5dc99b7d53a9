"""Charge attribution: what each instance's share of each prepaid order line paid for, and
which listing earned it (R102, R103, R126). Refunds and reversals read these rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from app.billing.models import ChargeShare
from app.billing.pricing import ChargeKind, ChargeLine
from app.ids import new_id
from app.money import allocate, to_minor


def record_shares(
    *,
    session: Session,
    order_id: str,
    line: ChargeLine,
    instance_ids: Sequence[str],
    starts_at: datetime,
    ends_at: Mapping[str, datetime],
    listing_id: str | None,
) -> list[ChargeShare]:
    """Split one order line among the instances it paid for (to the fen, without loss)."""
    shares = []
    for instance_id, amount in zip(
        instance_ids, allocate(to_minor(line.amount), len(instance_ids)), strict=True
    ):
        share = ChargeShare(
            id=new_id("chg"),
            instance_id=instance_id,
            order_id=order_id,
            kind=line.kind.value,
            listing_id=listing_id if line.kind is ChargeKind.SOFTWARE else None,
            amount_minor=amount,
            starts_at=starts_at,
            ends_at=ends_at[instance_id],
        )
        session.add(share)
        shares.append(share)
    session.flush()
    return shares


def shares_of(*, session: Session, instance_ids: Sequence[str]) -> list[ChargeShare]:
    """Every share the instances paid, oldest first."""
    if not instance_ids:
        return []
    stmt = (
        select(ChargeShare)
        .where(col(ChargeShare.instance_id).in_(instance_ids))
        .order_by(col(ChargeShare.starts_at), col(ChargeShare.id))
    )
    return list(session.exec(stmt))


def already_paid(shares: Sequence[ChargeShare], kind: ChargeKind, listing_id: str | None) -> bool:
    """Whether the instance paid for this kind of charge (this listing's) in its term."""
    return any(s.kind == kind.value and s.listing_id == listing_id for s in shares)


def consume(
    *,
    session: Session,
    shares: Sequence[ChargeShare],
    keep: Callable[[ChargeShare], bool],
    now: datetime,
) -> None:
    """Mark the lines an instance was rebuilt away from as fully used (not refundable)."""
    for share in shares:
        if share.consumed_at is None and not keep(share):
            share.consumed_at = now
            session.add(share)
    session.flush()
