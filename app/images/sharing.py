"""Share and unshare custom images with other accounts (R20-R25), and the recipient's side:
how it takes new shares, accepting, declining and leaving them (R172, R198).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from app.accounts.models import Account
from app.errors import DomainError, ErrorCode, raise_all, shown
from app.ids import is_id
from app.images import governance, service
from app.images.models import Image, ImageShare
from app.images.rules import ShareAcceptance, ShareStatus
from app.pagination import Ordering, Page, PageRequest, paginate
from app.platform.viewer import Viewer
from app.policy import Policy
from app.webhooks import outbox
from app.webhooks.rules import WebhookEventType

MAX_ACCOUNTS_PER_REQUEST = 100
#: PENDING invitations an account may have waiting: from one sharer, and in all (R198)
MAX_PENDING_FROM_ONE_SHARER = 10
MAX_PENDING = 100


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
    """Share an AVAILABLE custom image with accounts, all or nothing (R20-R22, R172, R198).

    A recipient that takes shares AUTOMATICally holds the image at once (within its quota of
    images shared with it); one that takes them MANUALly gets a PENDING invitation, which costs
    it nothing until it accepts. A recipient that declined this image is refused until it
    accepts again. Refusals never tell the sharer another account's counts.

    Raises:
        DomainError / DomainErrors: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM,
            IMAGE_STATUS_FORBIDDEN, IMAGE_REPLICATING, and per entry INVALID_ACCOUNT,
            CANNOT_SHARE_TO_OWNER, SHARE_DECLINED, RECIPIENT_QUOTA_EXCEEDED,
            SHARE_INVITATIONS_FULL; SHARE_QUOTA_EXCEEDED.
    """
    _check_size(account_ids)
    # The recipients' accounts, then the image (R209): while they are held, neither the
    # image's shares nor a recipient's can grow behind the counts below (R155).
    service.lock_accounts(session, account_ids)
    image = governance.ready_custom(
        session=session, viewer=viewer, image_id=image_id, action="shared"
    )
    wanted, problems = _recipients(session, image, account_ids)
    existing = dict(
        session.exec(
            select(ImageShare.account_id, ImageShare.status).where(ImageShare.image_id == image.id)
        ).all()
    )
    new = [a for a in wanted if a not in existing]
    manual = set(
        session.exec(
            select(Account.id).where(
                col(Account.id).in_(new),
                Account.share_acceptance == ShareAcceptance.MANUAL.value,
            )
        )
    )
    problems += _recipient_problems(session, image, account_ids, existing, new, manual, policy)
    live = [a for a, status in existing.items() if status != ShareStatus.DECLINED.value]
    if len(live) + len(new) > policy.share_quota_per_image:
        problems.append(
            DomainError(
                ErrorCode.SHARE_QUOTA_EXCEEDED,
                f"An image can be shared with at most {policy.share_quota_per_image} accounts; "
                "this one "
                f"has {len(live)} and the request adds {len(new)}.",
                ("input", "accountIds"),
            )
        )
    raise_all(problems)
    for account_id in new:
        status = ShareStatus.PENDING if account_id in manual else ShareStatus.ACCEPTED
        session.add(
            ImageShare(
                image_id=image.id, account_id=account_id, created_at=now, status=status.value
            )
        )
    _announce(session, image, [a for a in new if a not in manual], ShareStatus.ACCEPTED, now)
    _announce(session, image, [a for a in new if a in manual], ShareStatus.PENDING, now)
    session.flush()
    return image


def _announce(
    session: Session, image: Image, recipients: Sequence[str], status: ShareStatus, now: datetime
) -> None:
    """Tell the recipients of a share (by webhook): the image is theirs to use, or they are
    invited to take it. They learn what a recipient may read: the image's id, name and region
    and its owner's account id.
    """
    if not recipients:
        return
    event = (
        WebhookEventType.IMAGE_SHARED_WITH_ME
        if status is ShareStatus.ACCEPTED
        else WebhookEventType.SHARE_INVITATION
    )
    data = {
        "image": {
            "id": image.id,
            "name": image.name,
            "region": image.region_code,
            "ownerAccountId": image.owner_id,
        },
        "status": status.value,
    }
    outbox.emit(session=session, account_ids=recipients, event=event, data=data, now=now)


def _recipient_problems(
    session: Session,
    image: Image,
    account_ids: Sequence[str],
    existing: dict[str, str],
    new: list[str],
    manual: set[str],
    policy: Policy,
) -> list[DomainError]:
    """Per entry: a recipient that declined the image, one whose invitations are full, one
    (taking shares automatically) at its quota; no message tells another account's counts.
    """
    held = _shared_with_counts(session, [a for a in new if a not in manual])
    pending = _pending_counts(session, sorted(manual), image.owner_id or "")
    problems = []
    for index, account_id in enumerate(account_ids):
        if existing.get(account_id) == ShareStatus.DECLINED.value:
            problems.append(
                DomainError(
                    ErrorCode.SHARE_DECLINED,
                    f"Account {account_id} declined this image; it can still accept it from its "
                    "share invitations.",
                    _entry(index),
                )
            )
        elif account_id in manual and _invitations_full(pending.get(account_id)):
            problems.append(
                DomainError(
                    ErrorCode.SHARE_INVITATIONS_FULL,
                    f"Account {account_id} has too many share invitations waiting; it can take "
                    "no more until it accepts or declines some.",
                    _entry(index),
                )
            )
        elif (
            account_id in new
            and account_id not in manual
            and held.get(account_id, 0) >= policy.shared_with_me_quota
        ):
            problems.append(
                DomainError(
                    ErrorCode.RECIPIENT_QUOTA_EXCEEDED,
                    f"Account {account_id} holds as many images shared with it as it may.",
                    _entry(index),
                )
            )
    return problems


def _invitations_full(counts: tuple[int, int] | None) -> bool:
    """Whether a recipient's waiting invitations (from this sharer, in all) are at a limit."""
    from_sharer, in_all = counts or (0, 0)
    return from_sharer >= MAX_PENDING_FROM_ONE_SHARER or in_all >= MAX_PENDING


def unshare(
    *, session: Session, viewer: Viewer, image_id: str, account_ids: Sequence[str]
) -> Image:
    """Stop sharing an image with accounts, all or nothing; absent shares are no-ops, and so
    are declined ones, which stay declined (R22, R24, R198).

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
                ImageShare.image_id == image.id,
                col(ImageShare.account_id).in_(wanted),
                ImageShare.status != ShareStatus.DECLINED.value,
            )
        ):
            session.delete(row)
    session.flush()
    return image


def _shared_with_counts(session: Session, account_ids: Sequence[str]) -> dict[str, int]:
    """How many live images each account holds shared with it: accepted shares (R8, R198)."""
    if not account_ids:
        return {}
    stmt = (
        select(ImageShare.account_id, func.count())
        .join(Image, col(Image.id) == col(ImageShare.image_id))
        .where(
            col(ImageShare.account_id).in_(account_ids),
            ImageShare.status == ShareStatus.ACCEPTED.value,
            col(Image.deleted_at).is_(None),
        )
        .group_by(col(ImageShare.account_id))
    )
    return {account_id: int(count) for account_id, count in session.exec(stmt)}


def _pending_counts(
    session: Session, account_ids: Sequence[str], sharer_id: str
) -> dict[str, tuple[int, int]]:
    """Each account's PENDING invitations to live images: (from this sharer, in all)."""
    if not account_ids:
        return {}
    from_sharer = func.sum(case((col(Image.owner_id) == sharer_id, 1), else_=0))
    stmt = (
        select(ImageShare.account_id, from_sharer, func.count())
        .join(Image, col(Image.id) == col(ImageShare.image_id))
        .where(
            col(ImageShare.account_id).in_(account_ids),
            ImageShare.status == ShareStatus.PENDING.value,
            col(Image.deleted_at).is_(None),
        )
        .group_by(col(ImageShare.account_id))
    )
    return {a: (int(mine or 0), int(total)) for a, mine, total in session.exec(stmt)}


# --- the recipient's side (R172, R198) ----------------------------------------------------


def set_acceptance(*, session: Session, viewer: Viewer, mode: ShareAcceptance) -> Account:
    """How the caller's account takes new shares from now on (existing ones stay as they are)."""
    service.lock_accounts(session, [viewer.account_id])
    account = session.get(Account, viewer.account_id)
    assert account is not None
    account.share_acceptance = mode.value
    session.add(account)
    session.flush()
    return account


def _addressed(session: Session, viewer: Viewer, image_id: str) -> ImageShare:
    """The share of a live image addressed to the caller, locked.

    Raises:
        DomainError: IMAGE_NOT_FOUND (no such image, or not shared with the caller).
    """
    found = None
    if is_id(image_id, "m"):
        found = session.exec(
            select(ImageShare)
            .join(Image, col(Image.id) == col(ImageShare.image_id))
            .where(
                ImageShare.image_id == image_id,
                ImageShare.account_id == viewer.account_id,
                col(Image.deleted_at).is_(None),
            )
            .with_for_update()
        ).first()
    if found is None:
        raise service.not_found(image_id)
    return found


def accept(*, session: Session, viewer: Viewer, image_id: str, policy: Policy) -> ImageShare:
    """Accept a share (PENDING, or DECLINED before): the image becomes the caller's to see and
    launch, within its quota of images shared with it; accepting twice is a no-op.

    Raises:
        DomainError: IMAGE_NOT_FOUND, RECIPIENT_QUOTA_EXCEEDED.
    """
    # the account first (R209): the count below cannot grow behind it (R155)
    service.lock_accounts(session, [viewer.account_id])
    found = _addressed(session, viewer, image_id)
    if found.status == ShareStatus.ACCEPTED.value:
        return found
    quota = policy.shared_with_me_quota
    if _shared_with_counts(session, [viewer.account_id]).get(viewer.account_id, 0) >= quota:
        raise DomainError(
            ErrorCode.RECIPIENT_QUOTA_EXCEEDED,
            f"You already hold {quota} images shared with you, the most you may; decline one "
            "you no longer need first.",
            ("input", "imageId"),
        )
    found.status = ShareStatus.ACCEPTED.value
    session.add(found)
    session.flush()
    return found


def decline(*, session: Session, viewer: Viewer, image_id: str) -> ImageShare:
    """Decline a share, or leave one accepted before: the image is no longer the caller's to
    see or launch, its slot is free, and its owner cannot share it with the caller again until
    the caller accepts it; declining twice is a no-op. Instances already launched from it run on.

    Raises:
        DomainError: IMAGE_NOT_FOUND.
    """
    service.lock_accounts(session, [viewer.account_id])
    found = _addressed(session, viewer, image_id)
    found.status = ShareStatus.DECLINED.value
    session.add(found)
    session.flush()
    return found


def invitations(
    *, session: Session, viewer: Viewer, page: PageRequest
) -> Page[tuple[ImageShare, Image]]:
    """The PENDING and DECLINED shares addressed to the caller, with their live images
    (disabled ones included, so they can be declined), newest first.
    """
    stmt = (
        select(ImageShare, Image)
        .join(Image, col(Image.id) == col(ImageShare.image_id))
        .where(
            ImageShare.account_id == viewer.account_id,
            ImageShare.status != ShareStatus.ACCEPTED.value,
            col(Image.deleted_at).is_(None),
        )
    )
    ordering = Ordering("SHARED_AT", ImageShare.created_at, True, ImageShare.image_id)
    return paginate(
        session, stmt, ordering, page, lambda row: row[0].created_at, lambda row: row[0].image_id
    )
