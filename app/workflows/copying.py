"""Copy custom images to other regions, and cancel copies in flight (R30-R34)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from app.database import saved
from app.errors import DomainError, ErrorCode, input_field, raise_all, shown
from app.images import governance, service
from app.images.lifecycle import check_name_and_description
from app.images.models import Image
from app.images.rules import Disk, ImageKind, ImageStatus, Source, SourceKind
from app.operations import service as operations_service
from app.operations.models import Operation
from app.operations.rules import OperationKind
from app.platform.viewer import Viewer
from app.policy import Policy
from app.regions import service as regions_service
from app.tags import service as tags_service
from app.workflows import jobs
from app.workflows.idempotent import once
from app.workflows.jobs import ImageJob

MAX_COPY_GB = 200


@dataclass(frozen=True)
class Copies:
    """The destination images and their operations, one per region."""

    images: list[Image] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)


def copy(
    *,
    session: Session,
    viewer: Viewer,
    image_id: str,
    regions: Sequence[str],
    name: str | None,
    client_token: str | None,
    policy: Policy,
    now: datetime,
    copy_tags: bool = False,
) -> Copies:
    """Copy an AVAILABLE custom image to one or more regions, all or nothing (R30-R33).

    Raises:
        DomainError / DomainErrors: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM,
            IMAGE_STATUS_FORBIDDEN, IMAGE_REPLICATING, IMAGE_TOO_LARGE_TO_COPY, INVALID_NAME,
            and per destination COPY_REGION_INVALID, IMAGE_QUOTA_EXCEEDED.
    """

    def work() -> Copies:
        # the account before the source image (R209); every destination's quota counts under
        # it (R155)
        quota = jobs.lock_image_quota(session, viewer.account_id, policy)
        source = _copyable(session, viewer, image_id)
        check_name_and_description(name, None)
        raise_all(_destination_problems(session, viewer, source, regions, quota))
        copies = Copies()
        for region in regions:
            image = _copy_of(source, name, region, now)
            copies.images.append(image)
            copies.operations.append(
                jobs.start(
                    session,
                    image,
                    OperationKind.COPY_IMAGE,
                    policy=policy,
                    now=now,
                    payload={"source": source.id},
                )
            )
        if copy_tags:
            targets = [image.id for image in copies.images]
            tags_service.copy(session=session, source_id=source.id, target_ids=targets, now=now)
        return copies

    return once(
        session=session,
        account_id=viewer.account_id,
        mutation="copyImage",
        token=client_token,
        request={"imageId": image_id, "destinationRegions": list(regions), "name": name}
        | ({"copyTags": True} if copy_tags else {}),
        now=now,
        result=Copies,
        work=work,
    )


def _copy_of(source: Image, name: str | None, region: str, now: datetime) -> Image:
    """The CREATING copy of ``source`` in ``region`` (copies keep the family)."""
    return service.image_from_source(
        Disk.of(source),
        name=name or source.name,
        description=source.description,
        kind=ImageKind.CUSTOM,
        owner_id=source.owner_id,
        region_code=region,
        source=Source(SourceKind.COPY, source.id, source.region_code),
        now=now,
        family=source.family,
    )


def _copyable(session: Session, viewer: Viewer, image_id: str) -> Image:
    source = governance.ready_custom(
        session=session, viewer=viewer, image_id=image_id, action="copied", again="copied again"
    )
    if (source.size_gb or 0) > MAX_COPY_GB:
        raise DomainError(
            ErrorCode.IMAGE_TOO_LARGE_TO_COPY,
            f"Images over {MAX_COPY_GB} GB cannot be copied; {source.id} is {source.size_gb} GB.",
            input_field("imageId"),
        )
    return source


def _destination_problems(
    session: Session, viewer: Viewer, source: Image, regions: Sequence[str], quota: int
) -> list[DomainError]:
    if not regions:
        return [
            DomainError(
                ErrorCode.INVALID_INPUT,
                "Name at least one destination region.",
                input_field("destinationRegions"),
            )
        ]
    known = {r.code: r for r in regions_service.list_by_codes(session=session, codes=regions)}
    problems: list[DomainError] = []
    seen: set[str] = set()
    for index, code in enumerate(regions):
        path = input_field("destinationRegions", str(index))
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
            input_field("imageId"),
        )
    for operation in session.exec(
        select(Operation)
        .where(
            Operation.kind == OperationKind.COPY_IMAGE.value,
            col(Operation.status).in_(operations_service.ACTIVE),
            col(Operation.target_ids).contains(f'"{image.id}"'),
        )
        .with_for_update()
    ):
        operations_service.cancel(session=session, operation=operation, now=now)
    image.deleted_at = now
    return saved(session, image)


class CopyImageHandler(ImageJob):
    """COPY_IMAGE: the destination image becomes AVAILABLE (the source's lock then lifts)."""
