"""clientToken handling (R62): the same request replays its result, a different one conflicts."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text
from sqlmodel import Field, Session, SQLModel

from app.database import UTCDateTime
from app.errors import DomainError, ErrorCode, shown


class IdempotencyRecord(SQLModel, table=True):
    """What a mutation with a clientToken produced, to replay it for retries (R62)."""

    __tablename__ = "idempotency_record"

    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=16)
    mutation: str = Field(primary_key=True, max_length=32)
    client_token: str = Field(primary_key=True, max_length=64)
    request_hash: str = Field(max_length=64)
    result: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON of ids
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


MAX_TOKEN = 64


def request_hash(request: dict[str, Any]) -> str:
    """A stable fingerprint of a mutation's input (without its clientToken)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_token(token: str) -> None:
    """Refuse tokens that are not printable ASCII of at most 64 characters."""
    if not (1 <= len(token) <= MAX_TOKEN and token.isascii() and token.isprintable()):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"clientToken is 1 to {MAX_TOKEN} printable ASCII characters.",
            ("input", "clientToken"),
        )


def claim(
    *,
    session: Session,
    account_id: str,
    mutation: str,
    token: str,
    request: dict[str, Any],
    now: datetime,
) -> dict[str, Any] | None:
    """Return the stored result of an earlier identical request, or reserve the token.

    A concurrent duplicate waits on the reservation's key and then fails with an integrity
    error; the caller's transaction is retried and replays the stored result.

    Raises:
        DomainError: IDEMPOTENCY_CONFLICT when the token was used for a different input.
    """
    check_token(token)
    fingerprint = request_hash(request)
    existing = session.get(IdempotencyRecord, (account_id, mutation, token))
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise DomainError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                f"clientToken {shown(token)} was already used for a different {mutation} request.",
                ("input", "clientToken"),
            )
        result: dict[str, Any] = json.loads(existing.result)
        return result
    session.add(
        IdempotencyRecord(
            account_id=account_id,
            mutation=mutation,
            client_token=token,
            request_hash=fingerprint,
            created_at=now,
        )
    )
    session.flush()
    return None


def remember(
    *, session: Session, account_id: str, mutation: str, token: str, result: dict[str, Any]
) -> None:
    """Store the result (ids) of the request that reserved the token."""
    record = session.get(IdempotencyRecord, (account_id, mutation, token))
    if record is None:
        raise RuntimeError("remember() without claim()")
    record.result = json.dumps(result)
    session.add(record)
    session.flush()
