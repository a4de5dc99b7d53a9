"""What cached answers are checked against: the catalogue version (what everyone sees) and
one version per account (what that account sees), moved in the same transaction as the
change.

Every write of the service goes through a Session; after each flush the accounts whose view
changed are noted (the owner, account, provider or buyer a row names; the accounts that see
a shared thing that changed), and just before the commit their versions move by one. A move
of the simulated clock changes what everyone sees, so it moves the catalogue version. A
cached answer computed at the versions a request reads now is still right; any other is
not used. What a changed row means for whom is told by ``install`` (the rows' own modules
sit above this one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col

from app.platform import events
from app.platform.catalogue_version import CatalogueVersion, bump
from app.platform.schedule import ClockState

#: the attributes that name the account a row belongs to (or is shown to)
OWNER_ATTRIBUTES = ("owner_id", "account_id", "provider_id", "buyer_id")
TOUCHED = "versions.touched_accounts"
SHARED = "versions.touched_shared"
EVERYONE = "versions.touched_everyone"
MOVED = "versions.moved"


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


@dataclass(frozen=True)
class Watch:
    """What a changed row means for whom, as the modules that own the rows tell it."""

    #: accounts a changed row names beyond its owner attributes (an account row: itself)
    accounts: Callable[[object], Iterable[str]]
    #: ids of things seen by more accounts than their owner (an image shared) a row changes
    shared: Callable[[object], Iterable[str]]
    #: the accounts that see those things, read at commit time
    audience: Callable[[Connection, set[str]], Iterable[str]]


_watch: Watch | None = None


def catalogue_column() -> Any:
    """The catalogue's version, as a column of a statement (0 before the first change)."""
    return func.coalesce(
        select(col(CatalogueVersion.version))
        .where(col(CatalogueVersion.id) == 1)
        .scalar_subquery(),
        0,
    )


def account_column(account_id: Any) -> Any:
    """An account's version, as a column of a statement (0 before the first change)."""
    return func.coalesce(
        select(col(AccountVersion.version))
        .where(col(AccountVersion.account_id) == account_id)
        .scalar_subquery(),
        0,
    )


def clock_offset_column() -> Any:
    """The simulated clock's shared offset, as a column of a statement."""
    return func.coalesce(
        select(col(ClockState.offset_seconds)).where(col(ClockState.id) == 1).scalar_subquery(),
        0.0,
    )


def of_row(catalogue: Any, account: Any, offset: Any, transition: Any) -> Versions:
    """The versions a row of (catalogue, account, clock offset, next transition) holds."""
    return Versions(
        int(catalogue),
        int(account),
        float(offset),
        int(transition.timestamp()) if transition is not None else 0,
    )


def _note_flush(session: Session, _context: Any) -> None:
    if _watch is None:
        return
    touched: set[str] = session.info.setdefault(TOUCHED, set())
    shared: set[str] = session.info.setdefault(SHARED, set())
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, AccountVersion | CatalogueVersion):
            session.info[MOVED] = True  # moved directly (e.g. the catalogue's)
            continue
        if isinstance(row, ClockState):
            session.info[EVERYONE] = True
        shared.update(_watch.shared(row))
        touched.update(_watch.accounts(row))
        for name in OWNER_ATTRIBUTES:
            value = getattr(row, name, None)
            if isinstance(value, str):
                touched.add(value)


def _bump_before_commit(session: Session) -> None:
    session.flush()  # the final flush of the commit comes after this hook: note it now
    touched: set[str] = session.info.pop(TOUCHED, set())
    shared: set[str] = session.info.pop(SHARED, set())
    everyone = session.info.pop(EVERYONE, False)
    connection = session.connection()
    if shared and _watch is not None:
        touched |= set(_watch.audience(connection, shared))
    if everyone:
        bump(session=session)
    if touched:
        _move(connection, sorted(touched))
    if touched or everyone or session.info.pop(MOVED, False):
        events.publish(session, events.ANYTHING)  # every process's versions board forgets


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
    for key in (TOUCHED, SHARED, EVERYONE, MOVED):
        session.info.pop(key, None)


def install(watch: Watch) -> None:
    """Move the versions on every commit of every session (once per process: later calls
    change nothing).
    """
    global _watch
    if _watch is not None:
        return
    _watch = watch
    event.listen(Session, "after_flush", _note_flush)
    event.listen(Session, "before_commit", _bump_before_commit)
    event.listen(Session, "after_rollback", _forget)
