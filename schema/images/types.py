"""Image types and enums."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.errors import ErrorCode as DomainErrorCode
from app.images import models
from app.images import rules as r
from app.images import service as images_service
from app.platform.viewer import Viewer
from schema.accounts.types import Account
from schema.context import Info
from schema.enums import member
from schema.images.governed import Governed, SharedWith
from schema.lazy import Reader, eager, lazy_type
from schema.loaders import referenced
from schema.pagination import Window, page_request, paged
from schema.permissions import OwnerOnly
from schema.regions.types import Region
from schema.resources import Tagged
from schema.scalars import BigInt
from schema.tags.types import TagFilter

if TYPE_CHECKING:
    from schema.marketplace.types import Listing


#: an argument naming an image (a field of the mutation's input)
ImageId = Annotated[strawberry.ID, strawberry.argument(description="Image id.")]


@strawberry.enum(description="A lock on a custom image while copies of it are in flight.")
class CopyLock(enum.Enum):
    REPLICATING = "REPLICATING"


@strawberry.enum(description="Fields images can be ordered by.")
class ImageOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"
    NAME = "NAME"


@strawberry.enum(description="Sort direction.")
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.type(description="The operating system an image contains.")
class OperatingSystem:
    type: r.OsType = strawberry.field(description="LINUX or WINDOWS.")
    name: str = strawberry.field(description="Distribution or product, e.g. Ubuntu.")
    version: str = strawberry.field(description="Version, e.g. 22.04 or 2019.")
    arch: str = strawberry.field(description="CPU architecture, e.g. x86_64.")
    lang: str | None = strawberry.field(description="Language of a Windows image, e.g. zh-cn.")

    @classmethod
    def of(cls, row: object, prefix: str = "os_") -> OperatingSystem:
        """The OS a row records in its ``<prefix>type``, ``<prefix>name``… columns (an image's
        ``os_…``, an instance's ``image_os_…`` and ``created_from_os_…``).
        """
        values = {name: getattr(row, prefix + name) for name in ("name", "version", "arch", "lang")}
        return cls(type=member(r.OsType, getattr(row, prefix + "type")), **values)


@strawberry.type(description="How an image was made, and from what.")
class ImageSource:
    kind: r.SourceKind = strawberry.field(description="What it was made from.")
    source_id: strawberry.Private[str | None]
    region_code: strawberry.Private[str | None]
    owner_id: strawberry.Private[str]

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description=(
            "Id of the source (instance, snapshot, image or uploaded object), when it has one: "
            "the image's owner's business (and administrators')."
        ),
    )
    def id(self) -> strawberry.ID | None:
        return strawberry.ID(self.source_id) if self.source_id else None

    @strawberry.field(description="Region of the source, when it has one.")
    async def region(self, info: Info) -> Region | None:
        if self.region_code is None:
            return None
        row = await info.context.loaders.region.load(self.region_code)
        return Region.from_row(row) if row else None


@dataclass(frozen=True, slots=True)
class Prefetched:
    """Relations a page query already read, so per-item resolvers answer synchronously
    (an async resolver per list item costs far more than the field itself).
    """

    region: Region
    listing: Listing | None  # the charge-root listing, when the viewer may see it


@strawberry.type(
    description=(
        "What instances created from an image are charged for, inherited from the image it "
        "descends from (a Windows licence, a listing's software plan)."
    )
)
class ChargeRoot:
    os_license: r.OsLicense = strawberry.field(description="WINDOWS when a licence is charged.")
    listing_id: strawberry.Private[str | None]
    prefetched: strawberry.Private[Prefetched | None] = None

    @strawberry.field(description="The listing whose plans it pays, if it descends from one.")
    def listing(
        self, info: Info
    ) -> Annotated[Listing, strawberry.lazy("schema.marketplace.types")] | None:
        if self.prefetched is not None or self.listing_id is None:
            return self.prefetched.listing if self.prefetched else None
        return _listing(info, self.listing_id)  # type: ignore[return-value]  # awaited by graphql-core


@strawberry.type(description="Why an operation or image failed.")
class Failure:
    code: DomainErrorCode = strawberry.field(description="Machine-readable reason.")
    message: str = strawberry.field(description="Human-readable explanation.")
    checks: list[str] = strawberry.field(description="Every failed check, by name.")


@strawberry.input(description="Filters of the images query; all given filters must match.")
class ImageFilter:
    region: strawberry.ID | None = strawberry.field(default=None, description="Region code.")
    types: list[r.ImageType] | None = strawberry.field(
        default=None, description="Any of these types (as the viewer sees them)."
    )
    os_type: r.OsType | None = strawberry.field(default=None, description="OS family.")
    status: r.ImageStatus | None = strawberry.field(default=None, description="Status.")
    generation: r.Generation | None = strawberry.field(default=None, description="BCC or EBC.")
    name_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name (at most 65 characters)."
    )
    listing: strawberry.ID | None = strawberry.field(default=None, description="Listing id.")
    include_deprecated: bool | None = strawberry.field(
        default=None,
        description=(
            "Also list deprecated images (left out by default, except your own). Administrators "
            "always see them."
        ),
    )
    family: str | None = strawberry.field(default=None, description="Images of this family.")
    tags: list[TagFilter] | None = strawberry.field(
        default=None, description="Images of yours carrying every one of these tags."
    )
    flavor: str | None = strawberry.field(
        default=None,
        description=(
            "Images an instance of this flavor can be launched from now: AVAILABLE and not "
            "disabled, of the flavor's generation and processor architecture, in a region "
            "where it is offered, with a minimum disk it can have; deprecated ones (your own "
            "included) only with includeDeprecated."
        ),
    )
    source_instance: strawberry.ID | None = strawberry.field(
        default=None, description="Only images created from this instance."
    )


@strawberry.input(description="Order of the images query.")
class ImageOrder:
    field: ImageOrderField = strawberry.field(description="CREATED_AT or NAME.")
    direction: OrderDirection = strawberry.field(description="ASC or DESC.")


@strawberry.type(description="A disk image in one region.")
class Image(Tagged, Governed):
    name: str = strawberry.field(description="Name: 1-65 characters, starting with a letter.")
    description: str = strawberry.field(description="Free text, up to 256 characters.")
    type: r.ImageType = strawberry.field(description="Type as the viewer sees it.")
    generation: r.Generation = strawberry.field(description="BCC or EBC.")
    status: r.ImageStatus = strawberry.field(description="Current state.")
    progress: int | None = strawberry.field(description="0-100 while CREATING.")
    failure: Failure | None = strawberry.field(
        description="Why creation failed, when CREATE_FAILED."
    )
    os: OperatingSystem = strawberry.field(description="Operating system.")
    min_disk_gb: int = strawberry.field(description="Smallest system disk it can boot from, in GB.")
    size_gb: int | None = strawberry.field(description="Size of the image data, in GB.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    source: ImageSource = strawberry.field(description="How it was made.")
    system_disk_kind: r.DiskKind | None = strawberry.field(
        description="LOCAL or CDS: the system disk it was captured from; null for public/imported."
    )
    charge_root: ChargeRoot = strawberry.field(description="What instances from it are charged.")
    format: r.DiskFormat | None = strawberry.field(
        description="Detected format of an imported image."
    )
    sha256: str | None = strawberry.field(description="SHA-256 of an imported file.")
    virtual_size_bytes: BigInt | None = strawberry.field(
        description="Virtual disk size of an imported image."
    )
    disabled: bool = strawberry.field(
        description=(
            "Disabled by its owner: it cannot be launched, rebuilt onto, copied, shared or "
            "listed, and only its owner sees it."
        )
    )
    deletion_protection: bool = strawberry.field(
        description="While true, deleteImage refuses to delete it."
    )
    family: str | None = strawberry.field(
        description="The family it belongs to (imageFromFamily answers a family's newest image)."
    )
    purge_at: datetime | None = strawberry.field(
        description=(
            "In the recycle bin: when it is purged for good (restorable until then). "
            "A CREATE_FAILED image: when it is removed, a day after it failed."
        )
    )
    region_code: strawberry.Private[str]
    owner_id: strawberry.Private[str]
    listing_id: strawberry.Private[str | None]
    deprecate_at: strawberry.Private[datetime | None] = None
    replacement_id: strawberry.Private[str | None] = None
    disable_at: strawberry.Private[datetime | None] = None
    delete_at: strawberry.Private[datetime | None] = None
    lifecycle_note_text: strawberry.Private[str | None] = None
    prefetched: strawberry.Private[Prefetched | None] = None

    @strawberry.field(description="For INTEGRATION and MARKET images: the listing it belongs to.")
    def listing(
        self, info: Info
    ) -> Annotated[Listing, strawberry.lazy("schema.marketplace.types")] | None:
        if self.listing_id is None:
            return None
        if self.prefetched is not None:  # a published image's listing is its charge root's
            return self.prefetched.listing
        return _listing(info, self.listing_id)  # type: ignore[return-value]  # awaited by graphql-core

    @strawberry.field(description="The image's region.")
    def region(self, info: Info) -> Region:
        if self.prefetched is not None:
            return self.prefetched.region
        return _region(info, self.region_code)  # type: ignore[return-value]  # awaited by graphql-core

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description="The owning account (its owner and administrators only).",
    )
    async def owner(self, info: Info) -> Account | None:
        row = await info.context.loaders.account.load(self.owner_id)
        return Account.from_row(row) if row else None

    @strawberry.field(
        description=(
            "REPLICATING while a copy from it is in flight: it cannot be deleted, shared or "
            "copied again until the copies finish or are cancelled."
        )
    )
    async def copy_lock(self, info: Info) -> CopyLock | None:
        if self.type is not r.ImageType.CUSTOM and not info.context.viewer_is_admin:
            return None
        replicating = await info.context.loaders.replicating.load(str(self.id))
        return CopyLock.REPLICATING if replicating else None

    @paged(
        permission_classes=[OwnerOnly],
        description=(
            "Accounts the image is shared with, oldest share first (its owner and "
            "administrators only)."
        ),
    )
    async def shared_with(
        self,
        info: Info,
        window: Window = Window(),
    ) -> SharedWith | None:
        page = images_service.shared_with(
            session=info.context.session,
            image_id=str(self.id),
            page=page_request(info, window, parent=str(self.id)),
        )
        accounts = await info.context.loaders.account.load_many([s.account_id for s in page.items])
        return SharedWith.of(page, {a.id: Account.from_row(a) for a in accounts if a is not None})

    @classmethod
    def from_row(
        cls, row: models.Image, viewer: Viewer | None, prefetched: Prefetched | None = None
    ) -> Image:
        """Build from an image row, as the given viewer sees it."""
        return eager(cls, _FROM_ROW, row, viewer, prefetched)

    @classmethod
    def of_page_row(cls, row: Any, viewer: Viewer | None, prefetched: Prefetched) -> Image:
        """The same image as ``from_row`` gives, for a row of a list page that is never
        changed: each field is read from the row when it is first asked for (a page's
        answer asks for a few of its thirty fields).
        """
        return _RowImage(row, viewer, prefetched)


def _failure(row: Any) -> Failure | None:
    if row.failure_code is None:
        return None
    return Failure(
        code=DomainErrorCode(row.failure_code),
        message=row.failure_message or "",
        checks=json.loads(row.failure_checks or "[]"),
    )


def _viewer_type(row: Any, viewer: Viewer | None) -> r.ImageType:
    return r.type_for_viewer(
        row.kind,
        row.owner_id,
        viewer.account_id if viewer else None,
        viewer.is_admin if viewer else False,
    )


#: how each field of an Image is read from its row (viewer, prefetched relations): the one
#: mapping both the eager and the lazy image use
_FROM_ROW: dict[str, Reader] = {
    "id": lambda row, v, p: strawberry.ID(row.id),
    "name": lambda row, v, p: row.name,
    "description": lambda row, v, p: row.description,
    "type": lambda row, v, p: _viewer_type(row, v),
    "generation": lambda row, v, p: member(r.Generation, row.generation),
    "status": lambda row, v, p: member(r.ImageStatus, row.status),
    "progress": lambda row, v, p: row.progress,
    "failure": lambda row, v, p: _failure(row),
    "os": lambda row, v, p: OperatingSystem.of(row),
    "min_disk_gb": lambda row, v, p: row.min_disk_gb,
    "size_gb": lambda row, v, p: row.size_gb,
    "created_at": lambda row, v, p: row.created_at,
    "source": lambda row, v, p: ImageSource(
        kind=member(r.SourceKind, row.source_kind),
        source_id=row.source_id,
        region_code=row.source_region,
        owner_id=row.owner_id,
    ),
    "system_disk_kind": lambda row, v, p: (
        member(r.DiskKind, row.system_disk_kind) if row.system_disk_kind else None
    ),
    "charge_root": lambda row, v, p: ChargeRoot(
        os_license=member(r.OsLicense, row.charge_os_license),
        listing_id=row.charge_listing_id,
        prefetched=p,
    ),
    "listing_id": lambda row, v, p: row.listing_id,
    "format": lambda row, v, p: member(r.DiskFormat, row.disk_format) if row.disk_format else None,
    "sha256": lambda row, v, p: row.sha256,
    "virtual_size_bytes": lambda row, v, p: (
        BigInt(row.virtual_size_bytes) if row.virtual_size_bytes is not None else None
    ),
    "disabled": lambda row, v, p: row.disabled,
    "deletion_protection": lambda row, v, p: row.deletion_protection,
    "family": lambda row, v, p: row.family,
    "purge_at": lambda row, v, p: row.purge_at,
    "region_code": lambda row, v, p: row.region_code,
    "owner_id": lambda row, v, p: row.owner_id,
    "deprecate_at": lambda row, v, p: row.deprecate_at,
    "replacement_id": lambda row, v, p: row.replacement_id,
    "disable_at": lambda row, v, p: row.disable_at,
    "delete_at": lambda row, v, p: row.delete_at,
    "lifecycle_note_text": lambda row, v, p: row.lifecycle_note,
    "prefetched": lambda row, v, p: p,
}


_RowImage = lazy_type(Image, _FROM_ROW)


async def _listing(info: Info, listing_id: str | None) -> Listing | None:
    """An image's charge-root listing: one the viewer may see, or one it pays or paid."""
    from schema.marketplace.types import Listing

    if listing_id is None:
        return None
    row = await info.context.loaders.charge_listing.load(listing_id)
    return Listing.from_row(row) if row else None


async def _region(info: Info, code: str) -> Region:
    return await referenced(info.context.loaders.region, code, Region.from_row)
