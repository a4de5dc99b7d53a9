"""The gates declared next to the fields they guard (Strawberry permission classes).

``SignedIn``: the field needs a bearer token (anonymous callers get UNAUTHENTICATED).
``OwnerOnly``: a private field of something the caller may see; only its owner and
administrators read it, others get FORBIDDEN (the same rule the services apply,
``app.accounts.permissions.may_see_private``). Admin-only mutations are refused by the
services themselves, as a PERMISSION_DENIED userError.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.accounts.permissions import may_see_private
from app.errors import Forbidden, Unauthenticated


class SignedIn(BasePermission):
    """Only for callers with a valid bearer token."""

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        """Whether the request carries a viewer."""
        return info.context.viewer is not None

    def on_unauthorized(self) -> None:
        """UNAUTHENTICATED, as every anonymous call of a private field."""
        raise Unauthenticated()


class OwnerOnly(BasePermission):
    """Only the owner of the parent object (its ``owner_id``) and administrators."""

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        """Whether the caller owns the parent or administers the service."""
        return may_see_private(info.context.viewer, source.owner_id)

    def on_unauthorized(self) -> None:
        """FORBIDDEN, with the field answering null."""
        raise Forbidden("Only the owner and administrators may see this.")
