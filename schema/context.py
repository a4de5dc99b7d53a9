"""The per-request context: settings, viewer, one lazily opened read session, loaders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import strawberry
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.accounts.rules import Viewer
from app.clock import Clock
from app.config import Settings
from app.database import run_write
from app.errors import Unauthenticated
from app.operations.worker import Worker
from app.policy import Policy
from app.storage.store import ObjectStore
from app.versions import Versions
from schema.loaders import Loaders, make_loaders
from schema.rate_limit import Limiter

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
    worker: Worker | None = None  # the operations worker of this process, when it runs one


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
    loaders: Loaders = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.loaders = make_loaders(lambda: self.session, self.viewer)

    def fresh(self) -> None:
        """Forget everything read so far (new session, empty loaders): for long subscriptions."""
        self.close()
        self.loaders = make_loaders(lambda: self.session, self.viewer)

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
