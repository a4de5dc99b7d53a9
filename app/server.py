"""Running the HTTP server: uvicorn with the protections a public endpoint needs, and the
start-up housekeeping the supervisor does before any worker starts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings, load_settings
from app.database import read_session
from app.storage.store import make_store
from app.workflows import objects

log = logging.getLogger("bcc_images.server")

#: partial uploads younger than this may belong to a process still starting (R128)


def set_no_delay(transport: asyncio.BaseTransport) -> None:
    """Send small responses at once (no Nagle delay) on a TCP connection."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class HardenedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with TCP_NODELAY on every accepted socket (also in the
    worker processes of ``--workers N``) and a deadline for a request's headers, so a client
    sending a byte a second cannot hold a connection forever.
    """

    header_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if HardenedHttpProtocol.header_timeout is None:
            HardenedHttpProtocol.header_timeout = load_settings().header_timeout_seconds
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accepted: no Nagle delay, and the headers must arrive in time."""
        set_no_delay(transport)
        super().connection_made(transport)
        self._arm_header_timer()

    def on_message_begin(self) -> None:
        """A request starts (also the next one on a kept-alive connection)."""
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        """The headers arrived in time."""
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the timer with the connection."""
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        timeout = HardenedHttpProtocol.header_timeout or 0
        if timeout > 0:
            self._header_timer = self.loop.call_later(timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def housekeeping(settings: Settings, engine: Any) -> None:
    """Before workers start: remove partial uploads left by a stopped process, and stored
    files no object row describes (older than ten minutes).
    """
    store = make_store(settings)
    removed = store.clean_temporary(store.temporary_grace_seconds)
    with read_session(engine) as session:
        orphans = objects.reconcile(session=session, store=store)
    if removed or orphans:
        log.info("removed %d partial uploads and %d unrecorded objects", removed, orphans)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Uvicorn's settings for a public endpoint (a reverse proxy adds its own in production)."""
    return {
        "http": HardenedHttpProtocol,
        "loop": "asyncio",
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "server_header": False,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        "log_level": settings.log_level.lower(),
    }
