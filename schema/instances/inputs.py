"""Inputs shared by createInstances and priceQuote."""

from __future__ import annotations

import strawberry

from app.billing.pricing import Timing
from app.instances.rules import LaunchInput, StorageType


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
