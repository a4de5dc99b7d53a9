"""Image lifecycle policies (R175, R203): creating, changing, deleting and listing an
account's policies, what each did, and the images their owners took back from a policy. What
a policy does at its daily run is ``app.workflows.lifecycle_runs``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.errors import DomainError, ErrorCode, input_field, raise_all, shown
from app.ids import is_id, new_id
from app.images import service
from app.images.models import (
    Image,
    ImageLifecycleAction,
    ImageLifecycleExclusion,
    ImageLifecyclePolicy,
)
from app.images.policy_rules import (
    MAX_POLICIES,
    LifecycleAction,
    PolicyRules,
    PolicySpec,
    spec_problems,
)
from app.platform.viewer import Viewer
from app.regions.models import Region
from app.tags.rules import TagFilter


def _tags_json(tags: Sequence[TagFilter]) -> str:
    return json.dumps([[t.key, t.value] for t in tags])


def _tags(text: str) -> tuple[TagFilter, ...]:
    return tuple(TagFilter(key, value) for key, value in json.loads(text))


def spec_of(policy: ImageLifecyclePolicy) -> PolicySpec:
    """What a stored policy says."""
    return PolicySpec(
        name=policy.name,
        region=policy.region_code,
        family=policy.family,
        tags=_tags(policy.tags),
        rules=PolicyRules(
            deprecate_after_days=policy.deprecate_after_days,
            disable_after_days=policy.disable_after_days,
            delete_after_days=policy.delete_after_days,
            keep_newest=policy.keep_newest,
        ),
        exclude_tags=_tags(policy.exclude_tags),
        launched_within_days=policy.launched_within_days,
        enabled=policy.enabled,
    )


def _store(session: Session, policy: ImageLifecyclePolicy, spec: PolicySpec) -> None:
    """Check ``spec`` and write it onto ``policy``.

    Raises:
        DomainError / DomainErrors: INVALID_NAME, INVALID_INPUT, REGION_NOT_FOUND.
    """
    problems = spec_problems(spec)
    if len(spec.region) > 8 or session.get(Region, spec.region) is None:
        problems.append(
            DomainError(
                ErrorCode.REGION_NOT_FOUND,
                f"There is no region {shown(spec.region)}.",
                input_field("region"),
            )
        )
    raise_all(problems)
    policy.name, policy.region_code, policy.family = spec.name, spec.region, spec.family
    policy.tags, policy.exclude_tags = _tags_json(spec.tags), _tags_json(spec.exclude_tags)
    policy.deprecate_after_days = spec.rules.deprecate_after_days
    policy.disable_after_days = spec.rules.disable_after_days
    policy.delete_after_days = spec.rules.delete_after_days
    policy.keep_newest = spec.rules.keep_newest
    policy.launched_within_days = spec.launched_within_days
    policy.enabled = spec.enabled
    session.add(policy)
    session.flush()


def create(
    *, session: Session, viewer: Viewer, spec: PolicySpec, now: datetime
) -> ImageLifecyclePolicy:
    """Create a policy of the caller's; it first runs at the next 00:00 UTC.

    Raises:
        DomainError / DomainErrors: INVALID_NAME, INVALID_INPUT, REGION_NOT_FOUND,
            LIFECYCLE_POLICY_QUOTA_EXCEEDED.
    """
    service.lock_accounts(session, [viewer.account_id])  # the count holds until commit
    held = session.exec(
        select(func.count())
        .select_from(ImageLifecyclePolicy)
        .where(col(ImageLifecyclePolicy.owner_id) == viewer.account_id)
    ).one()
    if held >= MAX_POLICIES:
        raise DomainError(
            ErrorCode.LIFECYCLE_POLICY_QUOTA_EXCEEDED,
            f"An account may have at most {MAX_POLICIES} lifecycle policies; delete one first.",
        )
    policy = ImageLifecyclePolicy(
        id=new_id("ilp"),
        owner_id=viewer.account_id,
        name="",
        region_code=spec.region,
        created_at=now,
        updated_at=now,
    )
    _store(session, policy, spec)
    return policy


def find(*, session: Session, viewer: Viewer, policy_id: str) -> ImageLifecyclePolicy | None:
    """One of the caller's policies, or None (another account's answers like a missing one)."""
    if not is_id(policy_id, "ilp"):
        return None
    return session.exec(
        select(ImageLifecyclePolicy).where(
            ImageLifecyclePolicy.id == policy_id,
            ImageLifecyclePolicy.owner_id == viewer.account_id,
        )
    ).first()


def own(*, session: Session, viewer: Viewer, policy_id: str) -> ImageLifecyclePolicy:
    """One of the caller's policies, locked.

    Raises:
        DomainError: LIFECYCLE_POLICY_NOT_FOUND.
    """
    policy = None
    if is_id(policy_id, "ilp"):
        policy = session.exec(
            select(ImageLifecyclePolicy)
            .where(
                ImageLifecyclePolicy.id == policy_id,
                ImageLifecyclePolicy.owner_id == viewer.account_id,
            )
            .with_for_update()
        ).first()
    if policy is None:
        raise DomainError(
            ErrorCode.LIFECYCLE_POLICY_NOT_FOUND,
            f"You have no lifecycle policy {shown(policy_id)}.",
            input_field("id"),
        )
    return policy


def update(
    *,
    session: Session,
    viewer: Viewer,
    policy_id: str,
    change: Callable[[PolicySpec], PolicySpec],
    now: datetime,
) -> ImageLifecyclePolicy:
    """Change a policy of the caller's: ``change`` maps what it says now to what it will say.

    Raises:
        DomainError / DomainErrors: LIFECYCLE_POLICY_NOT_FOUND, INVALID_NAME, INVALID_INPUT,
            REGION_NOT_FOUND.
    """
    policy = own(session=session, viewer=viewer, policy_id=policy_id)
    _store(session, policy, change(spec_of(policy)))
    policy.updated_at = now
    session.add(policy)
    session.flush()
    return policy


def delete(*, session: Session, viewer: Viewer, policy_id: str) -> str:
    """Delete a policy of the caller's with what it recorded; images it acted on stay as
    they are. Returns its id.

    Raises:
        DomainError: LIFECYCLE_POLICY_NOT_FOUND.
    """
    policy = own(session=session, viewer=viewer, policy_id=policy_id)
    for table in (ImageLifecycleAction, ImageLifecycleExclusion):
        session.exec(sql_delete(table).where(col(table.policy_id) == policy.id))
    session.delete(policy)
    session.flush()
    return policy_id


def of_account(*, session: Session, viewer: Viewer) -> list[ImageLifecyclePolicy]:
    """The caller's policies, oldest first."""
    return list(
        session.exec(
            select(ImageLifecyclePolicy)
            .where(ImageLifecyclePolicy.owner_id == viewer.account_id)
            .order_by(col(ImageLifecyclePolicy.created_at), col(ImageLifecyclePolicy.id))
        )
    )


def recent_actions(
    *, session: Session, policy_ids: Sequence[str], limit: int
) -> dict[str, list[ImageLifecycleAction]]:
    """Each policy's ``limit`` latest recorded actions, newest first."""
    found: dict[str, list[ImageLifecycleAction]] = {}
    for policy_id in policy_ids:
        found[policy_id] = list(
            session.exec(
                select(ImageLifecycleAction)
                .where(ImageLifecycleAction.policy_id == policy_id)
                .order_by(col(ImageLifecycleAction.at).desc(), col(ImageLifecycleAction.id).desc())
                .limit(limit)
            )
        )
    return found


def note_undo(*, session: Session, image: Image, undone: LifecycleAction) -> None:
    """The owner undid ``undone`` on an image: every policy that took that action on it
    leaves the image alone from now on, until the owner clears the exclusion (R203).
    """
    policies = set(
        session.exec(
            select(ImageLifecycleAction.policy_id).where(
                ImageLifecycleAction.image_id == image.id,
                ImageLifecycleAction.action == undone.value,
                col(ImageLifecycleAction.taken).is_(True),
            )
        )
    )
    have = set(
        session.exec(
            select(ImageLifecycleExclusion.policy_id).where(
                ImageLifecycleExclusion.image_id == image.id
            )
        )
    )
    for policy_id in sorted(policies - have):
        exclusion = ImageLifecycleExclusion(
            image_id=image.id, policy_id=policy_id, owner_id=image.owner_id
        )
        session.add(exclusion)
    session.flush()


def clear_exclusions(*, session: Session, viewer: Viewer, image_id: str) -> Image:
    """Hand one's own custom image back to the policies its owner took it from (R203).

    Raises:
        DomainError: IMAGE_NOT_FOUND, PERMISSION_DENIED, IMAGE_NOT_CUSTOM.
    """
    image = service.owned_custom(
        session=session,
        viewer=viewer,
        image_id=image_id,
        action="handed back to lifecycle policies",
    )
    for exclusion in session.exec(
        select(ImageLifecycleExclusion).where(ImageLifecycleExclusion.image_id == image.id)
    ):
        session.delete(exclusion)  # one by one, so that the owner's cached answers move
    session.flush()
    return image


def excluded(*, session: Session, image_ids: Sequence[str]) -> set[str]:
    """The images among these that some policy leaves alone because their owner undid it."""
    if not image_ids:
        return set()
    return set(
        session.exec(
            select(ImageLifecycleExclusion.image_id).where(
                col(ImageLifecycleExclusion.image_id).in_(list(image_ids))
            )
        )
    )
