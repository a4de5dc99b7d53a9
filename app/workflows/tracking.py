"""What a change means for caches and subscriptions, across entities: which accounts' cached
answers a changed row makes stale (its owner, the recipients of a shared image), which
subscriptions it wakes (an image's, an operation's), and the versions a request reads — with
the next scheduled deprecation and, for a token, the caller it stands for, in one statement.

``install`` puts these on every database session; the composition roots call it once (the
server, the command line, the seed loader), never an import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, select
from sqlmodel import Session, col

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.database import UTCDateTime
from app.images.models import Image, ImageShare
from app.operations.models import Operation
from app.platform import events, versions
from app.platform.versions import Versions
from app.platform.viewer import Viewer
from app.tags.models import Tag


def _next_transition() -> Any:
    """The earliest deprecateAt still ahead of ``now`` (a parameter): one index probe."""
    return (
        select(func.min(col(Image.deprecate_at)))
        .where(col(Image.deprecate_at) > bindparam("now", type_=UTCDateTime))
        .scalar_subquery()
    )


#: both versions, the clock and the next transition in one statement, built once
_READ = select(
    versions.catalogue_column(),
    versions.account_column(bindparam("account_id", type_=String)),
    versions.clock_offset_column(),
    _next_transition(),
)


def read(*, session: Session, account_id: str | None, now: datetime) -> Versions:
    """The catalogue's version, (for a signed-in caller) the account's, the simulated clock's
    offset and the next scheduled deprecation, in one query.
    """
    row = session.connection().execute(_READ, {"account_id": account_id or "", "now": now}).one()
    return versions.of_row(*row)


def signed_in(*, session: Session, token: str, now: datetime) -> tuple[Viewer, Versions] | None:
    """The viewer a bearer token stands for and the versions of what it sees, read in one
    statement (so a revocation is never seen half), or None for an unknown or revoked token.
    """
    statement = accounts_service.token_statement(token)
    if statement is None:
        return None
    columns = (
        versions.catalogue_column(),
        versions.account_column(col(Account.id)),
        versions.clock_offset_column(),
        _next_transition(),
    )
    row = session.connection().execute(statement.add_columns(*columns), {"now": now}).first()
    if row is None:
        return None
    return accounts_service.viewer_of(row), versions.of_row(*row[3:7])


def _accounts(row: object) -> Iterable[str]:
    return (row.id,) if isinstance(row, Account) else ()


def _shared(row: object) -> Iterable[str]:
    if isinstance(row, Image):
        return (row.id,)
    if isinstance(row, ImageShare):
        return (row.image_id,)
    return ()


def _audience(connection: Connection, image_ids: set[str]) -> Iterable[str]:
    """The recipients and the owners of these images."""
    recipients = select(col(ImageShare.account_id)).where(col(ImageShare.image_id).in_(image_ids))
    owners = select(col(Image.owner_id)).where(col(Image.id).in_(image_ids))
    return {*connection.execute(recipients).scalars(), *connection.execute(owners).scalars()}


def _event_keys(row: object) -> Iterator[str]:
    """The subscriptions a changed row wakes: its image's or its operation's."""
    if isinstance(row, Image):
        yield f"image:{row.id}"
    elif isinstance(row, Operation):
        yield f"operation:{row.id}"
    elif isinstance(row, Tag) and row.resource_id.startswith("m-"):
        yield f"image:{row.resource_id}"


def install() -> None:
    """Put the version keeping and the change events on every database session (once)."""
    versions.install(versions.Watch(accounts=_accounts, shared=_shared, audience=_audience))
    events.install(_event_keys)
