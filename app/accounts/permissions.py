"""Who may do what: the one vocabulary every service uses for writes and private reads.

Pure functions of the caller (a Viewer) and, where it matters, the owner of what is acted
on. A refused write is a DomainError (a userError of the mutation); a private field the
caller may not see is refused at the GraphQL edge with the same predicate.
"""

from __future__ import annotations

from app.errors import DomainError, ErrorCode
from app.platform.viewer import Role, Viewer


def may_see_private(viewer: Viewer | None, owner_id: str) -> bool:
    """The owner of something and administrators see its private parts; no one else does."""
    return viewer is not None and (viewer.is_admin or viewer.account_id == owner_id)


#: the operator at the command line and the seed loader: trusted like an administrator
OPERATOR = Viewer(account_id="operator", role=Role.ADMIN, token_id="operator")


def require_admin(viewer: Viewer | None, action: str = "do this") -> Viewer:
    """The caller, if it is an administrator.

    Raises:
        DomainError: PERMISSION_DENIED otherwise.
    """
    if viewer is None or not viewer.is_admin:
        raise DomainError(ErrorCode.PERMISSION_DENIED, f"Only an administrator may {action}.")
    return viewer


def require_provider(viewer: Viewer) -> Viewer:
    """The caller, if it is a provider account (the only ones that manage listings).

    Raises:
        DomainError: NOT_A_PROVIDER otherwise.
    """
    if viewer.role is not Role.PROVIDER:
        raise DomainError(ErrorCode.NOT_A_PROVIDER, "Only provider accounts can manage listings.")
    return viewer
