"""Accounts and API tokens: creation, authentication, revocation."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from app.accounts.models import Account, ApiToken
from app.accounts.permissions import require_admin
from app.accounts.rules import TOKEN_PREFIX, account_name_problem, hash_token
from app.database import saved
from app.errors import DomainError, ErrorCode, not_found
from app.ids import is_id, new_id
from app.platform.viewer import Role, Viewer


def get(*, session: Session, account_id: str) -> Account | None:
    """Return the account with this id, or None."""
    if not is_id(account_id, "acc"):
        return None
    return session.get(Account, account_id)


def list_by_ids(*, session: Session, account_ids: Sequence[str]) -> list[Account]:
    """Return the accounts with these ids (any order; unknown ids are skipped)."""
    if not account_ids:
        return []
    return list(session.exec(select(Account).where(col(Account.id).in_(account_ids))))


def get_by_seed_key(*, session: Session, seed_key: str) -> Account | None:
    """Return the platform-owned account created from seed data under this key."""
    return session.exec(select(Account).where(Account.seed_key == seed_key)).first()


def create(
    *,
    session: Session,
    viewer: Viewer,
    name: str,
    role: Role,
    now: datetime,
    seed_key: str | None = None,
) -> Account:
    """Create an account with a zero balance (administrators only).

    Raises:
        DomainError: PERMISSION_DENIED, INVALID_NAME when the name is unacceptable.
    """
    require_admin(viewer)
    problem = account_name_problem(name)
    if problem is not None:
        raise DomainError(ErrorCode.INVALID_NAME, problem, ("input", "name"))
    account = Account(
        id=new_id("acc"), name=name, role=role.value, seed_key=seed_key, created_at=now
    )
    return saved(session, account)


def create_token(
    *, session: Session, viewer: Viewer, account_id: str, now: datetime
) -> tuple[ApiToken, str]:
    """Create a bearer token for an account (administrators only); the plaintext is returned
    once and never stored.

    Raises:
        DomainError: PERMISSION_DENIED, INVALID_ACCOUNT when the account does not exist.
    """
    require_admin(viewer)
    if get(session=session, account_id=account_id) is None:
        raise not_found(ErrorCode.INVALID_ACCOUNT, "account", account_id, "accountId")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=new_id("tok"), account_id=account_id, token_hash=hash_token(plaintext), created_at=now
    )
    session.add(token)
    session.flush()
    return token, plaintext


def revoke_token(
    *, session: Session, viewer: Viewer | None, token_id: str, now: datetime
) -> ApiToken:
    """Revoke a token: admins any token, other accounts their own. Revoking twice is a no-op.

    Raises:
        DomainError: TOKEN_NOT_FOUND when the token does not exist or is not the caller's.
    """
    token = session.get(ApiToken, token_id) if is_id(token_id, "tok") else None
    if (
        token is None
        or viewer is None
        or not (viewer.is_admin or token.account_id == viewer.account_id)
    ):
        raise not_found(ErrorCode.TOKEN_NOT_FOUND, "token", token_id, "tokenId")
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
        session.flush()
    return token


def token_statement(token: str) -> Select[str, str, str] | None:
    """The query for the (token id, account id, role) a live bearer token stands for; None
    for a string that cannot be a token.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return (
        select(col(ApiToken.id), col(Account.id), col(Account.role))
        .join(Account, col(Account.id) == col(ApiToken.account_id))
        .where(ApiToken.token_hash == hash_token(token), col(ApiToken.revoked_at).is_(None))
    )


def viewer_of(row: Sequence[Any]) -> Viewer:
    """The viewer a row of ``token_statement`` describes."""
    return Viewer(account_id=row[1], role=Role(row[2]), token_id=row[0])


def authenticate(*, session: Session, token: str) -> Viewer | None:
    """Return the viewer a bearer token stands for, or None if it is unknown or revoked."""
    statement = token_statement(token)
    row = session.exec(statement).first() if statement is not None else None
    return viewer_of(row) if row is not None else None


def set_image_quota(
    *, session: Session, viewer: Viewer, account_id: str, quota: int | None
) -> Account:
    """Override an account's custom-image quota per region (None: back to the default;
    administrators only).

    Raises:
        DomainError: PERMISSION_DENIED, INVALID_ACCOUNT, INVALID_INPUT (negative or absurd).
    """
    require_admin(viewer)
    account = get(session=session, account_id=account_id)
    if account is None:
        raise not_found(ErrorCode.INVALID_ACCOUNT, "account", account_id, "accountId")
    if quota is not None and not 0 <= quota <= 10_000:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "customImagesPerRegion is 0 to 10000.",
            ("input", "customImagesPerRegion"),
        )
    account.custom_image_quota = quota
    return saved(session, account)


def image_quota(*, session: Session, account_id: str, default: int) -> int:
    """The custom-image quota per region that applies to an account (R8)."""
    account = get(session=session, account_id=account_id)
    if account is None or account.custom_image_quota is None:
        return default
    return account.custom_image_quota


#: where a session keeps the accounts its current transaction has locked
_LOCKED = "accounts.locked"


def _held(session: Session) -> set[str]:
    """The ids of the accounts this session's current transaction holds locked."""
    transaction = session.get_transaction()
    held = session.info.get(_LOCKED)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKED] = (transaction, set())
    ids: set[str] = held[1]
    return ids


def lock_account(*, session: Session, account_id: str) -> Account | None:
    """Load an account with a row lock (PostgreSQL; SQLite serializes writers at BEGIN).

    Every transaction that moves money locks the account before the rows that depend on it
    (instances, orders), so two transactions never wait on each other in opposite orders.
    The lock is FOR NO KEY UPDATE: rows that merely reference the account (a new idempotency
    record, an order) can still be inserted by others meanwhile. An account the transaction
    already holds is not locked again.
    """
    return lock_accounts(session=session, account_ids={account_id}).get(account_id)


def lock_accounts(*, session: Session, account_ids: set[str]) -> dict[str, Account]:
    """Lock several accounts at once, in id order (see lock_account)."""
    held = _held(session)
    found = {i: a for i in account_ids & held if (a := session.get(Account, i)) is not None}
    wanted = sorted(account_ids - held)
    if wanted:
        stmt = (
            select(Account)
            .where(col(Account.id).in_(wanted))
            .order_by(col(Account.id))
            .with_for_update(key_share=True)
        )
        for account in session.exec(stmt):
            found[account.id] = account
            held.add(account.id)
    return found


def revoked_tokens(*, session: Session, token_ids: Collection[str]) -> set[str]:
    """Which of these tokens no longer stand for anyone (revoked, or gone)."""
    if not token_ids:
        return set()
    live = session.exec(
        select(col(ApiToken.id)).where(
            col(ApiToken.id).in_(sorted(token_ids)), col(ApiToken.revoked_at).is_(None)
        )
    ).all()
    return set(token_ids) - set(live)
