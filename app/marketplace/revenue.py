"""What providers earn from SOFTWARE charges, and what refunds take back (R74)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from app.billing import service as billing_service
from app.billing.pricing import SoftwarePlan
from app.ids import new_id
from app.instances.models import Instance
from app.marketplace.models import Sale
from app.marketplace.service import provider_of
from app.money import (
    RATE_SCALE,
    allocate,
    proportion_minor,
    rate_to_int,
    settle_units,
    split_micro,
    to_minor,
)

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
    now: datetime,
) -> None:
    session.add(
        Sale(
            id=new_id("txn"),
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
            created_at=now,
        )
    )


def credit_order(
    *,
    session: Session,
    listing_id: str,
    buyer_id: str,
    plan: SoftwarePlan,
    instances: Sequence[Instance],
    amount: Decimal,
    reference: str,
    now: datetime,
) -> None:
    """A prepaid SOFTWARE line was paid: credit the provider amount x (1 - commission)."""
    provider_id = provider_of(session=session, listing_ids=[listing_id]).get(listing_id)
    if provider_id is None or amount <= 0:
        return
    revenue = to_minor(split_micro(amount, provider_share_micros(session)))
    provider = billing_service.lock_account(session=session, account_id=provider_id)
    assert provider is not None
    billing_service.post(
        session=session,
        account=provider,
        kind="PROVIDER_REVENUE",
        amount_minor=revenue,
        now=now,
        reference=reference,
    )
    for instance, share in zip(instances, allocate(revenue, len(instances)), strict=True):
        instance.software_revenue_minor += share
        session.add(instance)
    _record_sale(
        session,
        listing_id=listing_id,
        provider_id=provider_id,
        buyer_id=buyer_id,
        plan=plan,
        count=len(instances),
        amount_minor=to_minor(amount),
        revenue_minor=revenue,
        reference=reference,
        now=now,
    )


def credit_usage(
    *,
    session: Session,
    buyer_id: str,
    usage: dict[str, tuple[int, int, SoftwarePlan]],
    now: datetime,
) -> None:
    """Hourly SOFTWARE usage was settled: per listing, (usage units, instances, plan).

    The provider's share is kept exactly (revenue_carry, in millionths of usage units) and
    credited to the fen at each settlement; fractions carry, as for the buyer's usage.
    """
    share = provider_share_micros(session)
    providers = provider_of(session=session, listing_ids=list(usage))
    for listing_id, (units, count, plan) in sorted(usage.items()):
        provider_id = providers.get(listing_id)
        if provider_id is None or units <= 0:
            continue
        provider = billing_service.lock_account(session=session, account_id=provider_id)
        assert provider is not None
        scaled = provider.revenue_carry + units * share
        fen, carry = settle_units(scaled // RATE_SCALE)
        provider.revenue_carry = carry * RATE_SCALE + scaled % RATE_SCALE
        session.add(provider)
        if fen:
            billing_service.post(
                session=session,
                account=provider,
                kind="PROVIDER_REVENUE",
                amount_minor=fen,
                now=now,
            )
        _record_sale(
            session,
            listing_id=listing_id,
            provider_id=provider_id,
            buyer_id=buyer_id,
            plan=plan,
            count=count,
            amount_minor=settle_units(units)[0],
            revenue_minor=fen,
            reference=None,
            now=now,
        )


def reverse_for_refund(
    *, session: Session, instance: Instance, refund_minor: int, now: datetime
) -> None:
    """A prepaid instance was refunded: take back its provider revenue in proportion."""
    if instance.software_revenue_minor <= 0 or instance.paid_minor <= 0 or refund_minor <= 0:
        return
    listing_id = instance.charge_listing_id
    if listing_id is None:
        return
    provider_id = provider_of(session=session, listing_ids=[listing_id]).get(listing_id)
    if provider_id is None:
        return
    reversal = proportion_minor(instance.software_revenue_minor, refund_minor, instance.paid_minor)
    if reversal <= 0:
        return
    provider = billing_service.lock_account(session=session, account_id=provider_id)
    assert provider is not None
    billing_service.post(
        session=session,
        account=provider,
        kind="PROVIDER_REVERSAL",
        amount_minor=-reversal,
        now=now,
        reference=instance.id,
    )
    instance.software_revenue_minor -= reversal
    session.add(instance)
