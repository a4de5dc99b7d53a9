"""Pure instance rules: what a launch or a rebuild needs (R50, R51, R54) and legal transitions."""

from __future__ import annotations

import calendar
import enum
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.billing.pricing import PREPAID_TERMS, Timing
from app.errors import DomainError, ErrorCode
from app.images.rules import MAX_SYSTEM_DISK_GB
from app.money import from_minor, round_fen, to_minor

MAX_BATCH = 100
MAX_DISK_GB = MAX_SYSTEM_DISK_GB
MIN_DISK_GB = {"LINUX": 10, "WINDOWS": 40}
STORAGE_TYPES = ("LOCAL_SSD", "CDS_PREMIUM", "CDS_SSD")


class StorageType(enum.Enum):
    """System disk storage types (R50)."""

    LOCAL_SSD = "LOCAL_SSD"
    CDS_PREMIUM = "CDS_PREMIUM"
    CDS_SSD = "CDS_SSD"


REFUND_PENALTY = Decimal("1.5")


class InstanceStatus(enum.Enum):
    """Instance states (R53)."""

    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    REBUILDING = "REBUILDING"
    IMAGE_PROCESSING = "IMAGE_PROCESSING"
    RELEASED = "RELEASED"


class StatusReason(enum.Enum):
    """Why the platform, not the owner, changed an instance's state."""

    ARREARS = "ARREARS"
    EXPIRED = "EXPIRED"


class ReleaseReason(enum.Enum):
    """Who released an instance: its owner, or the platform at the end of the arrears grace
    period.
    """

    OWNER = "OWNER"
    ARREARS = "ARREARS"


@dataclass(frozen=True)
class LaunchInput:
    """createInstances / priceQuote input."""

    region: str
    flavor: str
    image_id: str | None  # None: the newest image of image_family (resolved before checks)
    storage_type: str | None  # None: the default disk (see default_disk)
    disk_gb: int | None
    timing: Timing
    months: int | None = None
    count: int = 1
    zone: str | None = None
    name: str | None = None
    client_token: str | None = None
    image_family: str | None = None

    @property
    def disk(self) -> tuple[str, int]:
        """(storage type, size in GB) of the system disk, once the default is resolved."""
        if self.storage_type is None or self.disk_gb is None:
            raise ValueError("the default system disk was not resolved")
        return self.storage_type, self.disk_gb

    def fingerprint(self) -> dict[str, Any]:
        """The input as the idempotency record compares it."""
        data = asdict(self)
        data.pop("client_token")
        if self.image_family is None:  # records made before families keep matching
            data.pop("image_family")
        data["timing"] = self.timing.value
        return data


@dataclass(frozen=True)
class ImageFacts:
    """What the launch checks need to know about an image."""

    id: str
    status: str
    region: str
    generation: str
    os_type: str
    min_disk_gb: int
    system_disk_kind: str | None
    arch: str = "X86_64"  # of its operating system (regions.rules.Arch)


@dataclass(frozen=True)
class LaunchRequest:
    """The parts of createInstances/priceQuote input the pure checks look at."""

    region: str
    count: int
    storage_type: str
    disk_gb: int
    timing: Timing
    months: int | None
    flavor_generation: str | None  # None when the flavor does not exist
    flavor_offered: bool
    flavor_arch: str | None = None  # None when the flavor does not exist


F_INPUT = ("input",)


def _err(code: ErrorCode, message: str, *path: str) -> DomainError:
    return DomainError(code, message, F_INPUT + path)


def smallest_disk_gb(min_disk_gb: int, os_type: str) -> int:
    """The smallest system disk an image allows: its own minimum and the OS's floor."""
    return max(min_disk_gb, MIN_DISK_GB.get(os_type, 10))


def cheapest_cds(per_month: dict[str, Decimal]) -> str:
    """The cheapest CDS storage type of a region's price book (CDS_SSD on a tie)."""
    offered = {k: v for k, v in per_month.items() if k in ("CDS_SSD", "CDS_PREMIUM")}
    if not offered:
        return "CDS_SSD"
    return min(sorted(offered, reverse=True), key=lambda kind: offered[kind])


def batch_problems(request: LaunchRequest) -> list[DomainError]:
    """Checks on the request itself: count, disk bounds, billing term."""
    problems = []
    if not 1 <= request.count <= MAX_BATCH:
        problems.append(
            _err(
                ErrorCode.INVALID_INPUT,
                f"count is 1 to {MAX_BATCH}; got {request.count}.",
                "count",
            )
        )
    if request.storage_type not in STORAGE_TYPES:
        problems.append(
            _err(ErrorCode.INVALID_INPUT, "Unknown storage type.", "systemDisk", "storageType")
        )
    if request.disk_gb > MAX_DISK_GB:
        problems.append(
            _err(
                ErrorCode.SYSTEM_DISK_TOO_LARGE,
                f"System disks are at most {MAX_DISK_GB} GB; got {request.disk_gb}.",
                "systemDisk",
                "sizeGb",
            )
        )
    if request.timing is Timing.PREPAID and request.months not in PREPAID_TERMS:
        allowed = ", ".join(str(m) for m in sorted(PREPAID_TERMS))
        problems.append(
            _err(
                ErrorCode.INVALID_TERM,
                f"Prepaid terms are {allowed} months; got {request.months}.",
                "billing",
                "months",
            )
        )
    if request.timing is Timing.POSTPAID and request.months is not None:
        problems.append(
            _err(
                ErrorCode.INVALID_INPUT,
                "Postpaid billing takes no months.",
                "billing",
                "months",
            )
        )
    return problems


def image_problems(
    image: ImageFacts, request: LaunchRequest, rebuild: bool = False
) -> list[DomainError]:
    """Checks of R51 that compare the image with the request (also used by rebuilds, R54).

    For a rebuild the disk is the instance's, so every problem points at ``imageId``.
    """
    problems = []
    image_field = "imageId"
    disk_field: tuple[str, ...] = ("imageId",) if rebuild else ("systemDisk", "sizeGb")
    kind_field: tuple[str, ...] = ("imageId",) if rebuild else ("systemDisk", "storageType")
    if image.status != "AVAILABLE":
        problems.append(
            _err(
                ErrorCode.IMAGE_NOT_AVAILABLE,
                f"Image {image.id} is {image.status}, not AVAILABLE.",
                image_field,
            )
        )
    if image.region != request.region:
        problems.append(
            _err(
                ErrorCode.IMAGE_REGION_MISMATCH,
                f"Image {image.id} is in region {image.region}, not {request.region}; "
                "copy it there first.",
                image_field,
            )
        )
    if request.flavor_generation is not None and image.generation != request.flavor_generation:
        problems.append(
            _err(
                ErrorCode.GENERATION_MISMATCH,
                f"Image {image.id} is for {image.generation} instances; the flavor is "
                f"{request.flavor_generation}.",
                image_field,
            )
        )
    if request.flavor_arch is not None and image.arch != request.flavor_arch:
        problems.append(
            _err(
                ErrorCode.IMAGE_FLAVOR_INCOMPATIBLE,
                f"Image {image.id} is built for {image.arch}; the flavor's processors are "
                f"{request.flavor_arch}. Choose a flavor or an image of the same architecture.",
                image_field,
            )
        )
    minimum = smallest_disk_gb(image.min_disk_gb, image.os_type)
    if request.disk_gb < minimum:
        problems.append(
            _err(
                ErrorCode.SYSTEM_DISK_TOO_SMALL,
                f"This image needs a system disk of at least {minimum} GB; got {request.disk_gb}.",
                *disk_field,
            )
        )
    if image.system_disk_kind == "CDS" and request.storage_type == "LOCAL_SSD":
        problems.append(
            _err(
                ErrorCode.LOCAL_DISK_NOT_ALLOWED,
                f"Image {image.id} was captured from a CDS disk; it needs a CDS system disk.",
                *kind_field,
            )
        )
    return problems


def add_months(start: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (clamped to the month's last day)."""
    month = start.month - 1 + months
    year = start.year + month // 12
    month = month % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def refund_minor(paid_minor: int, created_at: datetime, expires_at: datetime, now: datetime) -> int:
    """Refund on releasing a prepaid instance (R74), in fen.

    refund = paid - usedDays x (paid / termDays) x 1.5, at least 0; usedDays rounded up to
    whole days; rounded once to the fen, half up.
    """
    term = term_days(created_at, expires_at)
    used_days = max(0, math.ceil((now - created_at) / timedelta(days=1)))
    paid = from_minor(paid_minor)
    refund = paid - Decimal(used_days) * (paid / Decimal(term)) * REFUND_PENALTY
    if refund <= 0:
        return 0
    return to_minor(round_fen(refund))


def term_days(created_at: datetime, expires_at: datetime) -> int:
    """Length of a prepaid term in days (rounded up)."""
    return max(1, math.ceil((expires_at - created_at) / timedelta(days=1)))


def prorated_days(now: datetime, expires_at: datetime) -> int:
    """Whole days left in a prepaid term, rounded up (R72)."""
    return max(0, math.ceil((expires_at - now) / timedelta(days=1)))


def disk_kind(storage_type: str) -> str:
    """The kind of system disk an image or snapshot captured from it records (R13)."""
    return "LOCAL" if storage_type == "LOCAL_SSD" else "CDS"


#: states from which an instance can be imaged, snapshotted or rebuilt (R11, R54, R55)
SETTLED = frozenset({InstanceStatus.RUNNING.value, InstanceStatus.STOPPED.value})
