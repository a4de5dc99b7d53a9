"""Pure image rules: names, descriptions, and the type an image has for a viewer."""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class ImageKind(enum.Enum):
    """What an image is, stored on its row."""

    PUBLIC = "PUBLIC"
    CUSTOM = "CUSTOM"
    INTEGRATION = "INTEGRATION"
    MARKET = "MARKET"


class ImageType(enum.Enum):
    """The type an image has for the viewer (R2): SHARED is a CUSTOM image of someone else."""

    PUBLIC = "PUBLIC"
    CUSTOM = "CUSTOM"
    SHARED = "SHARED"
    INTEGRATION = "INTEGRATION"
    MARKET = "MARKET"


class ImageStatus(enum.Enum):
    """Image states (R4)."""

    CREATING = "CREATING"
    AVAILABLE = "AVAILABLE"
    CREATE_FAILED = "CREATE_FAILED"
    NOT_AVAILABLE = "NOT_AVAILABLE"
    ERROR = "ERROR"


#: kinds every caller, even anonymous, may see (R5)
CATALOGUE_KINDS = (ImageKind.PUBLIC.value, ImageKind.INTEGRATION.value, ImageKind.MARKET.value)

_NAME = re.compile(r"^[A-Za-z\u4e00-\u9fff][A-Za-z0-9\u4e00-\u9fff\-_/.]{0,64}$")
MAX_DESCRIPTION = 256


def name_problem(name: str) -> str | None:
    """Explain why an image name breaks R7, or return None if it is acceptable."""
    if not 1 <= len(name) <= 65:
        return f"Image names are 1 to 65 characters long; this one has {len(name)}."
    if not _NAME.match(name):
        return (
            "Image names start with a letter (Latin or Chinese) and contain only letters, "
            "digits, '-', '_', '/' and '.'."
        )
    return None


def description_problem(description: str) -> str | None:
    """Explain why a description breaks R7, or return None."""
    if len(description) > MAX_DESCRIPTION:
        return f"Descriptions are at most {MAX_DESCRIPTION} characters; got {len(description)}."
    return None


def type_for_viewer(
    kind: str, owner_id: str, viewer_account_id: str | None, viewer_is_admin: bool = False
) -> ImageType:
    """Return the image's type as the viewer sees it: someone else's custom image is SHARED.

    Admins see custom images as CUSTOM: they are operators, not recipients.
    """
    if kind == ImageKind.CUSTOM.value and owner_id != viewer_account_id and not viewer_is_admin:
        return ImageType.SHARED
    return ImageType(kind)


class Generation(enum.Enum):
    """Instance generation an image or flavor belongs to."""

    BCC = "BCC"
    EBC = "EBC"


#: the columns a row records an operating system in (an image's, a snapshot's)
OS_COLUMNS = ("os_type", "os_name", "os_version", "os_arch", "os_lang")


class OsType(enum.Enum):
    """Operating-system family."""

    LINUX = "LINUX"
    WINDOWS = "WINDOWS"


class DiskKind(enum.Enum):
    """Kind of system disk an image was captured from."""

    LOCAL = "LOCAL"
    CDS = "CDS"


class DiskFormat(enum.Enum):
    """Disk-image file formats accepted for import."""

    QCOW2 = "QCOW2"
    RAW = "RAW"
    VMDK = "VMDK"
    VHD = "VHD"


class SourceKind(enum.Enum):
    """How an image was made (R3)."""

    PLATFORM = "PLATFORM"
    INSTANCE = "INSTANCE"
    SNAPSHOT = "SNAPSHOT"
    IMPORT = "IMPORT"
    COPY = "COPY"
    LISTING = "LISTING"


@dataclass(frozen=True)
class Source:
    """What an image was made from: the kind of source, and its id and region (a platform
    image has neither).
    """

    kind: SourceKind
    id: str | None = None
    region: str | None = None


class OsLicense(enum.Enum):
    """The OS licence an image's charge root carries (R70)."""

    NONE = "NONE"
    WINDOWS = "WINDOWS"


@dataclass(frozen=True)
class Disk:
    """What a new image inherits from what it is made of: the disk and OS it holds and the
    charges that travel with it (R70).
    """

    generation: str
    os_type: str
    os_name: str
    os_version: str
    os_arch: str
    os_lang: str | None
    min_disk_gb: int
    size_gb: int | None
    system_disk_kind: str | None
    charge_os_license: str
    charge_listing_id: str | None
    disk_format: str | None = None
    sha256: str | None = None
    virtual_size_bytes: int | None = None

    @classmethod
    def of(cls, image: Any) -> Disk:
        """The disk of an existing image (for a copy or a published image)."""
        return cls(**{f.name: getattr(image, f.name) for f in dataclasses.fields(cls)})


#: the largest system disk an instance can have, so the largest minimum disk it can boot
MAX_SYSTEM_DISK_GB = 2048

FAMILY = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def family_problem(family: str) -> str | None:
    """Why a family name cannot be used (1-63 of a-z, 0-9 and '-', starting with a letter)."""
    if FAMILY.match(family) is None:
        return "A family is 1 to 63 lower-case letters, digits and hyphens, starting with a letter."
    return None


def is_deprecated(image: Any, now: datetime) -> bool:
    """Whether an image's deprecation is in force (not only scheduled) at ``now``."""
    return image.deprecate_at is not None and image.deprecate_at <= now


def deprecation_message(image: Any, now: datetime, replacement_id: str | None) -> str | None:
    """What an answer that launches or rebuilds onto a deprecated image says about it;
    ``replacement_id`` is the replacement as the viewer sees it (None: none, or hidden from
    them), so the message names no image the viewer may not see (R124).
    """
    if not is_deprecated(image, now):
        return None
    instead = f"; use {replacement_id} instead" if replacement_id else ""
    since = image.deprecate_at.isoformat(timespec="seconds")
    return f"Image {image.id} is deprecated since {since}{instead}."


class DeprecationState(enum.Enum):
    """Where an image's deprecation is (R110)."""

    SCHEDULED = "SCHEDULED"
    DEPRECATED = "DEPRECATED"


class ShareStatus(enum.Enum):
    """Where a share stands with its recipient (R172, R198)."""

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"


class ShareAcceptance(enum.Enum):
    """How an account takes new shares: at once (AUTOMATIC) or as invitations (MANUAL)."""

    AUTOMATIC = "AUTOMATIC"
    MANUAL = "MANUAL"
