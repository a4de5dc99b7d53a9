"""Who is calling: an account, its role and the token it used (pure)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.Enum):
    """An account's role (SPEC §1)."""

    CUSTOMER = "CUSTOMER"
    PROVIDER = "PROVIDER"
    ADMIN = "ADMIN"


@dataclass(frozen=True)
class Viewer:
    """An authenticated caller: the account and the token it used."""

    account_id: str
    role: Role
    token_id: str

    @property
    def is_admin(self) -> bool:
        """Admins see and manage everything (R5, R82)."""
        return self.role is Role.ADMIN
