"""The rows of an image page: each image with its region and (when the viewer may see it)
its charge-root listing, read by one statement as plain values (no ORM state).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from app.images.models import Image
from app.marketplace.models import Listing
from app.regions.models import Region


@dataclass(slots=True)
class RegionView:
    """A region's columns, read with an image page (plain values, no ORM state)."""

    code: str
    name: str
    copy_supported: bool
    position: int


@dataclass(slots=True)
class ListingView:
    """A listing's columns, read with an image page."""

    id: str
    seed_key: str | None
    provider_id: str
    kind: str
    title: str
    summary: str
    category: str
    version: str
    status: str
    review_note: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ImageRow:
    """A listed image with the rows every console page shows beside it, fetched in one query.

    ``image`` is a result row with every image column as an attribute (like an Image).
    """

    image: Any
    region: RegionView
    listing: ListingView | None  # the charge-root listing, when the viewer may see it


IMAGE_TABLE = Image.__table__  # type: ignore[attr-defined]
REGION_TABLE = Region.__table__  # type: ignore[attr-defined]
LISTING_TABLE = Listing.__table__  # type: ignore[attr-defined]
PAGE_COLUMNS = [
    *IMAGE_TABLE.c,
    *[c.label(f"region__{c.name}") for c in REGION_TABLE.c],
    *[c.label(f"listing__{c.name}") for c in LISTING_TABLE.c],
]
_REGION_FIELDS = [c.name for c in REGION_TABLE.c]
# the views are built from the row's columns by position: their fields are the columns in order
assert [f.name for f in fields(RegionView)] == _REGION_FIELDS
assert [f.name for f in fields(ListingView)] == [c.name for c in LISTING_TABLE.c]


_REGION_AT = len(IMAGE_TABLE.c)
_LISTING_AT = _REGION_AT + len(_REGION_FIELDS)


def image_rows(rows: Any) -> list[ImageRow]:
    """The page's rows, each region and listing made once (a page shows a few of each)."""
    regions: dict[str, RegionView] = {}
    listings: dict[str, ListingView] = {}
    found = []
    for row in rows:
        region = regions.get(row[_REGION_AT])
        if region is None:
            region = regions[row[_REGION_AT]] = RegionView(*row[_REGION_AT:_LISTING_AT])
        listing = None
        if row[_LISTING_AT] is not None:
            listing = listings.get(row[_LISTING_AT])
            if listing is None:
                listing = listings[row[_LISTING_AT]] = ListingView(*row[_LISTING_AT:])
        found.append(ImageRow(row, region, listing))
    return found
