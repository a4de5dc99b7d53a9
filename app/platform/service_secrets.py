"""Service secrets kept in the database so every process and restart agrees on them."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from app.database import read_session, write_session

CURSOR_SECRET = "cursor-secret"


class ServiceSecret(SQLModel, table=True):
    """A named secret generated once (e.g. the key that signs page cursors)."""

    __tablename__ = "service_secret"

    name: str = Field(primary_key=True, max_length=40)
    value: str = Field(max_length=128)


def shared_secret(engine: Engine, name: str, configured: str = "") -> bytes:
    """The configured secret, or the one stored under ``name`` (generated on first use; when
    several processes start together, the first insert wins and the others read it).
    """
    if configured:
        return configured.encode()
    with read_session(engine) as session:
        found = session.get(ServiceSecret, name)
    if found is not None:
        return found.value.encode()
    try:
        with write_session(engine) as session:
            session.add(ServiceSecret(name=name, value=secrets.token_hex(32)))
    except IntegrityError:
        pass
    with read_session(engine) as session:
        stored = session.get(ServiceSecret, name)
    assert stored is not None  # just inserted, by us or another process
    return stored.value.encode()
