"""Automatic persisted queries: documents clients registered by their SHA-256, so they can
send the hash instead of the text (Apollo's protocol).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Column, Text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from app.database import UTCDateTime


class PersistedQuery(SQLModel, table=True):
    """A registered document, by the hex SHA-256 of its text."""

    __tablename__ = "persisted_query"

    sha256: str = Field(primary_key=True, max_length=64)
    query: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


def digest(query: str) -> str:
    """The hex SHA-256 of a document's text (UTF-8), as clients compute it."""
    return hashlib.sha256(query.encode()).hexdigest()


def lookup(*, session: Session, sha256: str) -> str | None:
    """The registered document with this hash, if any."""
    found = session.get(PersistedQuery, sha256.lower())
    return found.query if found else None


def register(*, session: Session, query: str, now: datetime) -> str:
    """Keep a document under its hash (registering it twice is harmless); returns the hash."""
    sha256 = digest(query)
    if session.get(PersistedQuery, sha256) is None:
        try:
            with session.begin_nested():
                session.add(PersistedQuery(sha256=sha256, query=query, created_at=now))
        except IntegrityError:
            pass  # another process registered it first
    return sha256
