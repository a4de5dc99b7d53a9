"""Row visibility as SQL: the owner's rows, or every row for administrators.

Each entity service states its table's rule once, as ``visible_clause(viewer)``, built
from ``owned_by`` where the rule is plain ownership; every read of the table (one row, a
batch by id, a page) filters with it, so a hidden row answers exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, true

from app.accounts.rules import Viewer


def owned_by(viewer: Viewer | None, owner_column: Any) -> ColumnElement[bool]:
    """Rows whose ``owner_column`` is the caller's account; all rows for administrators."""
    if viewer is None:
        return false()
    if viewer.is_admin:
        return true()
    result: ColumnElement[bool] = owner_column == viewer.account_id
    return result
