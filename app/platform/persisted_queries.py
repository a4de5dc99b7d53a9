"""Automatic persisted queries: documents clients registered by their SHA-256, so they can
send the hash instead of the text (Apollo's protocol). The table is bounded: past its size
the least recently used documents go (R154); uses are written in batches, not per request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Column, Text, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from app.database import UTCDateTime

#: hashes per UPDATE when uses are written (well under every database's parameter limit)
TOUCH_BATCH = 500


class PersistedQuery(SQLModel, table=True):
    """A registered document, by the hex SHA-256 of its text."""

    __tablename__ = "persisted_query"

    sha256: str = Field(primary_key=True, max_length=64)
    query: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: when it was last registered or used (written in batches, so a little behind)
    last_used_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


def digest(query: str) -> str:
    """The hex SHA-256 of a document's text (UTF-8), as clients compute it."""
    return hashlib.sha256(query.encode()).hexdigest()


def lookup(*, session: Session, sha256: str) -> str | None:
    """The registered document with this hash, if any."""
    found = session.get(PersistedQuery, sha256.lower())
    return found.query if found else None


def touch(*, session: Session, hashes: Iterable[str], now: datetime) -> None:
    """Record that these documents were used at ``now``."""
    pending = sorted(hashes)
    for start in range(0, len(pending), TOUCH_BATCH):
        session.execute(
            update(PersistedQuery)
            .where(col(PersistedQuery.sha256).in_(pending[start : start + TOUCH_BATCH]))
            .values(last_used_at=now)
        )


def register(*, session: Session, query: str, now: datetime, keep: int) -> str:
    """Keep a document under its hash (registering it twice is harmless), then let the least
    recently used go while more than ``keep`` are kept; returns the hash.
    """
    sha256 = digest(query)
    if session.get(PersistedQuery, sha256) is None:
        try:
            with session.begin_nested():
                session.add(
                    PersistedQuery(sha256=sha256, query=query, created_at=now, last_used_at=now)
                )
        except IntegrityError:
            pass  # another process registered it first
    kept = session.execute(select(func.count()).select_from(PersistedQuery)).scalar_one()
    if kept > keep:
        oldest = (
            select(col(PersistedQuery.sha256))
            .where(col(PersistedQuery.sha256) != sha256)
            .order_by(col(PersistedQuery.last_used_at), col(PersistedQuery.sha256))
            .limit(kept - keep)
        )
        session.execute(
            delete(PersistedQuery).where(
                col(PersistedQuery.sha256).in_(list(session.execute(oldest).scalars()))
            )
        )
    return sha256
