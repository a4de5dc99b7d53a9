"""Automatic persisted queries (Apollo's protocol): a client sends the SHA-256 of a document
instead of its text; on a miss it sends both once, and the hash alone works from then on —
also over GET, so browsers and CDNs can cache public catalogue pages.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlalchemy import Engine
from strawberry.http import GraphQLRequestData

from app import persisted_queries
from app.clock import Clock
from app.database import read_session, run_write
from schema.cache import BoundedCache
from schema.http import RequestRefused

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class PersistedQueryNotFound(Exception):
    """The hash is not registered: send the document with it once."""


class PersistedQueryHashMismatch(Exception):
    """The document sent does not have the hash sent with it."""


class PersistedQueries:
    """The registered documents: a database table with an in-process LRU in front."""

    def __init__(self, engine: Engine, clock: Clock, budget_bytes: int) -> None:
        self.engine = engine
        self.clock = clock
        self.recent = BoundedCache(budget_bytes)

    def resolve(self, request: GraphQLRequestData) -> GraphQLRequestData:
        """The request with its document: looked up by hash, or registered under it.

        Raises:
            RequestRefused: a malformed persistedQuery extension.
            PersistedQueryNotFound, PersistedQueryHashMismatch.
        """
        sha256 = _hash_of(request.extensions)
        if sha256 is None:
            return request
        if request.query:
            if persisted_queries.digest(request.query) != sha256:
                raise PersistedQueryHashMismatch()
            if self.recent.get(sha256) is None:
                query = request.query
                run_write(
                    self.engine,
                    lambda session: persisted_queries.register(
                        session=session, query=query, now=self.clock.now()
                    ),
                )
                self.recent.put(sha256, query)
            return request
        known = self.recent.get(sha256)
        if known is None:
            with read_session(self.engine) as session:
                known = persisted_queries.lookup(session=session, sha256=sha256)
            if known is None:
                raise PersistedQueryNotFound()
            self.recent.put(sha256, known)
        return dataclasses.replace(request, query=known)


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
