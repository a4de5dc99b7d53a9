"""The tag table, and the SQL that finds resources by their owner's tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Index, String, bindparam, select
from sqlmodel import Field, SQLModel, col

from app.database import UTCDateTime
from app.tags.rules import TagFilter, filter_parameters


class Tag(SQLModel, table=True):
    """One key of one resource (an image, snapshot or instance), and its value."""

    __table_args__ = (
        # the tag filters: a tenant's resources with a key (and value)
        Index("ix_tag_owner_key_value", "owner_id", "key", "value", "resource_id"),
    )

    resource_id: str = Field(primary_key=True, max_length=16)
    key: str = Field(primary_key=True, max_length=128)
    value: str = Field(max_length=256)
    owner_id: str = Field(foreign_key="account.id", max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


def tagged_with(resource_id: Any, owner: Any, index: int, valued: bool) -> ColumnElement[bool]:
    """``resource_id`` carries the index-th tag filter's key (with its value when ``valued``)
    among ``owner``'s tags; the key and value are the parameters ``tag_key_<index>`` and
    ``tag_value_<index>``. Tags are their owner's alone, so no one else's tag ever matches.
    """
    found = select(col(Tag.resource_id)).where(
        col(Tag.owner_id) == owner,
        col(Tag.key) == bindparam(f"tag_key_{index}", type_=String),
    )
    if valued:
        found = found.where(col(Tag.value) == bindparam(f"tag_value_{index}", type_=String))
    result: ColumnElement[bool] = resource_id.in_(found)
    return result


def with_tags(stmt: Any, resource_id: Any, owner: str, filters: tuple[TagFilter, ...]) -> Any:
    """``stmt`` narrowed to the resources carrying every one of ``owner``'s tag filters."""
    for index, tag in enumerate(filters):
        stmt = stmt.where(tagged_with(resource_id, owner, index, tag.value is not None))
    return stmt.params(filter_parameters(filters))
