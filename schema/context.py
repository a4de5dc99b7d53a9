"""The per-request context: settings, viewer, one lazily opened read session, loaders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TypeVar

import strawberry
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.clock import Clock
from app.config import Settings
from app.database import PageReads, run_write
from app.errors import Unauthenticated
from app.operations.worker import Worker
from app.platform.board import Board
from app.platform.versions import Versions
from app.platform.viewer import Viewer
from app.policy import Policy
from app.storage.store import ObjectStore
from app.webhooks.sealing import Sealer
from schema.limits.rate_limit import Limiter
from schema.loaders import Loaders, make_loaders
from schema.slots import DatabaseSlots
from schema.sockets import Sockets

T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    """What every request of one server process shares, made once at start-up."""

    settings: Settings
    engine: Engine
    clock: Clock
    store: ObjectStore
    rate_limiter: Limiter
    policy: Policy = field(default_factory=Policy)
    cursor_secret: bytes = b""
    #: seals webhook signing secrets (None: this process does not manage webhooks)
    sealer: Sealer | None = None
    worker: Worker | None = None  # the operations worker of this process, when it runs one
    slots: DatabaseSlots = field(default_factory=lambda: DatabaseSlots(22, 10.0))
    sockets: Sockets = field(default_factory=lambda: Sockets(1000, 20))
    #: versions read before, kept until a commit anywhere moves them (none kept by default)
    board: Board = field(default_factory=lambda: Board(""))
    #: where list pages run their statement (by default: on the request's session)
    page_reads: PageReads = field(default_factory=PageReads)


@dataclass
class Context:
    """What every resolver may use; built fresh for each request."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    services: Services
    viewer: Viewer | None
    rate_limit_key: str = "anonymous"
    connection_params: object = None  # a WebSocket's connection_init payload, as sent
    versions: Versions | None = None  # read with the caller's token, when it had one
    uncacheable: bool = False  # set by fields whose answer moves with time alone
    operation_type: str | None = None
    consumed_uploads: set[int] = field(default_factory=set)  # ids of uploads already stored
    _session: Session | None = field(default=None, repr=False)
    _holding: bool = field(default=False, repr=False)  # holds one of services.slots
    loaders: Loaders = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.loaders = make_loaders(lambda: self.session, self.viewer)

    def for_operation(self) -> Context:
        """A context of its own for one operation sent over a WebSocket: the socket's viewer
        and bucket, with its own session, loaders and request slot.
        """
        return replace(self, _session=None, _holding=False, consumed_uploads=set())

    async def hold_slot(self) -> None:
        """Take a request slot for this context's database work, unless it holds one.

        Raises:
            SlotsExhausted: no slot became free in time.
        """
        if not self._holding:
            await self.services.slots.acquire()
            self._holding = True

    def start_over(self) -> None:
        """End the session and forget what was read (empty loaders), keeping the slot."""
        self.close()
        self.loaders = make_loaders(lambda: self.session, self.viewer)
        self.uncacheable = False

    def let_go(self) -> None:
        """End the session, forget what was read (empty loaders) and give the slot back."""
        self.start_over()
        if self._holding:
            self._holding = False
            self.services.slots.release()

    @asynccontextmanager
    async def one_event(self) -> AsyncIterator[None]:
        """Hold a slot and a fresh session for one piece of work of a long-lived operation
        (a subscription's event, a query over a WebSocket); both are given back after it.
        """
        await self.hold_slot()
        try:
            yield
        finally:
            self.let_go()

    @property
    def session(self) -> Session:
        """The request's read session, opened on first use and closed after the operation."""
        if self._session is None:
            self._session = Session(self.services.engine, expire_on_commit=False)
        return self._session

    def write(self, action: Callable[[Session], T]) -> T:
        """Run one mutation's work in its own write transaction (committed unless it raises).

        The request's read session gives its connection back first, so a request never holds
        two (and later reads see what was just committed).
        """
        if self._session is not None:
            self._session.rollback()
        try:
            return run_write(self.services.engine, action)
        finally:
            # Later reads in this request must see what was just committed.
            if self._session is not None:
                self._session.rollback()

    @property
    def viewer_is_admin(self) -> bool:
        """Whether the caller is an administrator."""
        return self.viewer is not None and self.viewer.is_admin

    def require_viewer(self) -> Viewer:
        """Return the authenticated viewer, or refuse with UNAUTHENTICATED."""
        if self.viewer is None:
            raise Unauthenticated()
        return self.viewer

    def close(self) -> None:
        """End the read session (never commits)."""
        if self._session is not None:
            self._session.rollback()
            self._session.close()
            self._session = None


Info = strawberry.Info[Context, None]
