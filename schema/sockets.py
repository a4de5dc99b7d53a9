"""The WebSockets a server process holds open, within their budgets.

A process keeps at most ``max_websockets`` sockets, and one client at most
``max_websockets_per_client``: a socket counts against its peer address until it signs in
(connection_init with a token), then against its account instead, so a whole office behind
one address can keep its consoles open while one anonymous client cannot take every socket.
Signed-in sockets are watched: once a second, one query asks which of their tokens were
revoked, and those sockets are closed (4403).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlmodel import Session

from app.accounts import service as accounts_service
from schema.slots import DatabaseSlots, SlotsExhausted

log = logging.getLogger("bcc_images.websocket")

#: how often the tokens of open signed-in sockets are checked for revocation
REVOCATION_CHECK_SECONDS = 1.0

Closer = Callable[[], Awaitable[None]]


@dataclass(eq=False)
class Seat:
    """One open socket's place in the budgets: its address, then its account once signed in."""

    address: str
    account_id: str | None = None
    token_id: str | None = None
    close: Closer | None = field(default=None, repr=False)  # closes it when its token is revoked

    @property
    def client(self) -> str:
        """Whose budget it counts against."""
        return f"account:{self.account_id}" if self.account_id else f"address:{self.address}"


class Sockets:
    """This process's open WebSockets (see the module's documentation)."""

    def __init__(self, limit: int, per_client: int) -> None:
        self.limit = limit
        self.per_client = per_client
        self._by_client: Counter[str] = Counter()
        self._seats: set[Seat] = set()
        self._watcher: asyncio.Task[None] | None = None

    def admit(self, address: str) -> Seat | None:
        """A seat for a new socket from ``address``, or None when a budget is full."""
        seat = Seat(address)
        if len(self._seats) >= self.limit or self._by_client[seat.client] >= self.per_client:
            return None
        self._seats.add(seat)
        self._by_client[seat.client] += 1
        return seat

    def sign_in(self, seat: Seat, account_id: str, token_id: str, close: Closer) -> bool:
        """Move a socket from its address's budget to its account's; False (and nothing
        moved) when the account already holds its share.
        """
        if seat.account_id == account_id:
            return True
        target = f"account:{account_id}"
        if self._by_client[target] >= self.per_client:
            return False
        self._release(seat.client)
        seat.account_id, seat.token_id, seat.close = account_id, token_id, close
        self._by_client[target] += 1
        return True

    def leave(self, seat: Seat) -> None:
        """The socket closed."""
        if seat in self._seats:
            self._seats.discard(seat)
            self._release(seat.client)

    def _release(self, client: str) -> None:
        self._by_client[client] -= 1
        if self._by_client[client] <= 0:
            del self._by_client[client]

    @property
    def open(self) -> int:
        """How many sockets are open."""
        return len(self._seats)

    # -- revoked tokens ------------------------------------------------------------------

    def watch(self, slots: DatabaseSlots, session: Callable[[], Session]) -> None:
        """Check the signed-in sockets' tokens every second while there are any."""
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(slots, session))

    async def stop(self) -> None:
        """Stop watching (the process is stopping)."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    async def _watch(self, slots: DatabaseSlots, session: Callable[[], Session]) -> None:
        while True:
            await asyncio.sleep(REVOCATION_CHECK_SECONDS)
            watched = {seat for seat in self._seats if seat.token_id is not None}
            if not watched:
                return
            try:
                async with slots.held():
                    with session() as open_session:
                        revoked = accounts_service.revoked_tokens(
                            session=open_session,
                            token_ids={s.token_id for s in watched if s.token_id},
                        )
            except SlotsExhausted:
                continue
            except Exception:
                log.warning("checking the tokens of open WebSockets failed", exc_info=True)
                continue
            for seat in watched:
                if seat.token_id in revoked and seat.close is not None:
                    closing, seat.close = seat.close, None
                    await closing()
