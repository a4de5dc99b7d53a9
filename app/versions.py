"""What cached answers are checked against: the catalogue version (what everyone sees) and
one version per account (what that account sees), moved in the same transaction as the
change.

Every write of the service goes through a Session; after each flush the accounts whose view
changed are noted (the owner, account, provider or buyer a row names; the recipients of a
shared image that changed), and just before the commit their versions move by one. A move
of the simulated clock changes what everyone sees, so it moves the catalogue version. A
cached answer computed at the versions a request reads now is still right; any other is
not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, event, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.accounts.rules import Viewer
from app.catalogue import CatalogueVersion, bump
from app.database import UTCDateTime
from app.images.models import Image, ImageShare
from app.operations.models import ClockState

#: the attributes that name the account a row belongs to (or is shown to)
OWNER_ATTRIBUTES = ("owner_id", "account_id", "provider_id", "buyer_id")
TOUCHED = "versions.touched_accounts"
IMAGES = "versions.touched_images"
EVERYONE = "versions.touched_everyone"


class AccountVersion(SQLModel, table=True):
    """How many committed changes have touched what one account sees."""

    __tablename__ = "account_version"

    account_id: str = Field(primary_key=True, max_length=16)
    version: int = Field(default=0)


@dataclass(frozen=True)
class Versions:
    """The versions a cached answer for one caller must have been computed at."""

    catalogue: int
    account: int
    #: the simulated clock's shared offset in seconds, read in the same statement
    clock_offset: float = 0.0
    #: when the next scheduled deprecation takes effect (epoch seconds; 0: none scheduled):
    #: an answer computed before it is not valid after it, though nothing was written
    transition: int = 0


def _catalogue() -> Any:
    return func.coalesce(
        select(col(CatalogueVersion.version))
        .where(col(CatalogueVersion.id) == 1)
        .scalar_subquery(),
        0,
    )


def _account(account_id: Any) -> Any:
    return func.coalesce(
        select(col(AccountVersion.version))
        .where(col(AccountVersion.account_id) == account_id)
        .scalar_subquery(),
        0,
    )


def _clock_offset() -> Any:
    return func.coalesce(
        select(col(ClockState.offset_seconds)).where(col(ClockState.id) == 1).scalar_subquery(),
        0.0,
    )


def _next_transition() -> Any:
    """The earliest deprecateAt still ahead of ``now`` (a parameter): one index probe."""
    return (
        select(func.min(col(Image.deprecate_at)))
        .where(col(Image.deprecate_at) > bindparam("now", type_=UTCDateTime))
        .scalar_subquery()
    )


#: both versions, the clock and the next transition in one statement, built once
_READ = select(
    _catalogue(),
    _account(bindparam("account_id", type_=String)),
    _clock_offset(),
    _next_transition(),
)


def _versions(catalogue: Any, account: Any, offset: Any, transition: Any) -> Versions:
    return Versions(
        int(catalogue),
        int(account),
        float(offset),
        int(transition.timestamp()) if transition is not None else 0,
    )


def read(*, session: Session, account_id: str | None, now: datetime) -> Versions:
    """The catalogue's version, (for a signed-in caller) the account's and the simulated
    clock's offset, in one query.
    """
    row = session.connection().execute(_READ, {"account_id": account_id or "", "now": now}).one()
    return _versions(*row)


def signed_in(*, session: Session, token: str, now: datetime) -> tuple[Viewer, Versions] | None:
    """The viewer a bearer token stands for and the versions of what it sees, read in one
    statement (so a revocation is never seen half), or None for an unknown or revoked token.
    """
    statement = accounts_service.token_statement(token)
    if statement is None:
        return None
    columns = (_catalogue(), _account(col(Account.id)), _clock_offset(), _next_transition())
    row = session.connection().execute(statement.add_columns(*columns), {"now": now}).first()
    if row is None:
        return None
    return accounts_service.viewer_of(row), _versions(*row[3:7])


def _note_flush(session: Session, _context: Any) -> None:
    touched: set[str] = session.info.setdefault(TOUCHED, set())
    images: set[str] = session.info.setdefault(IMAGES, set())
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, AccountVersion | CatalogueVersion):
            continue
        if isinstance(row, ClockState):
            session.info[EVERYONE] = True
        if isinstance(row, Image):
            images.add(row.id)
        if isinstance(row, ImageShare):
            images.add(row.image_id)
        if isinstance(row, Account):
            touched.add(row.id)
        for name in OWNER_ATTRIBUTES:
            value = getattr(row, name, None)
            if isinstance(value, str):
                touched.add(value)


def _bump_before_commit(session: Session) -> None:
    session.flush()  # the final flush of the commit comes after this hook: note it now
    touched: set[str] = session.info.pop(TOUCHED, set())
    images: set[str] = session.info.pop(IMAGES, set())
    everyone = session.info.pop(EVERYONE, False)
    connection = session.connection()
    if images:
        recipients = select(col(ImageShare.account_id)).where(col(ImageShare.image_id).in_(images))
        owners = select(col(Image.owner_id)).where(col(Image.id).in_(images))
        touched |= set(connection.execute(recipients).scalars())
        touched |= set(connection.execute(owners).scalars())
    if everyone:
        bump(session=session)
    if touched:
        _move(connection, sorted(touched))


def _move(connection: Any, account_ids: list[str]) -> None:
    """Add one to each account's version (rows made on first use), in id order."""
    rows = [{"account_id": account_id, "version": 1} for account_id in account_ids]
    table = AccountVersion.__table__  # type: ignore[attr-defined]
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(rows)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["account_id"],
            set_={"version": table.c.version + literal_column("1")},
        )
    )


def _forget(session: Session, *_: Any) -> None:
    for key in (TOUCHED, IMAGES, EVERYONE):
        session.info.pop(key, None)


event.listen(Session, "after_flush", _note_flush)
event.listen(Session, "before_commit", _bump_before_commit)
event.listen(Session, "after_rollback", _forget)
