"""Share and unshare custom images with other accounts (R20-R25)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.models import Account
from app.errors import DomainError, ErrorCode, raise_all, shown
from app.images import governance, service
from app.images.models import Image, ImageShare
from app.platform.viewer import Viewer
from app.policy import Policy

MAX_ACCOUNTS_PER_REQUEST = 100


def _entry(index: int) -> tuple[str, ...]:
    return ("input", "accountIds", str(index))


def _check_size(account_ids: Sequence[str]) -> None:
    """Refuse a request naming too many accounts."""
    if len(account_ids) > MAX_ACCOUNTS_PER_REQUEST:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"At most {MAX_ACCOUNTS_PER_REQUEST} accounts per request.",
            ("input", "accountIds"),
        )


def _lock_accounts(session: Session, account_ids: Sequence[str]) -> None:
    """Lock the named accounts that exist, in id order (FOR NO KEY UPDATE, as
    ``accounts.service.lock_accounts``: rows that merely reference them can still be added).
    """
    if account_ids:
        session.exec(
            select(Account.id)
            .where(col(Account.id).in_(sorted(set(account_ids))))
            .order_by(col(Account.id))
            .with_for_update(key_share=True)
        ).all()


def _recipients(
    session: Session, image: Image, account_ids: Sequence[str]
) -> tuple[list[str], list[DomainError]]:
    """Known, distinct recipients in request order, and a problem per bad entry."""
    _check_size(account_ids)
    known = set(session.exec(select(Account.id).where(col(Account.id).in_(account_ids))))
    problems: list[DomainError] = []
    wanted: list[str] = []
    for index, account_id in enumerate(account_ids):
        if account_id not in known:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_ACCOUNT,
                    f"There is no account {shown(account_id)}.",
                    _entry(index),
                )
            )
        elif account_id == image.owner_id:
            problems.append(
                DomainError(
                    ErrorCode.CANNOT_SHARE_TO_OWNER,
                    "An image cannot be shared with its owner.",
                    _entry(index),
                )
            )
        elif account_id not in wanted:
            wanted.append(account_id)
    return wanted, problems


def share(
    *,
    session: Session,
    viewer: Viewer,
    image_id: str,
    account_ids: Sequence[str],
    policy: Policy,
    now: datetime,
) -> Image:
    """Share an AVAILABLE custom image with accounts, all or nothing (R20-R22).

    Raises:
        DomainError / DomainErrors: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM,
            IMAGE_STATUS_FORBIDDEN, IMAGE_REPLICATING, and per entry INVALID_ACCOUNT,
            CANNOT_SHARE_TO_OWNER, RECIPIENT_QUOTA_EXCEEDED; SHARE_QUOTA_EXCEEDED.
    """
    _check_size(account_ids)
    # The recipients' accounts, then the image (R209): while they are held, neither the
    # image's shares nor a recipient's can grow behind the counts below (R155).
    _lock_accounts(session, account_ids)
    image = governance.ready_custom(
        session=session, viewer=viewer, image_id=image_id, action="shared"
    )
    wanted, problems = _recipients(session, image, account_ids)
    existing = set(
        session.exec(select(ImageShare.account_id).where(ImageShare.image_id == image.id))
    )
    new = [a for a in wanted if a not in existing]
    held = _shared_with_counts(session, new)
    for index, account_id in enumerate(account_ids):
        if account_id in new and held.get(account_id, 0) >= policy.shared_with_me_quota:
            problems.append(
                DomainError(
                    ErrorCode.RECIPIENT_QUOTA_EXCEEDED,
                    f"Account {account_id} already holds {policy.shared_with_me_quota} images "
                    "shared with it.",
                    _entry(index),
                )
            )
    if len(existing) + len(new) > policy.share_quota_per_image:
        problems.append(
            DomainError(
                ErrorCode.SHARE_QUOTA_EXCEEDED,
                f"An image can be shared with at most {policy.share_quota_per_image} accounts; "
                "this one "
                f"has {len(existing)} and the request adds {len(new)}.",
                ("input", "accountIds"),
            )
        )
    raise_all(problems)
    for account_id in new:
        session.add(ImageShare(image_id=image.id, account_id=account_id, created_at=now))
    session.flush()
    return image


def unshare(
    *, session: Session, viewer: Viewer, image_id: str, account_ids: Sequence[str]
) -> Image:
    """Stop sharing an image with accounts, all or nothing; absent shares are no-ops (R22, R24).

    Raises:
        DomainError / DomainErrors: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM,
            and per entry INVALID_ACCOUNT, CANNOT_SHARE_TO_OWNER.
    """
    image = service.owned_custom(
        session=session, viewer=viewer, image_id=image_id, action="unshared"
    )
    wanted, problems = _recipients(session, image, account_ids)
    raise_all(problems)
    if wanted:
        for row in session.exec(
            select(ImageShare).where(
                ImageShare.image_id == image.id, col(ImageShare.account_id).in_(wanted)
            )
        ):
            session.delete(row)
    session.flush()
    return image


def _shared_with_counts(session: Session, account_ids: Sequence[str]) -> dict[str, int]:
    """How many live images each account holds shared with it (R8)."""
    if not account_ids:
        return {}
    stmt = (
        select(ImageShare.account_id, func.count())
        .join(Image, col(Image.id) == col(ImageShare.image_id))
        .where(col(ImageShare.account_id).in_(account_ids), col(Image.deleted_at).is_(None))
        .group_by(col(ImageShare.account_id))
    )
    return {account_id: int(count) for account_id, count in session.exec(stmt)}
