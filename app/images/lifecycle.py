"""Custom images: create from an instance or a snapshot, rename, delete (R10-R14, R40-R43)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app import idempotency
from app.accounts.rules import Viewer
from app.errors import DomainError, ErrorCode, raise_all, shown
from app.ids import is_id, new_id
from app.images import service
from app.images.models import Image, ImageShare
from app.images.rules import (
    ImageKind,
    ImageStatus,
    SourceKind,
    description_problem,
    name_problem,
)
from app.instances import rules as instance_rules
from app.instances import service as instances_service
from app.instances.models import Instance
from app.operations import service as operations_service
from app.operations.models import Operation
from app.snapshots import service as snapshots_service
from app.snapshots.models import Snapshot

CREATE_IMAGE = "CREATE_IMAGE"
field = service.field


@dataclass(frozen=True)
class NewImage:
    """createImage input."""

    name: str
    description: str = ""
    instance_id: str | None = None
    snapshot_id: str | None = None
    client_token: str | None = None


@dataclass(frozen=True)
class Started:
    """An image being created and its operation."""

    image: Image
    operation: Operation


def check_name_and_description(name: str | None, description: str | None) -> None:
    """Refuse a name breaking R7 or a description over 256 characters.

    Raises:
        DomainError / DomainErrors: INVALID_NAME, INVALID_INPUT.
    """
    problems = []
    if name is not None and (problem := name_problem(name)):
        problems.append(DomainError(ErrorCode.INVALID_NAME, problem, field("name")))
    if description is not None and (problem := description_problem(description)):
        problems.append(DomainError(ErrorCode.INVALID_INPUT, problem, field("description")))
    raise_all(problems)


def create(
    *,
    session: Session,
    viewer: Viewer,
    new: NewImage,
    quota: int,
    now: datetime,
    seconds: float,
    seconds_per_gb: float,
) -> Started:
    """Create a custom image from an instance or a snapshot (exactly one; R10-R14).

    Raises:
        DomainError: INVALID_INPUT, INVALID_NAME, IMAGE_QUOTA_EXCEEDED, INSTANCE_NOT_FOUND,
            INSTANCE_STATUS_FORBIDDEN, SNAPSHOT_NOT_FOUND, SNAPSHOT_STATUS_FORBIDDEN.
    """
    if (new.instance_id is None) == (new.snapshot_id is None):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Give exactly one of instanceId and snapshotId.",
            field("instanceId" if new.instance_id is not None else "snapshotId"),
        )
    request = {
        "name": new.name,
        "description": new.description,
        "instanceId": new.instance_id,
        "snapshotId": new.snapshot_id,
    }
    if new.client_token is not None:
        replay = idempotency.claim(
            session=session,
            account_id=viewer.account_id,
            mutation="createImage",
            token=new.client_token,
            request=request,
            now=now,
        )
        if replay is not None:
            return _replay(session, replay)
    check_name_and_description(new.name, new.description)
    if new.instance_id is not None:
        image, payload = _from_instance(session, viewer, new.instance_id, now)
    else:
        image, payload = _from_snapshot(session, viewer, new.snapshot_id or "", now)
    service.check_quota(
        session=session,
        owner_id=viewer.account_id,
        region=image.region_code,
        limit=quota,
    )
    image.name, image.description = new.name, new.description
    session.add(image)
    session.flush()
    operation = operations_service.create(
        session=session,
        kind=CREATE_IMAGE,
        owner_id=viewer.account_id,
        target_ids=[image.id],
        now=now,
        duration_seconds=operations_service.duration(seconds, seconds_per_gb, image.size_gb),
        payload=payload,
    )
    if new.client_token is not None:
        idempotency.remember(
            session=session,
            account_id=viewer.account_id,
            mutation="createImage",
            token=new.client_token,
            result={"image": image.id, "operation": operation.id},
        )
    return Started(image, operation)


def _replay(session: Session, replay: dict[str, Any]) -> Started:
    image = session.get(Image, replay["image"])
    operation = session.get(Operation, replay["operation"])
    if image is None or operation is None:
        raise AssertionError("an idempotency record points at rows that exist")
    return Started(image, operation)


def _custom(owner_id: str, now: datetime, **values: Any) -> Image:
    return Image(
        id=new_id("m"),
        name="",
        kind=ImageKind.CUSTOM.value,
        status=ImageStatus.CREATING.value,
        progress=0,
        owner_id=owner_id,
        created_at=now,
        **values,
    )


def _from_instance(
    session: Session, viewer: Viewer, instance_id: str, now: datetime
) -> tuple[Image, dict[str, Any]]:
    instance = instances_service.get_for_update(session, viewer, instance_id)
    if instance.status not in instance_rules.SETTLED:
        raise instances_service.refuse(instance, "imaged")
    image = _custom(
        viewer.account_id,
        now,
        generation=instance.generation,
        region_code=instance.region_code,
        os_type=instance.image_os_type,
        os_name=instance.image_os_name,
        os_version=instance.image_os_version,
        os_arch=instance.image_os_arch,
        os_lang=instance.image_os_lang,
        min_disk_gb=instance.system_disk_gb,
        size_gb=instance.system_disk_gb,
        source_kind=SourceKind.INSTANCE.value,
        source_id=instance.id,
        source_region=instance.region_code,
        system_disk_kind=instance_rules.disk_kind(instance.system_disk_type),
        charge_os_license=instance.charge_os_license,
        charge_listing_id=instance.charge_listing_id,
    )
    payload = {"instance": instance.id, "instanceStatus": instance.status}
    instance.status = instance_rules.InstanceStatus.IMAGE_PROCESSING.value
    session.add(instance)
    return image, payload


def _from_snapshot(
    session: Session, viewer: Viewer, snapshot_id: str, now: datetime
) -> tuple[Image, dict[str, Any]]:
    snapshot = None
    if is_id(snapshot_id, "s"):
        snapshot = session.exec(
            select(Snapshot)
            .where(
                Snapshot.id == snapshot_id,
                Snapshot.owner_id == viewer.account_id,
                col(Snapshot.deleted_at).is_(None),
            )
            .with_for_update()
        ).first()
    if snapshot is None:
        raise DomainError(
            ErrorCode.SNAPSHOT_NOT_FOUND,
            f"There is no snapshot {shown(snapshot_id)}.",
            field("snapshotId"),
        )
    if snapshot.status != snapshots_service.AVAILABLE:
        raise DomainError(
            ErrorCode.SNAPSHOT_STATUS_FORBIDDEN,
            f"Snapshot {snapshot.id} is {snapshot.status}, not AVAILABLE.",
            field("snapshotId"),
        )
    image = _custom(
        viewer.account_id,
        now,
        generation=snapshot.generation,
        region_code=snapshot.region_code,
        os_type=snapshot.os_type,
        os_name=snapshot.os_name,
        os_version=snapshot.os_version,
        os_arch=snapshot.os_arch,
        os_lang=snapshot.os_lang,
        min_disk_gb=snapshot.size_gb,
        size_gb=snapshot.size_gb,
        source_kind=SourceKind.SNAPSHOT.value,
        source_id=snapshot.id,
        source_region=snapshot.region_code,
        system_disk_kind=snapshot.system_disk_kind,
        charge_os_license=snapshot.charge_os_license,
        charge_listing_id=snapshot.charge_listing_id,
    )
    return image, {"snapshot": snapshot.id}


class CreateImageHandler:
    """CREATE_IMAGE: the image becomes AVAILABLE; the instance returns to its former state."""

    def progress(self, session: Session, operation: Operation) -> None:
        """Show the operation's progress on the image (R3)."""
        for target in operations_service.targets(operation):
            image = session.get(Image, target)
            if image is not None and image.status == ImageStatus.CREATING.value:
                image.progress = operation.progress
                session.add(image)

    def complete(self, session: Session, operation: Operation, now: datetime) -> None:
        """Finish the image and give the instance back."""
        for target in operations_service.targets(operation):
            image = session.get(Image, target)
            if image is not None and image.status == ImageStatus.CREATING.value:
                image.status = ImageStatus.AVAILABLE.value
                image.progress = None
                session.add(image)
        self._restore_instance(session, operation)

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """Mark the image failed and give the instance back."""
        for target in operations_service.targets(operation):
            image = session.get(Image, target)
            if image is not None:
                image.status = ImageStatus.CREATE_FAILED.value
                image.failure_code = error.code.value
                image.failure_message = error.message
                image.failure_checks = json.dumps([])
                session.add(image)
        self._restore_instance(session, operation)

    def _restore_instance(self, session: Session, operation: Operation) -> None:
        payload = operations_service.payload(operation)
        instance = session.get(Instance, payload.get("instance", ""))
        if instance is not None and instance.status == "IMAGE_PROCESSING":
            instance.status = payload["instanceStatus"]
            session.add(instance)


operations_service.register(CREATE_IMAGE, CreateImageHandler())


def rename(*, session: Session, viewer: Viewer, image_id: str, name: str) -> Image:
    """Rename a custom image (owner only, R43).

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM, INVALID_NAME.
    """
    image = service.owned_custom(
        session=session, viewer=viewer, image_id=image_id, action="renamed"
    )
    check_name_and_description(name, None)
    image.name = name
    session.add(image)
    session.flush()
    return image


def delete(*, session: Session, viewer: Viewer, image_id: str, now: datetime) -> str:
    """Delete a custom image for good (owner only, R40-R42).

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM, IMAGE_CREATING,
            IMAGE_SHARED, IMAGE_REPLICATING.
    """
    image = service.owned_custom(
        session=session, viewer=viewer, image_id=image_id, action="deleted"
    )
    if image.status == ImageStatus.CREATING.value:
        raise DomainError(
            ErrorCode.IMAGE_CREATING,
            f"Image {image.id} is still being created; wait for it or cancel its copy.",
            field("imageId"),
        )
    shares = session.exec(select(ImageShare).where(ImageShare.image_id == image.id)).first()
    if shares is not None:
        raise DomainError(
            ErrorCode.IMAGE_SHARED,
            f"Image {image.id} is shared with other accounts; unshare it first.",
            field("imageId"),
        )
    service.refuse_if_replicating(session, image, "deleted")
    image.deleted_at = now
    session.add(image)
    session.flush()
    return image.id
