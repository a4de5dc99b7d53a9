"""Who is calling: the bearer token, read once per request (HTTP or WebSocket), checked
against a short-lived token cache that a revocation empties at once.

A cached token is trusted only while its account's version is the one it was checked at;
revoking a token moves that version (in the revoking transaction), so the next request
with it is checked in the database again and refused. The versions come from the versions
board, which every process empties when it hears of a commit that moved versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from app.accounts.rules import hash_token
from app.platform.board import Board
from app.platform.versions import Versions
from app.platform.viewer import Viewer
from app.workflows import tracking
from schema.http.refusals import RequestRefused
from schema.limits.memory import ByteBudgetLRU

#: what one cached token costs (its hash, the viewer's ids and role, bookkeeping)
TOKEN_ENTRY_BYTES = 400


@dataclass(frozen=True)
class Checked:
    """A token found valid, and the account version it was found valid at."""

    viewer: Viewer
    account_version: int


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header ("" when malformed)."""
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class Authenticator:
    """Bearer tokens to viewers, with a cache bounded in bytes."""

    def __init__(self, budget_bytes: int, board: Board | None = None) -> None:
        self.tokens: ByteBudgetLRU[str, Checked] = ByteBudgetLRU(budget_bytes)
        self.board = board or Board("")

    def caller(
        self, session: Session, header: str | None, now: datetime
    ) -> tuple[Viewer | None, Versions | None]:
        """The viewer an Authorization header stands for (None without one) and, for a
        viewer, the versions its cached answers must have: one query either way.

        Raises:
            RequestRefused: 401 for a malformed, unknown or revoked token.
        """
        token = bearer(header)
        if token is None:
            return None, None
        key = hash_token(token)
        known = self.tokens.get(key)
        if known is not None:
            account_id = known.viewer.account_id
            current = self.board.versions(
                account_id,
                now,
                lambda: tracking.read(session=session, account_id=account_id, now=now),
            )
            if current.account == known.account_version:
                return known.viewer, current
        generation = self.board.generation()
        found = tracking.signed_in(session=session, token=token, now=now) if token else None
        if found is None:
            self.tokens.discard(key)
            raise RequestRefused(
                401,
                "UNAUTHENTICATED",
                "Invalid, revoked or malformed bearer token.",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        viewer, current = found
        self.tokens.put(key, Checked(viewer, current.account), TOKEN_ENTRY_BYTES)
        self.board.keep(viewer.account_id, current, generation)
        return viewer, current
