"""Instance types, and the inputs of launches, quotes and rebuilds."""

from __future__ import annotations

from datetime import datetime

import strawberry

import schema.enums  # noqa: F401  (registers the domain enums)
from app.billing.pricing import Timing
from app.images import rules as image_rules
from app.instances import service
from app.instances.models import Instance as InstanceRow
from app.instances.rules import InstanceStatus, LaunchInput, StorageType
from app.workflows import rebuild_plan
from schema.billing.types import ChargeLine
from schema.context import Info
from schema.images.types import Image, OperatingSystem
from schema.loaders import referenced
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
    charges: list[ChargeLine] = strawberry.field(
        description="What it pays now: hourly lines (postpaid) or its term's lines (prepaid)."
    )
    flavor_name: strawberry.Private[str]

    @strawberry.field(description="Its flavor.")
    async def flavor(self, info: Info) -> Flavor:
        return await referenced(info.context.loaders.flavor, self.flavor_name, Flavor.from_row)

    @classmethod
    def from_row(cls, row: InstanceRow) -> Instance:
        """Build from an instance row."""
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            generation=image_rules.Generation(row.generation),
            status=InstanceStatus(row.status),
            status_reason=row.status_reason,
            zone=Zone(name=row.zone_name),
            image=ImageRef(
                id=strawberry.ID(row.image_id),
                name=row.image_name,
                os=OperatingSystem.of(row, "image_os_"),
            ),
            created_from_image=ImageRef(
                id=strawberry.ID(row.created_from_image_id),
                name=row.created_from_image_name,
                os=OperatingSystem.of(row, "created_from_os_"),
            ),
            system_disk=SystemDisk(
                storage_type=StorageType(row.system_disk_type), size_gb=row.system_disk_gb
            ),
            billing=InstanceBilling(timing=Timing(row.billing_timing), months=row.billing_months),
            created_at=row.created_at,
            expires_at=row.expires_at,
            released_at=row.released_at,
            charges=[ChargeLine.of(line) for line in service.charge_lines(row)],
            region_code=row.region_code,
            flavor_name=row.flavor_name,
        )


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


@strawberry.input(description="A batch of identical instances (1-100), created all or nothing.")
class CreateInstancesInput:
    region: strawberry.ID = strawberry.field(description="Region code.")
    flavor: str = strawberry.field(description="Flavor name, e.g. bcc.g5.c2m8.")
    image_id: strawberry.ID | None = strawberry.field(
        default=None, description="Image to boot from (or give imageFamily instead)."
    )
    image_family: str | None = strawberry.field(
        default=None,
        description=(
            "Boot from the newest image of this family in the region that you may launch "
            "(AVAILABLE, enabled, not deprecated), resolved once, now; instead of imageId."
        ),
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
        """Convert to the service's input."""
        return LaunchInput(
            region=str(self.region),
            flavor=self.flavor,
            image_id=str(self.image_id) if self.image_id is not None else None,
            image_family=self.image_family,
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
    image_id: strawberry.ID | None = strawberry.field(
        default=None, description="The new image (same region), or give imageFamily instead."
    )
    image_family: str | None = strawberry.field(
        default=None,
        description=(
            "Instead of imageId: the newest image of this family in the instances' region that "
            "you may launch, resolved once, now."
        ),
    )
    client_token: str | None = strawberry.field(
        default=None,
        description="Idempotency key: repeating it with the same input replays the result.",
    )


@strawberry.input(description="Reinstall one instance's operating system from another image.")
class RebuildInstanceInput(NewImageInput):
    instance_id: strawberry.ID = strawberry.field(description="The instance (yours).")


@strawberry.input(
    description="Reinstall the operating system of up to 100 of your instances from one image."
)
class RebuildInstancesInput(NewImageInput):
    instance_ids: list[strawberry.ID] = strawberry.field(
        description="1 to 100 instances, each listed once, in the image's region."
    )

    def to_domain(self) -> rebuild_plan.RebuildRequest:
        """The service's request."""
        return rebuild_plan.RebuildRequest(
            instance_ids=tuple(str(i) for i in self.instance_ids),
            image_id=str(self.image_id) if self.image_id is not None else None,
            client_token=self.client_token,
            image_family=self.image_family,
        )
