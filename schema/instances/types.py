"""Instance types, and the inputs of launches, quotes and rebuilds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import strawberry

from app.billing.pricing import Timing
from app.errors import DomainError, ErrorCode, input_field
from app.images import rules as image_rules
from app.instances import service
from app.instances.models import Instance as InstanceRow
from app.instances.rules import InstanceStatus, LaunchInput, ReleaseReason, StorageType
from app.workflows import rebuild_plan
from schema.billing.types import ChargeLine
from schema.context import Info
from schema.enums import member
from schema.images.types import Image, OperatingSystem
from schema.lazy import Reader, eager, lazy_type
from schema.loaders import referenced_now
from schema.regions.types import Flavor, Zone
from schema.resources import RegionalResource


@strawberry.type(description="An image an instance ran or runs; kept after the image is deleted.")
class ImageRef:
    id: strawberry.ID = strawberry.field(description="The image id.")
    name: str = strawberry.field(description="The image name at the time.")
    os: OperatingSystem = strawberry.field(description="Its operating system.")

    @strawberry.field(description="The image itself; null once deleted or no longer visible.")
    async def image(self, info: Info) -> Image | None:
        row = await info.context.loaders.image.load(str(self.id))
        return Image.from_row(row, info.context.viewer) if row else None


@strawberry.type(description="An instance's system disk.")
class SystemDisk:
    storage_type: StorageType = strawberry.field(description="LOCAL_SSD, CDS_PREMIUM or CDS_SSD.")
    size_gb: int = strawberry.field(description="Size in GB.")


@strawberry.type(description="How an instance is paid for.")
class InstanceBilling:
    timing: Timing = strawberry.field(description="PREPAID or POSTPAID.")
    months: int | None = strawberry.field(description="Prepaid term in months.")


@strawberry.type(description="A BCC or EBC instance.")
class Instance(RegionalResource):
    name: str = strawberry.field(description="Name.")
    generation: image_rules.Generation = strawberry.field(description="BCC or EBC.")
    status: InstanceStatus = strawberry.field(description="Current state.")
    status_reason: str | None = strawberry.field(
        description="Why the platform changed the state: ARREARS or EXPIRED."
    )
    zone: Zone = strawberry.field(description="Availability zone.")
    image: ImageRef = strawberry.field(description="The image it runs now.")
    created_from_image: ImageRef = strawberry.field(description="The image it was created from.")
    system_disk: SystemDisk = strawberry.field(description="Its system disk.")
    billing: InstanceBilling = strawberry.field(description="How it is paid for.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    expires_at: datetime | None = strawberry.field(description="End of a prepaid term.")
    released_at: datetime | None = strawberry.field(description="When it was released.")
    release_reason: ReleaseReason | None = strawberry.field(
        description="Who released it: OWNER, or ARREARS when the account's balance stayed "
        "below zero past the grace period; null while it is not released."
    )
    charges: list[ChargeLine] = strawberry.field(
        description="What it pays now: hourly lines (postpaid) or its term's lines (prepaid)."
    )
    flavor_name: strawberry.Private[str]

    @strawberry.field(description="Its flavor.")
    def flavor(self, info: Info) -> Flavor:
        loader = info.context.loaders.flavor
        return referenced_now(loader, self.flavor_name, Flavor.from_row)  # type: ignore[return-value]  # awaited by graphql-core when not preloaded

    @classmethod
    def from_row(cls, row: InstanceRow) -> Instance:
        """Build from an instance row."""
        return eager(cls, _FROM_ROW, row)

    @classmethod
    def of_page_row(cls, row: InstanceRow) -> Instance:
        """The same instance as ``from_row`` gives, for a row of a list page that is never
        changed: each field is read from the row when it is first asked for.
        """
        return _PageInstance(row)


#: how each field of an Instance is read from its row (eager and lazy instances alike)
_FROM_ROW: dict[str, Reader] = {
    "id": lambda row: strawberry.ID(row.id),
    "name": lambda row: row.name,
    "generation": lambda row: member(image_rules.Generation, row.generation),
    "status": lambda row: member(InstanceStatus, row.status),
    "status_reason": lambda row: row.status_reason,
    "zone": lambda row: Zone(name=row.zone_name),
    "image": lambda row: ImageRef(
        id=strawberry.ID(row.image_id),
        name=row.image_name,
        os=OperatingSystem.of(row, "image_os_"),
    ),
    "created_from_image": lambda row: ImageRef(
        id=strawberry.ID(row.created_from_image_id),
        name=row.created_from_image_name,
        os=OperatingSystem.of(row, "created_from_os_"),
    ),
    "system_disk": lambda row: SystemDisk(
        storage_type=member(StorageType, row.system_disk_type), size_gb=row.system_disk_gb
    ),
    "billing": lambda row: InstanceBilling(
        timing=member(Timing, row.billing_timing), months=row.billing_months
    ),
    "created_at": lambda row: row.created_at,
    "expires_at": lambda row: row.expires_at,
    "released_at": lambda row: row.released_at,
    "release_reason": lambda row: (
        member(ReleaseReason, row.release_reason) if row.release_reason else None
    ),
    "charges": lambda row: [ChargeLine.of(line) for line in service.charge_lines(row)],
    "region_code": lambda row: row.region_code,
    "flavor_name": lambda row: row.flavor_name,
}
_PageInstance = lazy_type(Instance, _FROM_ROW)


@strawberry.input(description="The system disk of each instance.")
class SystemDiskInput:
    storage_type: StorageType = strawberry.field(description="LOCAL_SSD, CDS_PREMIUM or CDS_SSD.")
    size_gb: int = strawberry.field(description="Size in GB (10-2048; Windows at least 40).")


@strawberry.input(description="How the instances are paid for.")
class BillingInput:
    timing: Timing = strawberry.field(description="PREPAID or POSTPAID.")
    months: int | None = strawberry.field(
        default=None, description="Prepaid term: 1-9, 12, 24 or 36 months."
    )


@strawberry.input(
    one_of=True,
    description="An image to boot or install: exactly one of its id and a family (its newest).",
)
class ImageChoice:
    id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="This image (in the instances' region)."
    )
    family: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "The newest image of this family in the region that you may launch (AVAILABLE, "
            "enabled, not deprecated), resolved once, now."
        ),
    )


#: what the older pair of fields says now that ``image`` names the image
OLDER_IMAGE_FIELD = "Use image: {id: ...} or image: {family: ...} instead."


def image_named(
    choice: ImageChoice | None, image_id: strawberry.ID | None, image_family: str | None
) -> tuple[str | None, str | None]:
    """The (image id, family) an input names, by ``image`` or by the older imageId and
    imageFamily.

    Raises:
        DomainError: IMAGE_SOURCE_AMBIGUOUS when ``image`` and an older field are both given.
    """
    if choice is None:
        return (str(image_id) if image_id is not None else None), image_family
    if image_id is not None or image_family is not None:
        raise DomainError(
            ErrorCode.IMAGE_SOURCE_AMBIGUOUS,
            "Name the image once: image, or the older imageId or imageFamily.",
            input_field("image"),
        )
    given_id = choice.id if choice.id is not strawberry.UNSET else None
    given_family = choice.family if choice.family is not strawberry.UNSET else None
    return (str(given_id) if given_id is not None else None), given_family


#: where an error about the image points, for a caller that named it with ``image``
_IMAGE_PATHS = {
    ("input", "imageId"): ("input", "image", "id"),
    ("input", "imageFamily"): ("input", "image", "family"),
}


@contextmanager
def image_errors_at(choice: ImageChoice | None) -> Iterator[None]:
    """Point the refusals about the image at what the caller sent: ``input.image.id`` (or
    ``.family``) when it named the image with ``image``, ``input.imageId`` otherwise.
    """
    try:
        yield
    except DomainError as exc:
        if choice is not None:
            for error in {exc, *getattr(exc, "errors", ())}:
                if error.field is not None:
                    error.field = _IMAGE_PATHS.get(error.field, error.field)
        raise


@strawberry.input(description="A batch of identical instances (1-100), created all or nothing.")
class CreateInstancesInput:
    region: strawberry.ID = strawberry.field(description="Region code.")
    flavor: str = strawberry.field(description="Flavor name, e.g. bcc.g5.c2m8.")
    image: ImageChoice | None = strawberry.field(
        default=None, description="The image to boot from: its id, or a family's newest."
    )
    image_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Image to boot from (or give imageFamily instead).",
        deprecation_reason=OLDER_IMAGE_FIELD,
    )
    image_family: str | None = strawberry.field(
        default=None,
        description=(
            "Boot from the newest image of this family in the region that you may launch "
            "(AVAILABLE, enabled, not deprecated), resolved once, now; instead of imageId."
        ),
        deprecation_reason=OLDER_IMAGE_FIELD,
    )
    system_disk: SystemDiskInput | None = strawberry.field(
        default=None,
        description=(
            "System disk of each instance; when omitted, the region's cheapest CDS type at the "
            "smallest size the image allows (its minimum disk, and at least 40 GB for Windows, "
            "10 GB for Linux)."
        ),
    )
    billing: BillingInput = strawberry.field(description="PREPAID with months, or POSTPAID.")
    zone: str | None = strawberry.field(
        default=None, description="Zone; the service picks if omitted."
    )
    count: int = strawberry.field(default=1, description="How many instances (1-100).")
    name: str | None = strawberry.field(
        default=None, description="Name (a prefix, numbered -1, -2... when count > 1)."
    )
    client_token: str | None = strawberry.field(
        default=None, description="Idempotency key (ASCII, at most 64): a retry charges once."
    )

    def to_domain(self) -> LaunchInput:
        """Convert to the service's input.

        Raises:
            DomainError: IMAGE_SOURCE_AMBIGUOUS (see image_named).
        """
        image_id, image_family = image_named(self.image, self.image_id, self.image_family)
        return LaunchInput(
            region=str(self.region),
            flavor=self.flavor,
            image_id=image_id,
            image_family=image_family,
            storage_type=self.system_disk.storage_type.value if self.system_disk else None,
            disk_gb=self.system_disk.size_gb if self.system_disk else None,
            timing=self.billing.timing,
            months=self.billing.months,
            count=self.count,
            zone=self.zone,
            name=self.name,
            client_token=self.client_token,
        )


@strawberry.input(description="The image a rebuild installs, and its idempotency key.")
class NewImageInput:
    image: ImageChoice | None = strawberry.field(
        default=None, description="The new image (same region): its id, or a family's newest."
    )
    image_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The new image (same region), or give imageFamily instead.",
        deprecation_reason=OLDER_IMAGE_FIELD,
    )
    image_family: str | None = strawberry.field(
        default=None,
        description=(
            "Instead of imageId: the newest image of this family in the instances' region that "
            "you may launch, resolved once, now."
        ),
        deprecation_reason=OLDER_IMAGE_FIELD,
    )

    def image_named(self) -> tuple[str | None, str | None]:
        """The (image id, family) this input names (see image_named)."""
        return image_named(self.image, self.image_id, self.image_family)

    client_token: str | None = strawberry.field(
        default=None,
        description="Idempotency key: repeating it with the same input replays the result.",
    )


@strawberry.input(description="Reinstall one instance's operating system from another image.")
class RebuildInstanceInput(NewImageInput):
    instance_id: strawberry.ID = strawberry.field(description="The instance (yours).")

    def to_domain(self) -> rebuild_plan.RebuildRequest:
        """The service's request (one instance).

        Raises:
            DomainError: IMAGE_SOURCE_AMBIGUOUS (see image_named).
        """
        image_id, image_family = self.image_named()
        return rebuild_plan.RebuildRequest(
            instance_ids=(str(self.instance_id),),
            image_id=image_id,
            client_token=self.client_token,
            batch=False,
            image_family=image_family,
        )


@strawberry.input(
    description="Reinstall the operating system of up to 100 of your instances from one image."
)
class RebuildInstancesInput(NewImageInput):
    instance_ids: list[strawberry.ID] = strawberry.field(
        description="1 to 100 instances, each listed once, in the image's region."
    )

    def to_domain(self) -> rebuild_plan.RebuildRequest:
        """The service's request.

        Raises:
            DomainError: IMAGE_SOURCE_AMBIGUOUS (see image_named).
        """
        image_id, image_family = self.image_named()
        return rebuild_plan.RebuildRequest(
            instance_ids=tuple(str(i) for i in self.instance_ids),
            image_id=image_id,
            client_token=self.client_token,
            image_family=image_family,
        )
