"""Read images with the one visibility rule (R5) every query and mutation goes through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlmodel import Session, col, select

from app.accounts.rules import Viewer
from app.errors import BadRequest
from app.ids import is_id
from app.images.models import Image
from app.images.rules import CATALOGUE_KINDS, ImageKind, ImageType
from app.pagination import Ordering, Page, PageRequest, paginate


@dataclass(frozen=True)
class ImageFilter:
    """The filters of the ``images`` query; None means "any"."""

    region: str | None = None
    types: tuple[ImageType, ...] | None = None
    os_type: str | None = None
    status: str | None = None
    generation: str | None = None
    name_contains: str | None = None
    listing: str | None = None
    source_instance: str | None = None


ORDER_FIELDS = {"CREATED_AT": "created_at", "NAME": "name"}


def visible_clause(viewer: Viewer | None) -> ColumnElement[bool]:
    """The visibility rule (R5) as a SQL predicate: the only definition of who sees what.

    Everyone sees the catalogue (PUBLIC, INTEGRATION, MARKET); an account also sees its
    own images; admins see everything. Deleted images are seen by no one (R6).
    """
    alive = col(Image.deleted_at).is_(None)
    if viewer is not None and viewer.is_admin:
        return alive
    seen: ColumnElement[bool] = col(Image.kind).in_(CATALOGUE_KINDS)
    if viewer is not None:
        seen = or_(seen, col(Image.owner_id) == viewer.account_id)
    return and_(alive, seen)


def get(*, session: Session, viewer: Viewer | None, image_id: str) -> Image | None:
    """Return a visible image by id; a hidden one answers exactly like a missing one."""
    if not is_id(image_id, "m"):
        return None
    stmt = select(Image).where(Image.id == image_id, visible_clause(viewer))
    return session.exec(stmt).first()


def list_by_ids(
    *, session: Session, viewer: Viewer | None, image_ids: Sequence[str]
) -> list[Image]:
    """Return the visible images among these ids (any order)."""
    ids = [i for i in image_ids if is_id(i, "m")]
    if not ids:
        return []
    stmt = select(Image).where(col(Image.id).in_(ids), visible_clause(viewer))
    return list(session.exec(stmt))


def _type_clause(viewer: Viewer | None, types: tuple[ImageType, ...]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    me = viewer.account_id if viewer is not None else None
    admin = viewer is not None and viewer.is_admin
    for image_type in types:
        if image_type is ImageType.CUSTOM:
            if admin:
                clauses.append(col(Image.kind) == ImageKind.CUSTOM.value)
            elif me is not None:
                clauses.append(
                    and_(col(Image.kind) == ImageKind.CUSTOM.value, col(Image.owner_id) == me)
                )
        elif image_type is ImageType.SHARED:
            # Sharing arrives with the image lifecycle; until then nothing is shared.
            clauses.append(false())
        else:
            clauses.append(col(Image.kind) == image_type.value)
    return or_(false(), *clauses)


def list_images(
    *,
    session: Session,
    viewer: Viewer | None,
    filters: ImageFilter,
    order_field: str,
    descending: bool,
    page: PageRequest,
) -> Page[Image]:
    """Return one keyset page of the visible images that match the filters."""
    if filters.name_contains is not None and len(filters.name_contains) > 65:
        raise BadRequest("'nameContains' is at most 65 characters.")
    stmt = select(Image).where(visible_clause(viewer))
    if filters.region is not None:
        stmt = stmt.where(Image.region_code == filters.region)
    if filters.types is not None:
        stmt = stmt.where(_type_clause(viewer, filters.types) if filters.types else true())
    if filters.os_type is not None:
        stmt = stmt.where(Image.os_type == filters.os_type)
    if filters.status is not None:
        stmt = stmt.where(Image.status == filters.status)
    if filters.generation is not None:
        stmt = stmt.where(Image.generation == filters.generation)
    if filters.name_contains:
        escaped = (
            filters.name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        )
        stmt = stmt.where(col(Image.name).ilike(f"%{escaped}%", escape="\\"))
    if filters.listing is not None:
        stmt = stmt.where(Image.listing_id == filters.listing)
    if filters.source_instance is not None:
        stmt = stmt.where(
            Image.source_kind == "INSTANCE", Image.source_id == filters.source_instance
        )
    attribute = ORDER_FIELDS[order_field]
    ordering = Ordering(order_field, getattr(Image, attribute), descending, Image.id)
    return paginate(session, stmt, ordering, page, lambda row: getattr(row, attribute))
