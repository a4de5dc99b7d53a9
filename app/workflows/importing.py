"""Import a disk-image file from the object store as a custom image (R45-R49)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app import idempotency
from app.accounts.rules import Viewer
from app.errors import DomainError, ErrorCode, raise_all
from app.ids import new_id
from app.images import service
from app.images.inspection import ACCEPTED, ImportRefused, Verdict, inspect
from app.images.lifecycle import Started, check_name_and_description
from app.images.models import Image, SupportedOs
from app.images.rules import ImageKind, ImageStatus, SourceKind
from app.operations import service as operations_service
from app.operations.models import Operation
from app.storage import service as storage_service
from app.storage.store import ObjectStore

IMPORT_IMAGE = "IMPORT_IMAGE"
GIB = 1024**3
LICENSE_TYPES = ("PLATFORM", "BYOL")
field = service.field


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


def _problems(session: Session, request: ImportRequest) -> list[DomainError]:
    problems: list[DomainError] = []
    if request.format not in ACCEPTED:
        problems.append(
            DomainError(
                ErrorCode.IMPORT_FORMAT_UNSUPPORTED,
                "Declare one of QCOW2, RAW, VMDK, VHD.",
                field("format"),
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
                field("os"),
            )
        )
    if request.os_type == "WINDOWS" and request.license_type not in LICENSE_TYPES:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT,
                "A Windows import declares licenseType PLATFORM (charged) or BYOL.",
                field("licenseType"),
            )
        )
    if request.os_type != "WINDOWS" and request.license_type is not None:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT, "licenseType is for Windows only.", field("licenseType")
            )
        )
    return problems


def start(
    *,
    session: Session,
    viewer: Viewer,
    request: ImportRequest,
    quota: int,
    now: datetime,
    seconds: float,
    seconds_per_gb: float,
) -> Started:
    """Check what can be checked at once, then start the inspecting IMPORT_IMAGE operation.

    Raises:
        DomainError / DomainErrors: OBJECT_NOT_FOUND, OBJECT_REGION_MISMATCH, INVALID_NAME,
            IMPORT_OS_UNSUPPORTED, IMPORT_FORMAT_UNSUPPORTED, INVALID_INPUT, IMAGE_QUOTA_EXCEEDED.
    """
    if request.client_token is not None:
        fingerprint = asdict(request)
        fingerprint.pop("client_token")
        replay = idempotency.claim(
            session=session,
            account_id=viewer.account_id,
            mutation="importImage",
            token=request.client_token,
            request=fingerprint,
            now=now,
        )
        if replay is not None:
            image = session.get(Image, replay["image"])
            operation = session.get(Operation, replay["operation"])
            if image is None or operation is None:
                raise AssertionError("an idempotency record points at rows that exist")
            return Started(image, operation)
    stored = storage_service.get_owned(session=session, viewer=viewer, key=request.object_key)
    if stored.region_code != request.region:
        raise DomainError(
            ErrorCode.OBJECT_REGION_MISMATCH,
            f"Object {stored.key} is in region {stored.region_code}; upload it to "
            f"{request.region} to import it there.",
            field("objectKey"),
        )
    check_name_and_description(request.name, request.description)
    raise_all(_problems(session, request))
    service.check_quota(
        session=session, owner_id=viewer.account_id, region=request.region, limit=quota
    )
    size_gb = max(1, math.ceil(stored.size_bytes / GIB))
    image = Image(
        id=new_id("m"),
        name=request.name,
        description=request.description,
        kind=ImageKind.CUSTOM.value,
        generation=request.generation,
        region_code=request.region,
        status=ImageStatus.CREATING.value,
        progress=0,
        os_type=request.os_type,
        os_name=request.os_name,
        os_version=request.os_version,
        os_arch=request.os_arch,
        min_disk_gb=size_gb,
        size_gb=size_gb,
        created_at=now,
        owner_id=viewer.account_id,
        source_kind=SourceKind.IMPORT.value,
        source_id=stored.key,
        source_region=stored.region_code,
        charge_os_license="WINDOWS" if request.license_type == "PLATFORM" else "NONE",
    )
    session.add(image)
    session.flush()
    operation = operations_service.create(
        session=session,
        kind=IMPORT_IMAGE,
        owner_id=viewer.account_id,
        target_ids=[image.id],
        now=now,
        duration_seconds=operations_service.duration(seconds, seconds_per_gb, size_gb),
        payload={"object": stored.key, "region": stored.region_code, "format": request.format},
    )
    if request.client_token is not None:
        idempotency.remember(
            session=session,
            account_id=viewer.account_id,
            mutation="importImage",
            token=request.client_token,
            result={"image": image.id, "operation": operation.id},
        )
    return Started(image, operation)


class ImportHandler:
    """IMPORT_IMAGE: inspect the bytes (outside any transaction), then record the verdict."""

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

    def progress(self, session: Session, operation: Operation) -> None:
        """Show the operation's progress on the image."""
        for image in _targets(session, operation):
            if image.status == ImageStatus.CREATING.value:
                image.progress = operation.progress
                session.add(image)

    def complete(
        self, session: Session, operation: Operation, now: datetime, prepared: Any = None
    ) -> None:
        """Make the image AVAILABLE with what the inspection found (R49)."""
        if not isinstance(prepared, Verdict):
            raise DomainError(ErrorCode.IMPORT_FORMAT_UNSUPPORTED, "The file was not inspected.")
        for image in _targets(session, operation):
            if image.status != ImageStatus.CREATING.value:
                continue
            size_gb = max(1, math.ceil(prepared.virtual_size_bytes / GIB))
            image.status = ImageStatus.AVAILABLE.value
            image.progress = None
            image.disk_format = prepared.disk_format
            image.sha256 = prepared.sha256
            image.virtual_size_bytes = prepared.virtual_size_bytes
            image.size_gb = size_gb
            image.min_disk_gb = size_gb
            session.add(image)

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """CREATE_FAILED with every failed check named."""
        checks = error.checks if isinstance(error, ImportRefused) else []
        for image in _targets(session, operation):
            image.status = ImageStatus.CREATE_FAILED.value
            image.progress = None
            image.failure_code = error.code.value
            image.failure_message = error.message
            image.failure_checks = json.dumps(checks)
            session.add(image)


def _targets(session: Session, operation: Operation) -> list[Image]:
    ids = operations_service.targets(operation)
    return list(session.exec(select(Image).where(Image.id.in_(ids))))  # type: ignore[attr-defined]
