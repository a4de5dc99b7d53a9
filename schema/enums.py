"""Every domain enum the schema exposes, registered once with its description."""

from __future__ import annotations

import enum
from enum import EnumMeta
from typing import TypeVar

import strawberry

from app.billing.pricing import ChargeKind, ChargeUnit, Timing
from app.billing.rules import OrderKind, TransactionKind
from app.errors import ErrorCode, WarningCode
from app.images import rules as images
from app.images.policy_rules import LifecycleAction
from app.instances.rules import InstanceStatus, ReleaseReason, StorageType
from app.marketplace.rules import ListingKind, ListingStatus
from app.operations.rules import OperationKind, OperationStatus
from app.platform.viewer import Role
from app.regions.rules import Arch
from app.snapshots.rules import SnapshotStatus
from app.webhooks.rules import WebhookDeliveryStatus, WebhookEventType

_DESCRIPTIONS: dict[EnumMeta, str] = {
    ErrorCode: "Why a mutation did not do what was asked (nothing was changed).",
    WarningCode: "Why an answer warns.",
    Role: "CUSTOMER, PROVIDER (may also sell) or ADMIN.",
    images.Generation: "BCC (virtual machines) or EBC (elastic bare metal).",
    images.ImageType: "An image's type as you see it: someone else's custom image is SHARED.",
    images.ImageStatus: "Where an image is in its life.",
    images.OsType: "Operating-system family.",
    images.DiskKind: "Kind of system disk an image was captured from.",
    images.DiskFormat: "Disk-image file format.",
    images.SourceKind: "How an image was made.",
    images.OsLicense: "The operating-system licence instances of an image are charged for.",
    images.DeprecationState: "Whether an image's deprecation has begun.",
    images.ShareStatus: "Where a share stands with its recipient.",
    images.ShareAcceptance: "How an account takes new shares of other accounts' images.",
    LifecycleAction: "What a lifecycle policy does to an image.",
    ChargeKind: "What a charge line is for.",
    ChargeUnit: "What one unit of a line's quantity is.",
    Timing: "PREPAID (a term paid up front) or POSTPAID (hourly).",
    OrderKind: "NEW_INSTANCES or REBUILD.",
    TransactionKind: "Kinds of balance movements.",
    InstanceStatus: "Where an instance is in its life.",
    Arch: "A processor architecture: X86_64 or ARM64.",
    ReleaseReason: "Who released an instance: OWNER, or the platform (ARREARS) once the "
    "account's balance stayed below zero past the grace period.",
    StorageType: "System disk storage type.",
    OperationKind: "What a long-running job does.",
    OperationStatus: "Where a job is.",
    SnapshotStatus: "Snapshot states.",
    ListingKind: "MARKET (third-party software, prepaid only) or INTEGRATION.",
    ListingStatus: "Where a listing is in review and publication.",
    WebhookEventType: "What a webhook delivery tells.",
    WebhookDeliveryStatus: "Where a webhook delivery stands.",
}

#: GraphQL names that differ from the Python class names (API.md)
_NAMES: dict[EnumMeta, str] = {
    Timing: "PaymentTiming",
    images.SourceKind: "ImageSourceKind",
    LifecycleAction: "ImageLifecycleAction",
}

for _enum, _description in _DESCRIPTIONS.items():
    strawberry.enum(_enum, name=_NAMES.get(_enum), description=_description)


E = TypeVar("E", bound=enum.Enum)


def member(kind: type[E], value: object) -> E:
    """The member of an enum with this value (a dictionary look-up: images are built from
    rows fifty at a time, and calling the enum costs ten times as much).
    """
    found = kind._value2member_map_.get(value)
    return found if found is not None else kind(value)  # type: ignore[return-value]
