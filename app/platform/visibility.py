"""Row visibility as SQL: the owner's rows, or every row for administrators.

Each entity service states its table's rule once, as ``visible_clause(viewer)``, built
from ``owned_by`` where the rule is plain ownership; every read of the table (one row, a
batch by id, a page) filters with it, so a hidden row answers exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, String, bindparam, false, true
from sqlmodel import Session, SQLModel, select

from app.ids import is_id
from app.platform.viewer import Role, Viewer

Row = TypeVar("Row", bound=SQLModel)


#: the caller's account id, as a statement parameter (``symbolic``)
ME = bindparam("me", type_=String)


def symbolic(role: str) -> Viewer | None:
    """A viewer of this role ("anonymous": none) whose account id is the ``me`` parameter, so
    visibility clauses become part of a statement built once and run for every caller of that
    role (with ``{"me": viewer.account_id}``).
    """
    if role == "anonymous":
        return None
    return Viewer(account_id=cast(str, ME), role=Role(role), token_id="")


def owned_by(viewer: Viewer | None, owner_column: Any) -> ColumnElement[bool]:
    """Rows whose ``owner_column`` is the caller's account; all rows for administrators."""
    if viewer is None:
        return false()
    if viewer.is_admin:
        return true()
    result: ColumnElement[bool] = owner_column == viewer.account_id
    return result


def _key(table: type[SQLModel]) -> Any:
    return table.__table__.c.id  # type: ignore[attr-defined]


def locked(session: Session, table: type[Row], row_id: str, prefix: str, *where: Any) -> Row | None:
    """The row with this id that meets every ``where``, locked until the transaction ends; None
    when there is none (or ``row_id`` is not an id with this prefix).
    """
    if not is_id(row_id, prefix):
        return None
    stmt = select(table).where(_key(table) == row_id, *where).with_for_update()
    return session.exec(stmt).first()


def by_ids(
    session: Session, table: type[Row], ids: Sequence[str], prefix: str | None, *where: Any
) -> list[Row]:
    """The rows among these ids that meet every ``where``, in any order (ids without the
    prefix are passed over; ``None``: ids the service made itself, taken as they are).
    """
    wanted = [i for i in ids if prefix is None or is_id(i, prefix)]
    if not wanted:
        return []
    return list(session.exec(select(table).where(_key(table).in_(wanted), *where)))
