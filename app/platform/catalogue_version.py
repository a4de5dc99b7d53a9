"""The public catalogue's version: bumped in the same transaction as any change anonymous
callers could see (seed data, prices, published listings and their images), so cached
anonymous answers are never served after such a change.
"""

from __future__ import annotations

from sqlmodel import Field, Session, SQLModel, select


class CatalogueVersion(SQLModel, table=True):
    """One row: a counter that moves whenever the public catalogue changes."""

    __tablename__ = "catalogue_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)


def current(*, session: Session) -> int:
    """The catalogue version now (0 before the first change)."""
    row = session.get(CatalogueVersion, 1)
    return row.version if row else 0


def bump(*, session: Session) -> None:
    """Record that the public catalogue changed (call inside the changing transaction)."""
    row = session.exec(
        select(CatalogueVersion).where(CatalogueVersion.id == 1).with_for_update()
    ).first()
    if row is None:
        row = CatalogueVersion(id=1, version=0)
    row.version += 1
    session.add(row)
    session.flush()
