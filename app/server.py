"""Running the HTTP server: uvicorn with the protections a public endpoint needs, and the
start-up housekeeping the supervisor does before any worker starts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import Counter
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings, load_settings
from app.database import read_session
from app.observability import count_error
from app.storage.configured import make_store
from app.workflows import objects

log = logging.getLogger("bcc_images.server")

#: partial uploads younger than this may belong to a process still starting (R128)


def set_no_delay(transport: asyncio.BaseTransport) -> None:
    """Send small responses at once (no Nagle delay) on a TCP connection."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


#: what a refusal written by the HTTP protocol itself says, as GraphQL JSON with a code
_REASONS = {
    400: b"Bad Request",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def error_body(code: str, message: str) -> bytes:
    """A GraphQL response holding one request error with a code."""
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


def refusal_bytes(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response refusing a request, with a GraphQL JSON body and a code; the
    connection is closed after it.
    """
    body = error_body(code, message)
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
    )


def is_trusted(address: str, proxies: tuple[str, ...]) -> bool:
    """Whether a peer is one of the trusted proxies (addresses or networks, "*" for any),
    whose connections carry many clients' requests and have no per-client share.
    """
    for proxy in proxies:
        if proxy == "*":
            return True
        try:
            if ipaddress.ip_address(address) in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:
            if address == proxy:
                return True
    return False


class HeadersTooLarge(Exception):
    """A request's headers passed the limit (raised inside the parser to stop it)."""


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    """The answer while the process holds as many HTTP connections as it may."""
    count_error("SERVICE_UNAVAILABLE")
    headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    body = error_body("SERVICE_UNAVAILABLE", "The server is busy; try again shortly.")
    await send({"type": "http.response.body", "body": body})


class HardenedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), hardened for a public endpoint.

    - TCP_NODELAY on every accepted socket (also in the worker processes of ``--workers N``);
    - a deadline for a request's headers, so a client sending a byte a second cannot hold a
      connection forever;
    - request headers (request line included) over ``max_header_bytes`` in all answered 431,
      counted while they arrive, so a huge header is never buffered (h11's limit does nothing
      under httptools);
    - at most ``max_connections`` HTTP connections per process, WebSockets not counted (they
      have budgets of their own), so idle sockets cannot make HTTP answer 503, and at most
      ``max_connections_per_client`` from one address (trusted proxies excepted), so one
      client cannot take them all;
    - every refusal it writes (malformed HTTP, headers too large, too many connections) is
      GraphQL JSON with a code.
    """

    header_timeout: float | None = None
    max_header_bytes: int = 16 * 1024
    max_connections: int = 1000
    max_connections_per_client: int = 100
    trusted_proxies: tuple[str, ...] = ()
    #: the HTTP connections of this process and their peers' addresses (a WebSocket leaves
    #: when it upgrades), and how many each address holds
    http_connections: ClassVar[dict[HttpToolsProtocol, str]] = {}
    per_address: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if HardenedHttpProtocol.header_timeout is None:
            settings = load_settings()
            HardenedHttpProtocol.header_timeout = settings.header_timeout_seconds
            HardenedHttpProtocol.max_header_bytes = settings.max_header_bytes
            HardenedHttpProtocol.max_connections = settings.max_connections
            HardenedHttpProtocol.max_connections_per_client = settings.max_connections_per_client
            HardenedHttpProtocol.trusted_proxies = settings.trusted_proxies
        self._header_timer: asyncio.TimerHandle | None = None
        self._reading_headers = True
        self._header_bytes = 0  # counted from the parser's callbacks: the exact size
        self._pending_bytes = 0  # fed while the headers were incomplete: an upper bound
        self._headers_refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accepted: no Nagle delay, the headers must arrive in time, and a client already
        holding its share of connections is answered 503 at once.
        """
        set_no_delay(transport)
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        per_address = HardenedHttpProtocol.per_address
        if per_address[address] >= self.max_connections_per_client and not is_trusted(
            address, HardenedHttpProtocol.trusted_proxies
        ):
            self._refuse(
                503,
                "TOO_MANY_CONNECTIONS",
                "This client holds too many connections; reuse or close one.",
            )
            return
        HardenedHttpProtocol.http_connections[self] = address
        per_address[address] += 1
        self._arm_header_timer()

    def _leave(self) -> None:
        """This connection no longer counts (closed, or now a WebSocket)."""
        address = HardenedHttpProtocol.http_connections.pop(self, None)
        if address is not None:
            per_address = HardenedHttpProtocol.per_address
            per_address[address] -= 1
            if per_address[address] <= 0:
                del per_address[address]

    def data_received(self, data: bytes) -> None:
        """Feed the parser, refusing headers that pass the limit while they arrive."""
        self._unset_keepalive_if_required()
        reading = self._reading_headers
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._headers_refused:
                self._refuse_headers()
            else:
                self.logger.warning("Invalid HTTP request received.")
                self._refuse(400, "BAD_REQUEST", "Invalid HTTP request received.")
            return
        if self._reading_headers and not self.transport.is_closing():
            # a chunk that started a new request mid-way may hold the last request's body too
            self._pending_bytes = self._pending_bytes + len(data) if reading else 0
            if self._pending_bytes > self.max_header_bytes:
                self._refuse_headers()

    def handle_websocket_upgrade(self) -> None:
        """A WebSocket leaves the HTTP connections (its budgets are the GraphQL view's)."""
        self._leave()
        self._disarm_header_timer()
        super().handle_websocket_upgrade()

    def on_message_begin(self) -> None:
        """A request starts (also the next one on a kept-alive connection)."""
        super().on_message_begin()
        self._reading_headers = True
        self._header_bytes = len(b"POST  HTTP/1.1\r\n")  # the request line around its URL
        self._arm_header_timer()

    def on_url(self, url: bytes) -> None:
        """Count the request line."""
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count each header."""
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            self._headers_refused = True
            raise HeadersTooLarge()

    def on_headers_complete(self) -> None:
        """The headers arrived in time and within the limit; serve the request, unless the
        process already holds as many HTTP connections as it may.
        """
        self._disarm_header_timer()
        self._reading_headers = False
        self._pending_bytes = 0
        upgrade = self.parser.should_upgrade() and self._should_upgrade()
        if upgrade or len(HardenedHttpProtocol.http_connections) <= self.max_connections:
            super().on_headers_complete()
            return
        self.logger.warning("Exceeded the HTTP connection limit.")
        serving, self.app = self.app, _busy
        try:
            super().on_headers_complete()
        finally:
            self.app = serving

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the timer and the connection."""
        self._leave()
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _refuse_headers(self) -> None:
        self._refuse(
            431,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            f"The request's headers are over {self.max_header_bytes} bytes in all.",
        )

    def _refuse(self, status: int, code: str, message: str) -> None:
        count_error(code)
        self._disarm_header_timer()
        if not self.transport.is_closing():
            self.transport.write(refusal_bytes(status, code, message))
            self.transport.close()

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
        # HTTP connections are capped by HardenedHttpProtocol, WebSockets by the GraphQL view
        "limit_concurrency": None,
        "ws_max_size": settings.max_body_bytes,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "server_header": False,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        "log_level": settings.log_level.lower(),
    }
