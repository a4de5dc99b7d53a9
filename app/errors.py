"""Domain errors: an ErrorCode and a message, raised by services, mapped once to userErrors."""

from __future__ import annotations

import enum
from collections.abc import Sequence


class ErrorCode(enum.Enum):
    """Expected failures of a mutation (API.md ``ErrorCode``)."""

    INVALID_INPUT = "INVALID_INPUT"
    INVALID_NAME = "INVALID_NAME"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    IMAGE_NOT_FOUND = "IMAGE_NOT_FOUND"
    INSTANCE_NOT_FOUND = "INSTANCE_NOT_FOUND"
    SNAPSHOT_NOT_FOUND = "SNAPSHOT_NOT_FOUND"
    LISTING_NOT_FOUND = "LISTING_NOT_FOUND"
    REGION_NOT_FOUND = "REGION_NOT_FOUND"
    ZONE_NOT_FOUND = "ZONE_NOT_FOUND"
    FLAVOR_NOT_FOUND = "FLAVOR_NOT_FOUND"
    OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
    TOKEN_NOT_FOUND = "TOKEN_NOT_FOUND"
    OPERATION_NOT_FOUND = "OPERATION_NOT_FOUND"
    LIFECYCLE_POLICY_NOT_FOUND = "LIFECYCLE_POLICY_NOT_FOUND"
    WEBHOOK_ENDPOINT_NOT_FOUND = "WEBHOOK_ENDPOINT_NOT_FOUND"
    WEBHOOK_DELIVERY_NOT_FOUND = "WEBHOOK_DELIVERY_NOT_FOUND"
    INVALID_ACCOUNT = "INVALID_ACCOUNT"
    IMAGE_NOT_CUSTOM = "IMAGE_NOT_CUSTOM"
    IMAGE_CREATING = "IMAGE_CREATING"
    IMAGE_SHARED = "IMAGE_SHARED"
    IMAGE_REPLICATING = "IMAGE_REPLICATING"
    IMAGE_STATUS_FORBIDDEN = "IMAGE_STATUS_FORBIDDEN"
    IMAGE_NOT_AVAILABLE = "IMAGE_NOT_AVAILABLE"
    IMAGE_TOO_LARGE_TO_COPY = "IMAGE_TOO_LARGE_TO_COPY"
    IMAGE_REGION_MISMATCH = "IMAGE_REGION_MISMATCH"
    GENERATION_MISMATCH = "GENERATION_MISMATCH"
    IMAGE_FLAVOR_INCOMPATIBLE = "IMAGE_FLAVOR_INCOMPATIBLE"
    IMAGE_QUOTA_EXCEEDED = "IMAGE_QUOTA_EXCEEDED"
    SHARE_QUOTA_EXCEEDED = "SHARE_QUOTA_EXCEEDED"
    RECIPIENT_QUOTA_EXCEEDED = "RECIPIENT_QUOTA_EXCEEDED"
    CANNOT_SHARE_TO_OWNER = "CANNOT_SHARE_TO_OWNER"
    SHARE_DECLINED = "SHARE_DECLINED"
    SHARE_INVITATIONS_FULL = "SHARE_INVITATIONS_FULL"
    LIFECYCLE_POLICY_QUOTA_EXCEEDED = "LIFECYCLE_POLICY_QUOTA_EXCEEDED"
    WEBHOOK_ENDPOINT_QUOTA_EXCEEDED = "WEBHOOK_ENDPOINT_QUOTA_EXCEEDED"
    WEBHOOK_RATE_LIMITED = "WEBHOOK_RATE_LIMITED"
    COPY_REGION_INVALID = "COPY_REGION_INVALID"
    INSTANCE_STATUS_FORBIDDEN = "INSTANCE_STATUS_FORBIDDEN"
    SNAPSHOT_STATUS_FORBIDDEN = "SNAPSHOT_STATUS_FORBIDDEN"
    SNAPSHOT_IN_USE = "SNAPSHOT_IN_USE"
    SYSTEM_DISK_TOO_SMALL = "SYSTEM_DISK_TOO_SMALL"
    SYSTEM_DISK_TOO_LARGE = "SYSTEM_DISK_TOO_LARGE"
    LOCAL_DISK_NOT_ALLOWED = "LOCAL_DISK_NOT_ALLOWED"
    MARKET_IMAGE_POSTPAID_UNSUPPORTED = "MARKET_IMAGE_POSTPAID_UNSUPPORTED"
    PLAN_TERM_NOT_OFFERED = "PLAN_TERM_NOT_OFFERED"
    INVALID_TERM = "INVALID_TERM"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    ACCOUNT_IN_ARREARS = "ACCOUNT_IN_ARREARS"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    IMPORT_FORMAT_MISMATCH = "IMPORT_FORMAT_MISMATCH"
    IMPORT_FORMAT_UNSUPPORTED = "IMPORT_FORMAT_UNSUPPORTED"
    IMPORT_UNSAFE_IMAGE = "IMPORT_UNSAFE_IMAGE"
    IMPORT_TOO_LARGE = "IMPORT_TOO_LARGE"
    IMPORT_OS_UNSUPPORTED = "IMPORT_OS_UNSUPPORTED"
    OBJECT_REGION_MISMATCH = "OBJECT_REGION_MISMATCH"
    UPLOAD_TOO_LARGE = "UPLOAD_TOO_LARGE"
    LISTING_STATUS_FORBIDDEN = "LISTING_STATUS_FORBIDDEN"
    NOT_A_PROVIDER = "NOT_A_PROVIDER"
    CLOCK_NOT_SIMULATED = "CLOCK_NOT_SIMULATED"
    STORAGE_QUOTA_EXCEEDED = "STORAGE_QUOTA_EXCEEDED"
    OBJECT_IN_USE = "OBJECT_IN_USE"
    IMAGE_DELETION_PROTECTED = "IMAGE_DELETION_PROTECTED"
    IMAGE_DISABLED = "IMAGE_DISABLED"
    IMAGE_NOT_IN_RECYCLE_BIN = "IMAGE_NOT_IN_RECYCLE_BIN"
    IMAGE_IN_LISTING = "IMAGE_IN_LISTING"
    FAMILY_EMPTY = "FAMILY_EMPTY"
    TAG_LIMIT_EXCEEDED = "TAG_LIMIT_EXCEEDED"
    INVALID_TAG = "INVALID_TAG"
    IMAGE_SOURCE_AMBIGUOUS = "IMAGE_SOURCE_AMBIGUOUS"


class WarningCode(enum.Enum):
    """Why an answer that did what was asked still warns."""

    IMAGE_DEPRECATED = "IMAGE_DEPRECATED"


#: the most of a client's input an error message repeats
SHOWN_CHARACTERS = 64


def shown(value: object) -> str:
    """A client's input as error messages quote it: at most 64 characters, then an ellipsis."""
    text = str(value)
    if len(text) > SHOWN_CHARACTERS:
        text = text[:SHOWN_CHARACTERS] + "…"
    return repr(text)


def input_field(*path: str) -> tuple[str, ...]:
    """The path of a mutation's input field as errors name it: ``("input", *path)``."""
    return ("input", *path)


def not_found(code: ErrorCode, noun: str, value: object, *path: str) -> DomainError:
    """``There is no <noun> <value>.``, about the input field at ``path`` (if given)."""
    return DomainError(
        code, f"There is no {noun} {shown(value)}.", input_field(*path) if path else None
    )


def not_owner(noun: str, resource_id: str, doing: str, path: Sequence[str]) -> DomainError:
    """PERMISSION_DENIED: ``Only the owner of <noun> <id> can <doing>.``, about ``path``."""
    return DomainError(
        ErrorCode.PERMISSION_DENIED, f"Only the owner of {noun} {resource_id} can {doing}.", path
    )


class DomainError(Exception):
    """An expected failure: nothing was changed, and the caller is told why.

    ``field`` is the path of the offending input below the mutation's arguments,
    e.g. ``("input", "accountIds", "2")``.
    """

    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field: tuple[str, ...] | None = tuple(field) if field is not None else None


class Unauthenticated(Exception):
    """The request needs a valid bearer token and has none."""


class Forbidden(Exception):
    """The authenticated caller may not do this at all (role-level refusal of a query)."""


class NotFound(Exception):
    """What a subscription followed is gone, or no longer the caller's to see."""

    def __init__(self, message: str, code: ErrorCode) -> None:
        super().__init__(message)
        self.extensions = {"code": code.value}


class BadRequest(Exception):
    """A query argument is malformed (bad id, cursor or page size); answered as BAD_USER_INPUT."""

    def __init__(self, message: str, argument: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.extensions = {"argument": list(argument)} if argument else {}


class DomainErrors(DomainError):
    """Several expected failures found together; reported as several userErrors."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        first = errors[0]
        super().__init__(first.code, first.message, first.field)
        self.errors = list(errors)


def raise_all(errors: Sequence[DomainError]) -> None:
    """Raise the errors found, if any (one DomainError, or DomainErrors for several)."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise DomainErrors(errors)
