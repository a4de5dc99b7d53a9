"""What providers earn from SOFTWARE charges, attributed to the listing that earned them, and
what refunds take back (R74, R102, R103, R126).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session, select

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.billing import attribution
from app.billing import service as billing_service
from app.billing.models import ChargeShare
from app.billing.pricing import ChargeKind, ChargeLine, SoftwarePlan
from app.billing.rules import TransactionKind, reversal_minor
from app.ids import new_id
from app.instances.models import Instance
from app.marketplace.models import ListingRevenue, Sale
from app.marketplace.service import provider_of
from app.money import RATE_SCALE, allocate, rate_to_int, settle_units, split_micro, to_minor
from app.workflows import announce, arrears

DEFAULT_COMMISSION = Decimal("0.20")


def provider_share_micros(session: Session) -> int:
    """The provider's share of a software charge, in millionths (1 - commission)."""
    value = billing_service.get_price_setting(session=session, name="marketplaceCommission")
    commission = Decimal(value) if value is not None else DEFAULT_COMMISSION
    return RATE_SCALE - rate_to_int(commission)


def _record_sale(
    session: Session,
    *,
    listing_id: str,
    provider_id: str,
    buyer_id: str,
    plan: SoftwarePlan,
    count: int,
    amount_minor: int,
    revenue_minor: int,
    reference: str | None,
    instance_ids: Sequence[str],
    now: datetime,
    order_line: int | None = None,
) -> None:
    sale = Sale(
        id=new_id("sale"),
        listing_id=listing_id,
        provider_id=provider_id,
        buyer_id=buyer_id,
        plan_timing=plan.timing.value,
        plan_months=plan.months,
        plan_price_micros=rate_to_int(plan.price),
        instance_count=count,
        amount_minor=amount_minor,
        revenue_minor=revenue_minor,
        reference=reference,
        order_id=reference if order_line is not None else None,
        order_line=order_line,
        instance_ids=json.dumps(sorted(set(instance_ids))),
        created_at=now,
    )
    session.add(sale)
    announce.sale_created(session, sale, now)


def credit_lines(
    *,
    session: Session,
    listing_id: str,
    buyer_id: str,
    plan: SoftwarePlan,
    lines: Sequence[tuple[ChargeLine, Sequence[ChargeShare]]],
    reference: str,
    now: datetime,
    order_line: int | None = None,
) -> None:
    """Prepaid SOFTWARE lines were paid for a listing: credit its provider each line's amount
    x (1 - commission), rounded once per line, and record on each instance's share of a line
    what its provider earned from it. ``reference`` is the order; ``order_line`` the position
    of the line in it, when the sale is one line.
    """
    provider_id = provider_of(session=session, listing_ids=[listing_id]).get(listing_id)
    if provider_id is None:
        return
    share = provider_share_micros(session)
    credited = charged = count = 0
    for line, shares in lines:
        revenue = to_minor(split_micro(line.amount, share))
        for charge, part in zip(shares, allocate(revenue, len(shares)), strict=True):
            charge.revenue_minor += part
            session.add(charge)
        credited += revenue
        charged += to_minor(line.amount)
        count += len(shares)
    if charged <= 0:
        return
    provider = accounts_service.lock_account(session=session, account_id=provider_id)
    assert provider is not None
    billing_service.post(
        session=session,
        account=provider,
        kind=TransactionKind.PROVIDER_REVENUE,
        amount_minor=credited,
        now=now,
        reference=reference,
    )
    _record_sale(
        session,
        listing_id=listing_id,
        provider_id=provider_id,
        buyer_id=buyer_id,
        plan=plan,
        count=count,
        amount_minor=charged,
        revenue_minor=credited,
        reference=reference,
        instance_ids=[charge.instance_id for _, shares in lines for charge in shares],
        now=now,
        order_line=order_line,
    )


def attribute_line(
    *,
    session: Session,
    order_id: str,
    position: int,
    line: ChargeLine,
    instances: Sequence[Instance],
    buyer_id: str,
    listing_id: str | None,
    software: SoftwarePlan | None,
    now: datetime,
) -> None:
    """Record each instance's share of the line at ``position`` of a prepaid order (until
    its term ends); a SOFTWARE line also pays the listing's provider (R74, R102).
    """
    shares = attribution.record_shares(
        session=session,
        order_id=order_id,
        line=line,
        instance_ids=[i.id for i in instances],
        starts_at=now,
        ends_at={i.id: i.expires_at or now for i in instances},
        listing_id=listing_id,
    )
    if line.kind is ChargeKind.SOFTWARE and listing_id is not None and software is not None:
        credit_lines(
            session=session,
            listing_id=listing_id,
            buyer_id=buyer_id,
            plan=software,
            lines=[(line, shares)],
            reference=order_id,
            now=now,
            order_line=position,
        )


def credit_usage(
    *,
    session: Session,
    listing_id: str,
    buyer_id: str,
    units: int,
    instance_ids: Sequence[str],
    plan: SoftwarePlan,
    now: datetime,
) -> None:
    """Hourly SOFTWARE usage under a listing was charged (``units`` of usage, see app.money):
    credit its provider the exact share, to the fen; the remainder is carried per listing, so
    each listing's revenue is exactly its share of what was charged under it.
    """
    provider_id = provider_of(session=session, listing_ids=[listing_id]).get(listing_id)
    if provider_id is None or units <= 0:
        return
    provider = accounts_service.lock_account(session=session, account_id=provider_id)
    assert provider is not None
    carried = session.exec(
        select(ListingRevenue).where(ListingRevenue.listing_id == listing_id).with_for_update()
    ).first() or ListingRevenue(listing_id=listing_id, carry=0)
    scaled = carried.carry + units * provider_share_micros(session)
    fen, carry = settle_units(scaled // RATE_SCALE)
    carried.carry = carry * RATE_SCALE + scaled % RATE_SCALE
    session.add(carried)
    if fen:
        billing_service.post(
            session=session,
            account=provider,
            kind=TransactionKind.PROVIDER_REVENUE,
            amount_minor=fen,
            now=now,
            reference=listing_id,
        )
    _record_sale(
        session,
        listing_id=listing_id,
        provider_id=provider_id,
        buyer_id=buyer_id,
        plan=plan,
        count=len(instance_ids),
        amount_minor=settle_units(units)[0],
        revenue_minor=fen,
        reference=None,
        instance_ids=instance_ids,
        now=now,
    )


def lock_buyer_and_providers(
    *, session: Session, buyer_id: str, listing_ids: Sequence[str | None]
) -> Account:
    """Lock the account that pays and the accounts of the providers these listings pay, all
    at once in id order, before any other row is locked (R209): the provider rows revenue and
    reversals credit later are then already held. Returns the buyer's account.
    """
    wanted = [listing_id for listing_id in listing_ids if listing_id]
    providers = provider_of(session=session, listing_ids=wanted) if wanted else {}
    locked = accounts_service.lock_accounts(
        session=session, account_ids={buyer_id, *providers.values()}
    )
    return locked[buyer_id]


def reverse(*, session: Session, share: ChargeShare, refund_minor: int, now: datetime) -> int:
    """A SOFTWARE share was refunded: take back from the provider of the listing that earned
    it the same proportion of what it was credited (never more). Returns the reversal.
    """
    if share.listing_id is None:
        return 0
    reversal = reversal_minor(
        share.revenue_minor, share.reversed_minor, refund_minor, share.amount_minor
    )
    if reversal <= 0:
        return 0
    provider_id = provider_of(session=session, listing_ids=[share.listing_id]).get(share.listing_id)
    if provider_id is None:
        return 0
    provider = accounts_service.lock_account(session=session, account_id=provider_id)
    assert provider is not None
    billing_service.post(
        session=session,
        account=provider,
        kind=TransactionKind.PROVIDER_REVERSAL,
        amount_minor=-reversal,
        now=now,
        reference=share.instance_id,
    )
    arrears.stop_for_arrears(session=session, account=provider)  # a provider's debt counts too
    share.reversed_minor += reversal
    session.add(share)
    announce.sale_refunded(session, provider_id, share, refund_minor, reversal, now)
    return reversal
