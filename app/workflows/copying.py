"""Copy custom images to other regions, and cancel copies in flight (R30-R34)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app import idempotency
from app.accounts.rules import Viewer
from app.errors import DomainError, ErrorCode, raise_all, shown
from app.ids import new_id
from app.images import service
from app.images.lifecycle import check_name_and_description
from app.images.models import Image
from app.images.rules import ImageKind, ImageStatus, SourceKind
from app.operations import service as operations_service
from app.operations.models import Operation
from app.regions import service as regions_service

COPY_IMAGE = "COPY_IMAGE"
MAX_COPY_GB = 200


@dataclass(frozen=True)
class Copies:
    """The destination images and their operations, one per region."""

    images: list[Image]
    operations: list[Operation]


def copy(
    *,
    session: Session,
    viewer: Viewer,
    image_id: str,
    regions: Sequence[str],
    name: str | None,
    client_token: str | None,
    quota: int,
    now: datetime,
    seconds: float,
    seconds_per_gb: float,
) -> Copies:
    """Copy an AVAILABLE custom image to one or more regions, all or nothing (R30-R33).

    Raises:
        DomainError / DomainErrors: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM,
            IMAGE_STATUS_FORBIDDEN, IMAGE_REPLICATING, IMAGE_TOO_LARGE_TO_COPY, INVALID_NAME,
            and per destination COPY_REGION_INVALID, IMAGE_QUOTA_EXCEEDED.
    """
    request = {"imageId": image_id, "destinationRegions": list(regions), "name": name}
    if client_token is not None:
        replay = idempotency.claim(
            session=session,
            account_id=viewer.account_id,
            mutation="copyImage",
            token=client_token,
            request=request,
            now=now,
        )
        if replay is not None:
            return _replay(session, replay)
    source = service.owned_custom(
        session=session, viewer=viewer, image_id=image_id, action="copied"
    )
    if source.status != ImageStatus.AVAILABLE.value:
        raise DomainError(
            ErrorCode.IMAGE_STATUS_FORBIDDEN,
            f"Image {source.id} is {source.status}; only AVAILABLE images can be copied.",
            service.field("imageId"),
        )
    service.refuse_if_replicating(session, source, "copied again")
    if (source.size_gb or 0) > MAX_COPY_GB:
        raise DomainError(
            ErrorCode.IMAGE_TOO_LARGE_TO_COPY,
            f"Images over {MAX_COPY_GB} GB cannot be copied; {source.id} is {source.size_gb} GB.",
            service.field("imageId"),
        )
    check_name_and_description(name, None)
    raise_all(_destination_problems(session, viewer, source, regions, quota))
    images: list[Image] = []
    operations: list[Operation] = []
    for region in regions:
        copy_image = Image(
            id=new_id("m"),
            name=name or source.name,
            description=source.description,
            kind=ImageKind.CUSTOM.value,
            generation=source.generation,
            region_code=region,
            status=ImageStatus.CREATING.value,
            progress=0,
            os_type=source.os_type,
            os_name=source.os_name,
            os_version=source.os_version,
            os_arch=source.os_arch,
            os_lang=source.os_lang,
            min_disk_gb=source.min_disk_gb,
            size_gb=source.size_gb,
            created_at=now,
            owner_id=viewer.account_id,
            source_kind=SourceKind.COPY.value,
            source_id=source.id,
            source_region=source.region_code,
            system_disk_kind=source.system_disk_kind,
            charge_os_license=source.charge_os_license,
            charge_listing_id=source.charge_listing_id,
            disk_format=source.disk_format,
            sha256=source.sha256,
            virtual_size_bytes=source.virtual_size_bytes,
        )
        session.add(copy_image)
        session.flush()
        images.append(copy_image)
        operations.append(
            operations_service.create(
                session=session,
                kind=COPY_IMAGE,
                owner_id=viewer.account_id,
                target_ids=[copy_image.id],
                now=now,
                duration_seconds=operations_service.duration(
                    seconds, seconds_per_gb, source.size_gb
                ),
                payload={"source": source.id},
            )
        )
    if client_token is not None:
        idempotency.remember(
            session=session,
            account_id=viewer.account_id,
            mutation="copyImage",
            token=client_token,
            result={"images": [i.id for i in images], "operations": [o.id for o in operations]},
        )
    return Copies(images, operations)


def _destination_problems(
    session: Session, viewer: Viewer, source: Image, regions: Sequence[str], quota: int
) -> list[DomainError]:
    if not regions:
        return [
            DomainError(
                ErrorCode.INVALID_INPUT,
                "Name at least one destination region.",
                service.field("destinationRegions"),
            )
        ]
    known = {r.code: r for r in regions_service.list_by_codes(session=session, codes=regions)}
    problems: list[DomainError] = []
    seen: set[str] = set()
    for index, code in enumerate(regions):
        path = service.field("destinationRegions", str(index))
        region = known.get(code)
        message = None
        if region is None:
            message = f"There is no region {shown(code)}."
        elif code == source.region_code:
            message = f"Image {source.id} is already in {code}; pick another region."
        elif not region.copy_supported:
            message = f"Region {code} does not accept image copies."
        elif code in seen:
            message = f"Region {code} is named twice."
        if message is not None:
            problems.append(DomainError(ErrorCode.COPY_REGION_INVALID, message, path))
            continue
        seen.add(code)
        try:
            service.check_quota(
                session=session, owner_id=viewer.account_id, region=code, limit=quota, path=path
            )
        except DomainError as exc:
            problems.append(exc)
    return problems


def _replay(session: Session, replay: dict[str, Any]) -> Copies:
    images = [session.get(Image, i) for i in replay["images"]]
    operations = [session.get(Operation, o) for o in replay["operations"]]
    return Copies([i for i in images if i], [o for o in operations if o])


def cancel(*, session: Session, viewer: Viewer, image_id: str, now: datetime) -> Image:
    """Cancel a copy in flight by its destination image; the destination disappears (R34).

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_STATUS_FORBIDDEN.
    """
    image = service.owned_custom(
        session=session, viewer=viewer, image_id=image_id, action="cancelled"
    )
    if image.source_kind != SourceKind.COPY.value or image.status != ImageStatus.CREATING.value:
        raise DomainError(
            ErrorCode.IMAGE_STATUS_FORBIDDEN,
            f"Image {image.id} is not a copy in flight ({image.status}); nothing to cancel.",
            service.field("imageId"),
        )
    for operation in session.exec(
        select(Operation)
        .where(
            Operation.kind == COPY_IMAGE,
            col(Operation.status).in_(operations_service.ACTIVE),
            col(Operation.target_ids).contains(f'"{image.id}"'),
        )
        .with_for_update()
    ):
        operations_service.cancel(session=session, operation=operation, now=now)
    image.deleted_at = now
    session.add(image)
    session.flush()
    return image


class CopyImageHandler:
    """COPY_IMAGE: the destination image becomes AVAILABLE (the source's lock then lifts)."""

    def progress(self, session: Session, operation: Operation) -> None:
        """Show progress on the destination image."""
        for target in operations_service.targets(operation):
            image = session.get(Image, target)
            if image is not None and image.status == ImageStatus.CREATING.value:
                image.progress = operation.progress
                session.add(image)

    def complete(self, session: Session, operation: Operation, now: datetime) -> None:
        """Finish the copy."""
        for target in operations_service.targets(operation):
            image = session.get(Image, target)
            if image is not None and image.status == ImageStatus.CREATING.value:
                image.status = ImageStatus.AVAILABLE.value
                image.progress = None
                session.add(image)

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """Mark the destination failed."""
        for target in operations_service.targets(operation):
            image = session.get(Image, target)
            if image is not None:
                image.status = ImageStatus.CREATE_FAILED.value
                image.failure_code = error.code.value
                image.failure_message = error.message
                session.add(image)


operations_service.register(COPY_IMAGE, CopyImageHandler())
