"""The ledger: every balance movement, appended once; the balance is their sum."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.models import Account
from app.billing.models import LedgerEntry, PriceSetting
from app.errors import DomainError, ErrorCode
from app.ids import is_id, new_id
from app.money import round_fen, to_minor
from app.pagination import Ordering, Page, PageRequest, paginate

TOP_UP = "TOP_UP"


def lock_account(*, session: Session, account_id: str) -> Account | None:
    """Load an account with a row lock (PostgreSQL; SQLite serializes writers at BEGIN)."""
    stmt = select(Account).where(Account.id == account_id).with_for_update()
    return session.exec(stmt).first()


def post(
    *,
    session: Session,
    account: Account,
    kind: str,
    amount_minor: int,
    now: datetime,
    reference: str | None = None,
) -> LedgerEntry:
    """Append one ledger entry (positive credits, negative debits) and move the balance with it.

    The caller holds the account row (``lock_account``) inside the current transaction.
    """
    account.balance_minor += amount_minor
    entry = LedgerEntry(
        id=new_id("txn"),
        account_id=account.id,
        kind=kind,
        amount_minor=amount_minor,
        balance_after_minor=account.balance_minor,
        reference=reference,
        created_at=now,
    )
    session.add(account)
    session.add(entry)
    session.flush()
    return entry


def ledger_sum(*, session: Session, account_id: str) -> int:
    """Return the sum of an account's ledger in fen (equals its balance, R74)."""
    stmt = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.account_id == account_id
    )
    return int(session.exec(stmt).one())


def list_entries(*, session: Session, account_ids: Sequence[str]) -> list[LedgerEntry]:
    """Return the ledger entries of these accounts, oldest first."""
    stmt = (
        select(LedgerEntry)
        .where(col(LedgerEntry.account_id).in_(account_ids))
        .order_by(col(LedgerEntry.created_at), col(LedgerEntry.id))
    )
    return list(session.exec(stmt))


def get_price_setting(*, session: Session, name: str) -> str | None:
    """Return a price-book setting such as ``marketplaceCommission``."""
    row = session.get(PriceSetting, name)
    return row.value if row else None


def list_transactions(*, session: Session, account_id: str, page: PageRequest) -> Page[LedgerEntry]:
    """Return one keyset page of an account's ledger, newest first."""
    stmt = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    ordering = Ordering("CREATED_AT", LedgerEntry.created_at, True, LedgerEntry.id)
    return paginate(session, stmt, ordering, page, lambda e: e.created_at)


MAX_TOP_UP = Decimal("10000000.00")


def top_up(
    *, session: Session, account_id: str, amount: Decimal, now: datetime
) -> tuple[Account, LedgerEntry]:
    """Credit an account (admin action, R82) and record it as TOP_UP.

    Raises:
        DomainError: INVALID_ACCOUNT for an unknown account, INVALID_INPUT for a bad amount.
    """
    if not amount.is_finite() or amount != round_fen(amount) or not 0 < amount <= MAX_TOP_UP:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"A top-up is a positive amount of at most {MAX_TOP_UP} CNY with at most 2 decimals.",
            ("input", "amount"),
        )
    account = (
        lock_account(session=session, account_id=account_id) if is_id(account_id, "acc") else None
    )
    if account is None:
        raise DomainError(
            ErrorCode.INVALID_ACCOUNT,
            f"There is no account {account_id!r}.",
            ("input", "accountId"),
        )
    entry = post(
        session=session, account=account, kind=TOP_UP, amount_minor=to_minor(amount), now=now
    )
    return account, entry
