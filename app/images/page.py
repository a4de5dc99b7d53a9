"""The images list: one keyset page of the images a caller may see, read with one statement
(each visible part of the catalogue in index order, the page's regions and listings joined
in), built once per shape of the filters and reused with new parameters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    case,
    false,
    func,
    or_,
    true,
    tuple_,
    union_all,
)
from sqlmodel import Session, col, select

from app.errors import BadRequest, shown
from app.images.models import Image
from app.images.page_rows import (
    IMAGE_TABLE,
    LISTING_TABLE,
    PAGE_COLUMNS,
    REGION_TABLE,
    ImageRow,
    image_rows,
)
from app.images.rules import (
    CATALOGUE_KINDS,
    MAX_SYSTEM_DISK_GB,
    ImageKind,
    ImageStatus,
    ImageType,
    SourceKind,
)
from app.images.service import listing_explained, shared_to
from app.marketplace.models import Listing
from app.pagination import Ordering, Page, PageQuery, PageRequest, window
from app.platform.viewer import Viewer
from app.platform.visibility import ME, symbolic
from app.regions.models import Flavor, FlavorPrice, Region
from app.regions.rules import ARM_NAMES, Arch
from app.tags.models import tagged_with
from app.tags.rules import TagFilter, filter_parameters


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
    include_deprecated: bool = False
    family: str | None = None
    flavor: str | None = None  # images an instance of this flavor can boot
    tags: tuple[TagFilter, ...] = ()  # the caller's own tags only


ORDER_FIELDS = {"CREATED_AT": "created_at", "NAME": "name"}


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
            if viewer is not None and not admin:
                clauses.append(and_(col(Image.kind) == ImageKind.CUSTOM.value, shared_to(viewer)))
        else:
            clauses.append(col(Image.kind) == image_type.value)
    return or_(false(), *clauses)


def _branches(
    viewer: Viewer | None, types: tuple[ImageType, ...] | None
) -> list[ColumnElement[bool]]:
    """The visible set (R5) as a few disjoint, separately indexable parts.

    Each part is read in index order (kind or owner first, then the sort key), so a page
    costs the same with 10 thousand or 10 million images of other accounts (P5).
    """
    if viewer is not None and viewer.is_admin:
        return [_type_clause(viewer, types) if types else true()]
    wanted = set(types) if types else set(ImageType)
    enabled = col(Image.disabled).is_(False)
    usable = enabled if viewer is None else or_(enabled, col(Image.owner_id) == viewer.account_id)
    parts: list[ColumnElement[bool]] = [
        and_(col(Image.kind) == kind, usable)
        for kind in CATALOGUE_KINDS
        if ImageType(kind) in wanted
    ]
    if viewer is not None and ImageType.CUSTOM in wanted:
        parts.append(
            and_(
                col(Image.owner_id) == viewer.account_id, col(Image.kind) == ImageKind.CUSTOM.value
            )
        )
    if viewer is not None and ImageType.SHARED in wanted:
        parts.append(and_(col(Image.kind) == ImageKind.CUSTOM.value, enabled, shared_to(viewer)))
    return parts


@dataclass(frozen=True)
class _Shape:
    """What a page statement depends on besides its parameter values: built once per shape."""

    role: str  # "anonymous", or the caller's role
    types: tuple[ImageType, ...] | None
    filters: tuple[str, ...]  # the names of the filters given
    order_field: str
    descending: bool  # in SQL (walking backward reverses the list's order)
    after: bool  # whether a cursor bounds the page
    hide_deprecated: bool = True  # deprecated images are left out (not the owner's own)
    tags: tuple[bool, ...] = ()  # one per tag filter: whether it names a value


_FILTER_COLUMNS = {
    "region": Image.region_code,
    "os_type": Image.os_type,
    "status": Image.status,
    "generation": Image.generation,
    "listing": Image.listing_id,
    "family": Image.family,
}


@functools.lru_cache(maxsize=256)
def _page_statement(shape: _Shape) -> Any:
    """The page statement of one shape, with parameters for every value (SQLAlchemy caches
    its compiled form; building it for every request cost more than running it).
    """
    viewer = symbolic(shape.role)
    attribute = ORDER_FIELDS[shape.order_field]
    sort_column = getattr(Image, attribute)
    order = (
        (sort_column.desc(), col(Image.id).desc())
        if shape.descending
        else (sort_column.asc(), col(Image.id).asc())
    )
    common = _shape_filters(viewer, shape)
    if shape.after:
        key = tuple_(sort_column, Image.id)
        edge = tuple_(
            bindparam("after_value", type_=sort_column.type), bindparam("after_id", type_=String)
        )
        common.append(key < edge if shape.descending else key > edge)
    # written into the statement (one text per page size, each planned for itself): a plan
    # made for any LIMIT would expect a tenth of the table and read it whole
    limit = bindparam("limit", type_=Integer, literal_execute=True)
    limited = [
        select(
            select(col(Image.id).label("id"), sort_column.label("sort"))
            .where(part, *common)
            .order_by(*order)
            .limit(limit)
            .subquery()
        )
        for part in _branches(viewer, shape.types)
    ]
    if not limited:
        return None
    # the page's ids are chosen before the rest of their rows is read (n+1 look-ups, not
    # one per candidate of every part)
    every = union_all(*limited).subquery("every")
    chosen = (
        select(every.c.id)
        .order_by(
            *(
                (every.c.sort.desc(), every.c.id.desc())
                if shape.descending
                else (every.c.sort.asc(), every.c.id.asc())
            )
        )
        .limit(limit)
        .subquery("chosen")
    )
    # Core rows, not ORM objects: building ORM state for 150 objects costs more than the query.
    return (
        select(*PAGE_COLUMNS)
        .select_from(IMAGE_TABLE)
        .join(chosen, col(Image.id) == chosen.c.id)
        .join(REGION_TABLE, col(Region.code) == col(Image.region_code))
        .outerjoin(
            LISTING_TABLE,
            and_(col(Listing.id) == col(Image.charge_listing_id), listing_explained(viewer)),
        )
        .order_by(*order)
        .limit(limit)
    )


def _launchable_on_flavor() -> list[ColumnElement[bool]]:
    """Images an instance of the flavor can be launched from now: AVAILABLE and enabled, of
    the flavor's generation and architecture, in a region that offers it, with a disk it can
    have (deprecated ones are left out by the caller unless asked for, owners' own included).
    """
    flavor = bindparam("flavor", type_=String)
    named = select(col(Flavor.generation), col(Flavor.arch)).where(col(Flavor.name) == flavor)
    offered = select(col(FlavorPrice.region_code)).where(col(FlavorPrice.flavor_name) == flavor)
    arch = case(
        (func.lower(col(Image.os_arch)).in_(ARM_NAMES), Arch.ARM64.value), else_=Arch.X86_64.value
    )
    return [
        col(Image.status) == ImageStatus.AVAILABLE.value,
        col(Image.disabled).is_(False),
        col(Image.generation) == named.with_only_columns(col(Flavor.generation)).scalar_subquery(),
        arch == named.with_only_columns(col(Flavor.arch)).scalar_subquery(),
        col(Image.region_code).in_(offered),
        col(Image.min_disk_gb) <= MAX_SYSTEM_DISK_GB,
    ]


def _shape_filters(viewer: Viewer | None, shape: _Shape) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [col(Image.deleted_at).is_(None)]
    for name in shape.filters:
        if name in _FILTER_COLUMNS:
            column = _FILTER_COLUMNS[name]
            clauses.append(col(column) == bindparam(name, type_=String))
    if "name_contains" in shape.filters:
        clauses.append(col(Image.name).ilike(bindparam("name_pattern", type_=String), escape="\\"))
    if "source_instance" in shape.filters:
        clauses.append(col(Image.source_kind) == SourceKind.INSTANCE.value)
        clauses.append(col(Image.source_id) == bindparam("source_instance", type_=String))
        if viewer is None or not viewer.is_admin:  # sources are their owner's business
            clauses.append(col(Image.owner_id) == (viewer.account_id if viewer else ""))
    if "flavor" in shape.filters:
        clauses += _launchable_on_flavor()
    if shape.hide_deprecated:
        shown = [col(Image.deprecate_at).is_(None), col(Image.deprecate_at) > bindparam("now")]
        if viewer is not None and "flavor" not in shape.filters:
            shown.append(col(Image.owner_id) == viewer.account_id)  # owners see their own
        clauses.append(or_(*shown))
    for index, valued in enumerate(shape.tags):
        clauses.append(tagged_with(col(Image.id), ME, index, valued))
    return clauses


def _parameters(viewer: Viewer | None, filters: ImageFilter) -> dict[str, Any]:
    values: dict[str, Any] = {"me": viewer.account_id if viewer else ""}
    for name in (*_FILTER_COLUMNS, "source_instance", "flavor"):
        value = getattr(filters, name)
        if value is not None:
            values[name] = value
    if filters.name_contains:
        escaped = (
            filters.name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        )
        values["name_pattern"] = f"%{escaped}%"
    return values


def page_query(
    *,
    session: Session,
    viewer: Viewer | None,
    filters: ImageFilter,
    order_field: str,
    descending: bool,
    page: PageRequest,
    now: datetime,
) -> PageQuery[ImageRow]:
    """The statement of one keyset page of the visible images that match the filters.

    One statement: each visible part picks its first n+1 rows by index, the union is ordered
    and cut to n+1, and the page's regions and visible charge-root listings are joined in.
    The total is a separate COUNT, run only if it is asked for.
    """
    if filters.name_contains is not None and len(filters.name_contains) > 65:
        raise BadRequest("'nameContains' is at most 65 characters.")
    attribute = ORDER_FIELDS[order_field]
    sort_column = getattr(Image, attribute)
    win = window(Ordering(order_field, sort_column, descending, Image.id), page)
    parameters = _parameters(viewer, filters)
    if filters.flavor is not None and (
        len(filters.flavor) > 48 or session.get(Flavor, filters.flavor) is None
    ):
        raise BadRequest(f"There is no flavor {shown(filters.flavor)}.")
    named = (*_FILTER_COLUMNS, "source_instance", "flavor")
    given = [n for n in named if getattr(filters, n) is not None]
    shape = _Shape(
        role=viewer.role.value if viewer else "anonymous",
        types=tuple(filters.types) if filters.types is not None else None,
        filters=tuple(sorted([*given, *(["name_contains"] if filters.name_contains else [])])),
        order_field=order_field,
        descending=win.descending,
        after=win.bound is not None,
        hide_deprecated=not filters.include_deprecated
        and (filters.flavor is not None or not (viewer and viewer.is_admin)),
        tags=tuple(tag.value is not None for tag in filters.tags),
    )
    parameters["now"] = now
    parameters.update(filter_parameters(filters.tags))
    statement = _page_statement(shape)

    def count() -> int:
        caller = symbolic(shape.role)
        common = _shape_filters(caller, shape)
        parts = _branches(caller, shape.types)
        if not parts:
            return 0
        every = union_all(*[select(col(Image.id)).where(part, *common) for part in parts])
        total = select(func.count()).select_from(every.subquery())
        return int(session.connection().execute(total, parameters).scalar() or 0)

    if statement is not None and win.limit > 0:
        parameters["limit"] = win.limit + 1
        if win.bound is not None:
            parameters["after_value"], parameters["after_id"] = win.bound
    else:
        statement = None
    return PageQuery(
        statement,
        parameters,
        win,
        lambda row: getattr(row.image, attribute),
        lambda row: row.image.id,
        count,
        image_rows,
        planned_once=not shape.filters and not shape.tags and shape.types is None,
    )


def list_images(*, session: Session, **query: Any) -> Page[ImageRow]:
    """Return one keyset page of the visible images that match the filters (the arguments
    of ``page_query``), read on the session.
    """
    return page_query(session=session, **query).run(session)
