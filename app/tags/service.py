"""Reading and writing tags (the caller has already checked who owns the resources)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, delete, select

from app.database import grouped
from app.tags.models import Tag


def of_resources(
    *, session: Session, owner_id: str, resource_ids: Sequence[str]
) -> dict[str, list[Tag]]:
    """Each resource's tags by key, as its owner sees them (others see none)."""
    stmt = (
        select(Tag)
        .where(col(Tag.owner_id) == owner_id, col(Tag.resource_id).in_(resource_ids))
        .order_by(col(Tag.resource_id), col(Tag.key))
    )
    return grouped(session, resource_ids, stmt, lambda tag: tag.resource_id)


def keys_of(*, session: Session, resource_ids: Sequence[str]) -> dict[str, set[str]]:
    """The keys each resource carries now (to count them against the limit)."""
    found: dict[str, set[str]] = {r: set() for r in resource_ids}
    if resource_ids:
        rows = session.exec(
            select(col(Tag.resource_id), col(Tag.key)).where(col(Tag.resource_id).in_(resource_ids))
        )
        for resource_id, key in rows:
            found[resource_id].add(key)
    return found


def put(
    *,
    session: Session,
    owner_id: str,
    resource_ids: Sequence[str],
    tags: Sequence[tuple[str, str]],
    now: datetime,
) -> None:
    """Set these keys on these resources (a key they carry already takes the new value)."""
    for resource_id in resource_ids:
        for key, value in tags:
            existing = session.get(Tag, (resource_id, key))
            if existing is None:
                session.add(
                    Tag(
                        resource_id=resource_id,
                        key=key,
                        value=value,
                        owner_id=owner_id,
                        created_at=now,
                    )
                )
            elif existing.value != value:
                existing.value = value
                session.add(existing)
    session.flush()


def remove(*, session: Session, resource_ids: Sequence[str], keys: Sequence[str]) -> None:
    """Take these keys off these resources (a key a resource does not carry is ignored)."""
    if resource_ids and keys:
        for tag in session.exec(
            select(Tag).where(col(Tag.resource_id).in_(resource_ids), col(Tag.key).in_(keys))
        ):
            session.delete(tag)
        session.flush()


def copy(*, session: Session, source_id: str, target_ids: Sequence[str], now: datetime) -> None:
    """Give new resources (a copy, an image of an instance) their source's tags."""
    source = session.exec(select(Tag).where(col(Tag.resource_id) == source_id)).all()
    for target_id in target_ids:
        for tag in source:
            session.add(
                Tag(
                    resource_id=target_id,
                    key=tag.key,
                    value=tag.value,
                    owner_id=tag.owner_id,
                    created_at=now,
                )
            )
    session.flush()


def forget(*, session: Session, resource_ids: Sequence[str]) -> None:
    """Delete the tags of resources that are gone for good (purged images)."""
    if resource_ids:
        session.exec(delete(Tag).where(col(Tag.resource_id).in_(resource_ids)))
