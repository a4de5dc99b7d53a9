"""Accounts' pure rules: tokens and names (who is calling is app.platform.viewer)."""

from __future__ import annotations

import hashlib
import re

TOKEN_PREFIX = "bcci_"
_ACCOUNT_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,65}$")


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def account_name_problem(name: str) -> str | None:
    """Explain why an account name is unacceptable, or return None."""
    if name != name.strip():
        return "Account names may not start or end with spaces."
    if not _ACCOUNT_NAME.match(name):
        return "Account names are 1 to 65 printable characters."
    return None
