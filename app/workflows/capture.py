"""Capturing a disk: a custom image of an instance or a snapshot (R10-R14), and a snapshot
of an instance's system disk (R55). Both run as operations; the instance is held in
IMAGE_PROCESSING while an image is made of it, then given back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.errors import DomainError, ErrorCode, input_field
from app.ids import new_id
from app.images import governance
from app.images import service as images_service
from app.images.lifecycle import check_name_and_description
from app.images.models import Image
from app.images.rules import OS_COLUMNS, Disk, ImageKind, Source, SourceKind, name_problem
from app.instances import rules as instance_rules
from app.instances import service as instances_service
from app.instances.models import Instance
from app.operations import service as operations_service
from app.operations.models import Operation
from app.operations.rules import OperationKind
from app.platform.viewer import Viewer
from app.policy import Policy
from app.snapshots import service as snapshots_service
from app.snapshots.models import Snapshot
from app.snapshots.rules import SnapshotStatus
from app.tags import service as tags_service
from app.workflows import jobs
from app.workflows.idempotent import once
from app.workflows.instance_actions import for_action


@dataclass(frozen=True)
class NewImage:
    """createImage input."""

    name: str
    description: str = ""
    instance_id: str | None = None
    snapshot_id: str | None = None
    client_token: str | None = None
    family: str | None = None
    copy_tags: bool = False  # the new image takes its instance's or snapshot's tags


@dataclass(frozen=True)
class Started:
    """An image being made and the operation making it."""

    image: Image
    operation: Operation


@dataclass(frozen=True)
class SnapshotStarted:
    """A snapshot being made and the operation making it."""

    snapshot: Snapshot
    operation: Operation


def create_image(
    *, session: Session, viewer: Viewer, new: NewImage, policy: Policy, now: datetime
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
            input_field("instanceId" if new.instance_id is not None else "snapshotId"),
        )

    def work() -> Started:
        check_name_and_description(new.name, new.description)
        governance.check_family(new.family)
        # the account before its instance or snapshot (R209); the quota counts under it (R155)
        quota = jobs.lock_image_quota(session, viewer.account_id, policy)
        if new.instance_id is not None:
            image, payload = _from_instance(session, viewer, new, now)
        else:
            image, payload = _from_snapshot(session, viewer, new, now)
        images_service.check_quota(
            session=session, owner_id=viewer.account_id, region=image.region_code, limit=quota
        )
        operation = jobs.start(
            session, image, OperationKind.CREATE_IMAGE, policy=policy, now=now, payload=payload
        )
        if new.copy_tags:
            source = new.instance_id or new.snapshot_id
            assert source is not None
            tags_service.copy(session=session, source_id=source, target_ids=[image.id], now=now)
        return Started(image, operation)

    return once(
        session=session,
        account_id=viewer.account_id,
        mutation="createImage",
        token=new.client_token,
        request={
            "name": new.name,
            "description": new.description,
            "instanceId": new.instance_id,
            "snapshotId": new.snapshot_id,
            "family": new.family,
            **({"copyTags": True} if new.copy_tags else {}),
        },
        now=now,
        result=Started,
        work=work,
    )


def disk_of_instance(instance: Instance) -> Disk:
    """What an image or snapshot of an instance's system disk holds."""
    return Disk(
        generation=instance.generation,
        **{c: getattr(instance, f"image_{c}") for c in OS_COLUMNS},  # the OS it runs now
        min_disk_gb=instance.system_disk_gb,
        size_gb=instance.system_disk_gb,
        system_disk_kind=instance_rules.disk_kind(instance.system_disk_type),
        charge_os_license=instance.charge_os_license,
        charge_listing_id=instance.charge_listing_id,
    )


def _custom_image(
    disk: Disk, new: NewImage, viewer: Viewer, source: Instance | Snapshot, now: datetime
) -> Image:
    return images_service.image_from_source(
        disk,
        name=new.name,
        description=new.description,
        kind=ImageKind.CUSTOM,
        owner_id=viewer.account_id,
        region_code=source.region_code,
        source=Source(
            SourceKind.INSTANCE if isinstance(source, Instance) else SourceKind.SNAPSHOT,
            source.id,
            source.region_code,
        ),
        now=now,
        family=new.family,
    )


def _from_instance(
    session: Session, viewer: Viewer, new: NewImage, now: datetime
) -> tuple[Image, dict[str, Any]]:
    _, instance = for_action(session, viewer, new.instance_id or "")
    if instance.status not in instance_rules.SETTLED:
        raise instances_service.refuse(instance, "imaged")
    image = _custom_image(disk_of_instance(instance), new, viewer, instance, now)
    payload = {"instance": instance.id, "instanceStatus": instance.status}
    instance.status = instance_rules.InstanceStatus.IMAGE_PROCESSING.value
    session.add(instance)
    return image, payload


def _from_snapshot(
    session: Session, viewer: Viewer, new: NewImage, now: datetime
) -> tuple[Image, dict[str, Any]]:
    snapshot = snapshots_service.available_for_update(
        session=session, viewer=viewer, snapshot_id=new.snapshot_id or ""
    )
    disk = Disk(
        min_disk_gb=snapshot.size_gb,
        **{column: getattr(snapshot, column) for column in SNAPSHOT_DISK},
    )
    image = _custom_image(disk, new, viewer, snapshot, now)
    return image, {"snapshot": snapshot.id}


class CreateImageHandler(jobs.ImageJob):
    """CREATE_IMAGE: the image becomes AVAILABLE; the instance returns to its former state."""

    def after(self, session: Session, operation: Operation, now: datetime) -> None:
        """Give the instance back, success or failure, as ``resume`` does: stopped if arrears
        or the end of its term came meanwhile.
        """
        payload = operations_service.payload(operation)
        instance = session.get(Instance, payload.get("instance", ""))
        if (
            instance is not None
            and instance.status == instance_rules.InstanceStatus.IMAGE_PROCESSING.value
        ):
            instances_service.resume(session, instance, payload["instanceStatus"], now)


def create_snapshot(
    *,
    session: Session,
    viewer: Viewer,
    instance_id: str,
    name: str,
    client_token: str | None,
    now: datetime,
    policy: Policy,
) -> SnapshotStarted:
    """Snapshot an instance's system disk (R55); idempotent with a clientToken (R62).

    Raises:
        DomainError: INVALID_NAME, INSTANCE_NOT_FOUND, INSTANCE_STATUS_FORBIDDEN.
    """

    def work() -> SnapshotStarted:
        problem = name_problem(name)
        if problem is not None:
            raise DomainError(ErrorCode.INVALID_NAME, problem, input_field("name"))
        _, instance = for_action(session, viewer, instance_id)
        if instance.status not in instance_rules.SETTLED:
            raise instances_service.refuse(instance, "snapshotted")
        snapshot = _snapshot_of(instance, name, now)
        operation = jobs.start(
            session, snapshot, OperationKind.CREATE_SNAPSHOT, policy=policy, now=now
        )
        return SnapshotStarted(snapshot, operation)

    return once(
        session=session,
        account_id=viewer.account_id,
        mutation="createSnapshot",
        token=client_token,
        request={"instanceId": instance_id, "name": name},
        now=now,
        result=SnapshotStarted,
        work=work,
    )


#: what a snapshot keeps of its disk, for the images made of it
SNAPSHOT_DISK = (
    "size_gb",
    "system_disk_kind",
    "generation",
    *OS_COLUMNS,
    "charge_os_license",
    "charge_listing_id",
)


def _snapshot_of(instance: Instance, name: str, now: datetime) -> Snapshot:
    """A CREATING snapshot of the instance's system disk, with what an image of it needs."""
    disk = disk_of_instance(instance)
    return Snapshot(
        id=new_id("s"),
        name=name,
        owner_id=instance.owner_id,
        region_code=instance.region_code,
        instance_id=instance.id,
        status=SnapshotStatus.CREATING.value,
        created_at=now,
        **{column: getattr(disk, column) for column in SNAPSHOT_DISK},
    )


class CreateSnapshotHandler(operations_service.Handler):
    """CREATE_SNAPSHOT: the snapshot becomes AVAILABLE."""

    def complete(
        self, session: Session, operation: Operation, now: datetime, prepared: object
    ) -> None:
        """Finish the snapshot."""
        creating = SnapshotStatus.CREATING.value
        for snapshot in operations_service.target_rows(session, operation, Snapshot, creating):
            snapshot.status = SnapshotStatus.AVAILABLE.value
            session.add(snapshot)

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """Mark the snapshot failed."""
        for snapshot in operations_service.target_rows(session, operation, Snapshot):
            snapshot.status = SnapshotStatus.CREATE_FAILED.value
            session.add(snapshot)
