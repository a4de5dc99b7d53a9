"""The shape every image-making operation shares (capture, copy, import).

While the operation runs, its target images show its progress; when it succeeds they
become AVAILABLE; when it fails they become CREATE_FAILED with the reason and the failed
checks. Subclasses add what is particular to them (``finish``, ``after``, ``checks``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.accounts import service as accounts_service
from app.errors import DomainError
from app.images import service as images_service
from app.images.models import Image
from app.images.rules import ImageStatus
from app.operations import service as operations_service
from app.operations.models import Operation
from app.operations.rules import OperationKind
from app.policy import Policy
from app.snapshots.models import Snapshot


def lock_image_quota(session: Session, account_id: str, policy: Policy) -> int:
    """Lock the account whose custom images are about to be counted, and return how many it
    may hold per region (its own quota or the default, R8).

    Every count that decides whether the account may have one more custom image runs under
    this lock (R155), so concurrent requests of the account, on any worker process, count one
    after another. Callers take it before any resource row they lock (R209).
    """
    accounts_service.lock_account(session=session, account_id=account_id)
    return accounts_service.image_quota(
        session=session, account_id=account_id, default=policy.custom_image_quota
    )


def check_image_quota(session: Session, account_id: str, region: str, policy: Policy) -> None:
    """Refuse one more custom image in the region past the account's quota, counted with the
    account locked (a lock the caller already holds is simply kept).

    Raises:
        DomainError: IMAGE_QUOTA_EXCEEDED.
    """
    limit = lock_image_quota(session, account_id, policy)
    images_service.check_quota(session=session, owner_id=account_id, region=region, limit=limit)


def start(
    session: Session,
    made: Image | Snapshot,
    kind: OperationKind,
    *,
    policy: Policy,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> Operation:
    """Store a new image or snapshot and the operation that makes it (as long as its size
    takes).
    """
    session.add(made)
    session.flush()
    return operations_service.create(
        session=session,
        kind=kind.value,
        owner_id=made.owner_id,
        target_ids=[made.id],
        now=now,
        duration_seconds=policy.duration(made.size_gb or 0),
        payload=payload,
    )


def target_images(session: Session, operation: Operation) -> list[Image]:
    """The images an operation makes."""
    return operations_service.target_rows(session, operation, Image)


class ImageJob(operations_service.Handler):
    """An operation whose targets are the images it makes."""

    def progress(self, session: Session, operation: Operation) -> None:
        """Show the operation's progress on the images still being made."""
        for image in target_images(session, operation):
            if image.status == ImageStatus.CREATING.value:
                image.progress = operation.progress
                session.add(image)

    def complete(
        self, session: Session, operation: Operation, now: datetime, prepared: object
    ) -> None:
        """Make the images AVAILABLE."""
        for image in target_images(session, operation):
            if image.status == ImageStatus.CREATING.value:
                self.finish(image, prepared)
                image.status = ImageStatus.AVAILABLE.value
                image.progress = None
                session.add(image)
        self.after(session, operation, now)

    def fail(
        self, session: Session, operation: Operation, error: DomainError, now: datetime
    ) -> None:
        """Mark the images CREATE_FAILED with the error and its failed checks."""
        for image in target_images(session, operation):
            image.status = ImageStatus.CREATE_FAILED.value
            image.progress = None
            image.failure_code = error.code.value
            image.failure_message = error.message
            image.failure_checks = json.dumps(self.checks(error))
            session.add(image)
        self.after(session, operation, now)

    def finish(self, image: Image, prepared: object) -> None:
        """Record what the work found on a finished image (nothing by default)."""

    def after(self, session: Session, operation: Operation, now: datetime) -> None:
        """Whatever else ends with the operation, success or failure (nothing by default)."""

    def checks(self, error: DomainError) -> list[str]:
        """The failed checks to show on a failed image (none by default)."""
        return []
