"""Request slots: the pooled database connections a server process lends to its clients.

Every piece of work that uses a database connection on the event loop — an HTTP request
(its token check, then its execution), a query sent over a WebSocket, one event of a
subscription — first takes a slot, and gives it back with its connection. There are as many
slots as the pool has connections, less those kept for the operation worker and the event
listener, so a holder of a slot never waits for a connection: the driver's wait for a free
connection (which would block the whole event loop) never happens. Work that finds every
slot taken waits here, without blocking anything, and is answered SERVICE_UNAVAILABLE if no
slot frees up in time. Nothing holds a slot while a client is sending or reading: bodies are
read before a slot is taken and a subscription gives its slot back before its event is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.database import UNAVAILABLE as DATABASE_UNAVAILABLE

#: pooled connections kept for the operation worker and the event listener of a process
RESERVED_CONNECTIONS = 2


class SlotsExhausted(Exception):
    """No request slot became free in time."""


#: what tells that the database cannot serve now (unreachable, a connection cut, every
#: connection busy): answered SERVICE_UNAVAILABLE with Retry-After, never as an internal error
UNAVAILABLE: tuple[type[Exception], ...] = (SlotsExhausted, *DATABASE_UNAVAILABLE)
UNAVAILABLE_MESSAGE = "The service cannot reach its database right now; try again shortly."
#: what Retry-After says when the database cannot serve
RETRY_AFTER_SECONDS = 1


class DatabaseSlots:
    """A process's request slots (see the module's documentation)."""

    def __init__(self, pool_connections: int, wait_seconds: float) -> None:
        self.size = max(1, pool_connections - RESERVED_CONNECTIONS)
        self.wait_seconds = wait_seconds
        self._free = asyncio.Semaphore(self.size)

    async def acquire(self) -> None:
        """Take a slot, waiting at most ``wait_seconds``.

        Raises:
            SlotsExhausted: every slot stayed taken.
        """
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._free.acquire()
        except TimeoutError as exc:
            raise SlotsExhausted() from exc

    def release(self) -> None:
        """Give a slot back."""
        self._free.release()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold a slot for the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    @property
    def in_use(self) -> int:
        """How many slots are taken now."""
        return self.size - self._free._value
