"""Automatic persisted queries (Apollo's protocol): a client sends the SHA-256 of a document
instead of its text; on a miss it sends both once, and the hash alone works from then on —
also over GET, so browsers and CDNs can cache public catalogue pages.

Registration keeps only what could run (R154): a document that parses and passes the limits
of R152, of at most 64 KiB, without control characters (R129, refused outright); an anonymous
caller registers at most 10 documents a minute. A document that is not kept still runs (its
text came with the request): the client sends it again next time.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from typing import Any

import strawberry
from sqlalchemy import Engine
from sqlmodel import Session
from strawberry.http import GraphQLRequestData
from strawberry.schema import BaseSchema

from app.clock import Clock
from app.config import Settings
from app.database import read_session, run_write
from app.platform import persisted_queries
from schema.arguments import text_problem
from schema.context import Context
from schema.http.refusals import RequestRefused
from schema.limits.documents import document_problem
from schema.limits.memory import BoundedCache
from schema.limits.rate_limit import Limiter, RateLimiter

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

#: the largest document registration keeps, in UTF-8 bytes
MAX_DOCUMENT_BYTES = 64 * 1024
#: documents an anonymous caller may register per minute (a bucket, refilled continuously)
ANONYMOUS_REGISTRATIONS_PER_MINUTE = 10
#: the prefix of the registration buckets' keys in Redis
REGISTRATIONS_NAMESPACE = "bcc-images:registrations:"
#: how often this process writes which documents it served (one statement for all of them)
TOUCH_SECONDS = 60.0


class PersistedQueryNotFound(Exception):
    """The hash is not registered: send the document with it once."""


class PersistedQueryHashMismatch(Exception):
    """The document sent does not have the hash sent with it."""


def registration_limiter(settings: Settings) -> Limiter:
    """Buckets of registrations per anonymous caller: shared by every process through Redis
    when it is configured, else this process's own.
    """
    capacity = ANONYMOUS_REGISTRATIONS_PER_MINUTE
    if settings.redis_url:
        from schema.limits.redis_limiter import RedisRateLimiter

        return RedisRateLimiter(
            settings.redis_url, capacity, capacity / 60, namespace=REGISTRATIONS_NAMESPACE
        )
    return RateLimiter(capacity, capacity / 60)


class PersistedQueries:
    """The registered documents: a bounded database table with an in-process LRU in front.

    Documents served are remembered and their use written at most once a minute (and before
    a registration makes room), so a hit costs no write.
    """

    def __init__(self, engine: Engine, clock: Clock, budget_bytes: int) -> None:
        self.engine = engine
        self.clock = clock
        self.recent = BoundedCache(budget_bytes)
        self._registrations: Limiter | None = None
        self._used: set[str] = set()
        self._write_uses_at = time.monotonic() + TOUCH_SECONDS
        self._lock = threading.Lock()

    def resolve(
        self, request: GraphQLRequestData, context: Context, schema: BaseSchema
    ) -> GraphQLRequestData:
        """The request with its document: looked up by hash, or registered under it.

        Raises:
            RequestRefused: a malformed persistedQuery extension, or a document with control
                characters.
            PersistedQueryNotFound, PersistedQueryHashMismatch.
        """
        sha256 = _hash_of(request.extensions)
        if sha256 is None:
            return request
        if request.query:
            if persisted_queries.digest(request.query) != sha256:
                raise PersistedQueryHashMismatch()
            problem = text_problem(request.query, strict=False)
            if problem is not None:
                raise RequestRefused(400, "BAD_USER_INPUT", f"The document {problem}.")
            self._keep(sha256, request.query, context, schema)
            return request
        known = self.recent.get(sha256)
        if known is None:
            known = self._stored(sha256)
            if known is None:
                raise PersistedQueryNotFound()
            self.recent.put(sha256, known)
        self._used_now(sha256)
        return dataclasses.replace(request, query=known)

    def _keep(self, sha256: str, query: str, context: Context, schema: BaseSchema) -> None:
        """Register a document sent with its hash, unless it is known or may not be kept."""
        if self.recent.get(sha256) is not None:
            self._used_now(sha256)
        elif len(query.encode()) > MAX_DOCUMENT_BYTES:
            return  # never kept: it runs as sent, every time
        elif self._stored(sha256) is not None:
            self.recent.put(sha256, query)
            self._used_now(sha256)
        elif self._may_register(query, context, schema):
            self._register(query, context.services.settings)

    def _stored(self, sha256: str) -> str | None:
        """The document in the table (one stored before these rules with a control character
        counts as absent).
        """
        with read_session(self.engine) as session:
            known = persisted_queries.lookup(session=session, sha256=sha256)
        if known is None or text_problem(known, strict=False) is not None:
            return None
        return known

    def _may_register(self, query: str, context: Context, schema: BaseSchema) -> bool:
        """Whether a document is kept: within the limits, and (for anonymous callers) within
        their registrations per minute.
        """
        settings = context.services.settings
        if not isinstance(schema, strawberry.Schema):
            return False
        if document_problem(query, settings, schema._schema) is not None:
            return False  # the request itself is refused with the reason
        if context.viewer is not None:
            return True
        if self._registrations is None:
            self._registrations = registration_limiter(settings)
        granted, _, _ = self._registrations.take(context.rate_limit_key, 1)
        return granted

    def _register(self, query: str, settings: Settings) -> None:
        """Store a document, write the uses seen so far, and make room if the table is full."""
        used = self._take_uses()
        now = self.clock.now()

        def write(session: Session) -> None:
            persisted_queries.touch(session=session, hashes=used, now=now)
            persisted_queries.register(
                session=session,
                query=query,
                now=now,
                keep=settings.persisted_query_max_documents,
            )

        run_write(self.engine, write)
        self.recent.put(persisted_queries.digest(query), query)

    def _used_now(self, sha256: str) -> None:
        """Remember a use; write the uses remembered once a minute."""
        with self._lock:
            self._used.add(sha256)
            if time.monotonic() < self._write_uses_at:
                return
        used = self._take_uses()
        now = self.clock.now()
        run_write(
            self.engine,
            lambda session: persisted_queries.touch(session=session, hashes=used, now=now),
        )

    def _take_uses(self) -> set[str]:
        with self._lock:
            used, self._used = self._used, set()
            self._write_uses_at = time.monotonic() + TOUCH_SECONDS
        return used


def _hash_of(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if (
        not isinstance(persisted, dict)
        or persisted.get("version") != 1
        or not isinstance(persisted.get("sha256Hash"), str)
        or _SHA256.fullmatch(persisted["sha256Hash"]) is None
    ):
        raise RequestRefused(
            400,
            "BAD_REQUEST",
            "extensions.persistedQuery is {version: 1, sha256Hash: <64 hex digits>}.",
        )
    return str(persisted["sha256Hash"]).lower()
