"""Import a disk-image file from the object store as a custom image (R45-R49)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlmodel import Session

from app.errors import DomainError, ErrorCode, input_field, raise_all
from app.images import service
from app.images.inspection import ACCEPTED, ImportRefused, Verdict, inspect
from app.images.lifecycle import check_name_and_description, schedule_failed_removal
from app.images.models import Image, SupportedOs
from app.images.rules import Disk, ImageKind, OsLicense, OsType, Source, SourceKind, family_problem
from app.operations import service as operations_service
from app.operations.models import Operation
from app.operations.rules import OperationKind
from app.platform.viewer import Viewer
from app.policy import Policy
from app.regions import service as regions_service
from app.storage import service as storage_service
from app.storage.models import StoredObject
from app.storage.store import ObjectStore
from app.workflows import jobs
from app.workflows.capture import Started
from app.workflows.idempotent import once
from app.workflows.jobs import ImageJob

GIB = 1024**3
LICENSE_TYPES = ("PLATFORM", "BYOL")


@dataclass(frozen=True)
class ImportRequest:
    """importImage input."""

    region: str
    object_key: str
    name: str
    format: str
    generation: str
    os_type: str
    os_name: str
    os_version: str
    os_arch: str
    description: str = ""
    license_type: str | None = None
    client_token: str | None = None
    family: str | None = None


def _problems(session: Session, request: ImportRequest) -> list[DomainError]:
    problems: list[DomainError] = []
    if request.format not in ACCEPTED:
        problems.append(
            DomainError(
                ErrorCode.IMPORT_FORMAT_UNSUPPORTED,
                "Declare one of QCOW2, RAW, VMDK, VHD.",
                input_field("format"),
            )
        )
    supported = session.get(
        SupportedOs, (request.os_type, request.os_name, request.os_version, request.os_arch)
    )
    if supported is None:
        problems.append(
            DomainError(
                ErrorCode.IMPORT_OS_UNSUPPORTED,
                f"{request.os_name} {request.os_version} ({request.os_arch}) cannot be imported; "
                "see the supported list in the README.",
                input_field("os"),
            )
        )
    if request.os_type == OsType.WINDOWS.value and request.license_type not in LICENSE_TYPES:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT,
                "A Windows import declares licenseType PLATFORM (charged) or BYOL.",
                input_field("licenseType"),
            )
        )
    if request.os_type != OsType.WINDOWS.value and request.license_type is not None:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT,
                "licenseType is for Windows only.",
                input_field("licenseType"),
            )
        )
    if request.family is not None and (problem := family_problem(request.family)):
        problems.append(DomainError(ErrorCode.INVALID_INPUT, problem, input_field("family")))
    return problems


def start(
    *, session: Session, viewer: Viewer, request: ImportRequest, policy: Policy, now: datetime
) -> Started:
    """Check what can be checked at once, then start the inspecting IMPORT_IMAGE operation.

    Raises:
        DomainError / DomainErrors: REGION_NOT_FOUND, OBJECT_NOT_FOUND, OBJECT_REGION_MISMATCH,
            INVALID_NAME, IMPORT_OS_UNSUPPORTED, IMPORT_FORMAT_UNSUPPORTED, INVALID_INPUT,
            IMAGE_QUOTA_EXCEEDED.
    """
    regions_service.require(session=session, code=request.region)
    fingerprint = asdict(request)
    fingerprint.pop("client_token")

    def work() -> Started:
        stored = storage_service.get_owned(session=session, viewer=viewer, key=request.object_key)
        if stored.region_code != request.region:
            raise DomainError(
                ErrorCode.OBJECT_REGION_MISMATCH,
                f"Object {stored.key} is in region {stored.region_code}; upload it to "
                f"{request.region} to import it there.",
                input_field("objectKey"),
            )
        check_name_and_description(request.name, request.description)
        raise_all(_problems(session, request))
        jobs.check_image_quota(session, viewer.account_id, request.region, policy)
        image = _import_image(request, stored, viewer, now)
        inspect_it = {"object": stored.key, "region": stored.region_code, "format": request.format}
        operation = jobs.start(
            session, image, OperationKind.IMPORT_IMAGE, policy=policy, now=now, payload=inspect_it
        )
        return Started(image, operation)

    return once(
        session=session,
        account_id=viewer.account_id,
        mutation="importImage",
        token=request.client_token,
        request=fingerprint,
        now=now,
        result=Started,
        work=work,
    )


def _import_image(
    request: ImportRequest, stored: StoredObject, viewer: Viewer, now: datetime
) -> Image:
    """The CREATING image an import makes; its size is the file's until inspection."""
    size_gb = max(1, math.ceil(stored.size_bytes / GIB))
    disk = Disk(
        generation=request.generation,
        os_type=request.os_type,
        os_name=request.os_name,
        os_version=request.os_version,
        os_arch=request.os_arch,
        os_lang=None,
        min_disk_gb=size_gb,
        size_gb=size_gb,
        system_disk_kind=None,
        charge_os_license=(
            OsLicense.WINDOWS if request.license_type == "PLATFORM" else OsLicense.NONE
        ).value,
        charge_listing_id=None,
    )
    return service.image_from_source(
        disk,
        name=request.name,
        description=request.description,
        kind=ImageKind.CUSTOM,
        owner_id=viewer.account_id,
        region_code=request.region,
        source=Source(SourceKind.IMPORT, stored.key, stored.region_code),
        now=now,
        family=request.family,
    )


class ImportHandler(ImageJob):
    """IMPORT_IMAGE: inspect the bytes (outside any transaction), then record the verdict."""

    prepares = True

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def prepare(self, operation: Operation) -> Verdict:
        """Read the object through the inspectors; raises ImportRefused on any failed check."""
        payload = operations_service.payload(operation)
        try:
            stream = self.store.open(payload["region"], payload["object"])
        except FileNotFoundError as exc:
            raise ImportRefused(
                ErrorCode.OBJECT_NOT_FOUND,
                f"The bytes of object {payload['object']} are no longer in the store.",
                ["object: not found in the store"],
            ) from exc
        with stream:
            return inspect(stream, payload["format"])

    def complete(
        self, session: Session, operation: Operation, now: datetime, prepared: object
    ) -> None:
        """Make the image AVAILABLE with what the inspection found (R49)."""
        if not isinstance(prepared, Verdict):
            raise DomainError(ErrorCode.IMPORT_FORMAT_UNSUPPORTED, "The file was not inspected.")
        super().complete(session, operation, now, prepared)

    def finish(self, image: Image, prepared: object) -> None:
        """Record the format, digest and size the inspection found."""
        assert isinstance(prepared, Verdict)
        size_gb = max(1, math.ceil(prepared.virtual_size_bytes / GIB))
        image.disk_format = prepared.disk_format
        image.sha256 = prepared.sha256
        image.virtual_size_bytes = prepared.virtual_size_bytes
        image.size_gb = size_gb
        image.min_disk_gb = size_gb

    def checks(self, error: DomainError) -> list[str]:
        """Every failed inspection check."""
        return error.checks if isinstance(error, ImportRefused) else []

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """Mark the image CREATE_FAILED with every failed check (R49); it is shown to its
        owner for a day, then purged, while the operation keeps the failure (R193).
        """
        super().fail(session, operation, error, now)
        for image in jobs.target_images(session, operation):
            schedule_failed_removal(image, now)
            session.add(image)
