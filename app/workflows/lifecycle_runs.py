"""What image lifecycle policies do (R175, R203): the actions a policy would take now
(``preview``), and the daily run at every 00:00 UTC of the service clock (``DailyPolicies``,
a scheduler job: an advance of the clock over several midnights runs each of them in turn).

A policy acts only on its owner's AVAILABLE custom images of its region that carry its
family and tags, outside the newest ``keepNewest``, once they are older than a rule's days.
For each image it takes the furthest stage due that nothing forbids; a stage that is
forbidden (a listing offers the image; for DELETE deletion protection or a share; for DISABLE
a share or other accounts' running instances) is skipped and recorded with its reason, and
an earlier stage due is taken instead. Images carrying an excluded tag, launched from within
``launchedWithinDays`` or taken back from the policy by their owner are left alone. When
several policies would act on one image at the same midnight, the earliest stage wins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.images import governance, lifecycle, policies
from app.images.models import (
    Image,
    ImageLifecycleAction,
    ImageLifecycleExclusion,
    ImageLifecyclePolicy,
    ImageShare,
)
from app.images.policy_rules import (
    STAGE_ORDER,
    LifecycleAction,
    PolicySpec,
    due_stages,
    excluded_by,
    matches,
    midnights,
)
from app.images.rules import ImageKind, ImageStatus, ShareStatus, is_deprecated
from app.instances.models import Instance
from app.instances.rules import InstanceStatus
from app.platform.schedule import SchedulerState
from app.platform.viewer import Viewer
from app.tags import service as tags_service
from app.workflows import announce

LIFECYCLE_JOB = "lifecycle-policies"


@dataclass(frozen=True)
class Decision:
    """One action a policy takes (``taken``) or would take but may not, with why."""

    policy_id: str
    image: Image
    action: LifecycleAction
    taken: bool
    reason: str


@dataclass(frozen=True)
class Facts:
    """What the guards need to know of the selected images, read in a few statements."""

    tags: dict[str, dict[str, str]]
    last_launched: dict[str, datetime]
    listed: set[str]
    accepted_shares: set[str]
    others_running: dict[str, int]
    taken_back: set[str]  # the images whose owner took them back from this policy


def _selected(
    session: Session, policy: ImageLifecyclePolicy, spec: PolicySpec, lock: bool
) -> list[Image]:
    """The owner's AVAILABLE custom images of the region with the family, newest first
    (tags are matched afterwards, on the images' tags); locked when the policy runs.
    """
    stmt = select(Image).where(
        Image.owner_id == policy.owner_id,
        Image.region_code == spec.region,
        Image.kind == ImageKind.CUSTOM.value,
        Image.status == ImageStatus.AVAILABLE.value,
        col(Image.deleted_at).is_(None),
    )
    if spec.family is not None:
        stmt = stmt.where(Image.family == spec.family)
    stmt = stmt.order_by(col(Image.created_at).desc(), col(Image.id).desc())
    return list(session.exec(stmt.with_for_update() if lock else stmt))


def _facts(session: Session, policy: ImageLifecyclePolicy, images: Sequence[Image]) -> Facts:
    ids = [image.id for image in images]
    tags = tags_service.of_resources(session=session, owner_id=policy.owner_id, resource_ids=ids)
    launched = select(col(Instance.created_from_image_id), func.max(col(Instance.created_at)))
    launched = launched.where(col(Instance.created_from_image_id).in_(ids))
    running = select(col(Instance.image_id), func.count()).where(
        col(Instance.image_id).in_(ids),
        col(Instance.owner_id) != policy.owner_id,
        col(Instance.status) != InstanceStatus.RELEASED.value,
    )
    shares = select(ImageShare.image_id).where(
        col(ImageShare.image_id).in_(ids), ImageShare.status == ShareStatus.ACCEPTED.value
    )
    taken_back = select(ImageLifecycleExclusion.image_id).where(
        ImageLifecycleExclusion.policy_id == policy.id
    )
    return Facts(
        tags={i: {t.key: t.value for t in tags.get(i, [])} for i in ids},
        last_launched=dict(
            session.exec(launched.group_by(col(Instance.created_from_image_id))).all()
        ),
        listed=governance.in_listing(session=session, image_ids=ids),
        accepted_shares=set(session.exec(shares)),
        others_running=dict(session.exec(running.group_by(col(Instance.image_id))).all()),
        taken_back=set(session.exec(taken_back)),
    )


def _in_effect(image: Image, action: LifecycleAction, at: datetime) -> bool:
    if action is LifecycleAction.DEPRECATE:
        return is_deprecated(image, at)
    return action is LifecycleAction.DISABLE and image.disabled


def _forbidden(session: Session, image: Image, action: LifecycleAction, facts: Facts) -> str | None:
    """Why the policy may not take ``action`` on the image, or None."""
    if image.id in facts.listed:
        return "A marketplace listing offers it; delist it or change the listing's images first."
    if action is LifecycleAction.DELETE:
        problem = lifecycle.deletion_problem(session, image)
        return problem.message if problem is not None else None
    if action is LifecycleAction.DISABLE:
        if image.id in facts.accepted_shares:
            return "Other accounts accepted a share of it; disabling would take it from them."
        if running := facts.others_running.get(image.id):
            return f"Other accounts run {running} instance(s) launched from it."
    return None


def _left_alone(spec: PolicySpec, image: Image, facts: Facts, at: datetime) -> str | None:
    """Why the policy's exclusions keep the image out of its reach, or None."""
    tag = excluded_by(facts.tags[image.id], spec.exclude_tags)
    if tag is not None:
        shown = tag.key if tag.value is None else f"{tag.key}={tag.value}"
        return f"It carries the excluded tag {shown}."
    launched = facts.last_launched.get(image.id)
    within = spec.launched_within_days
    if within is not None and launched is not None and launched > at - timedelta(days=within):
        return (
            f"An instance was launched from it at {launched.isoformat()}, within the last "
            f"{within} days."
        )
    return None


def _age_reason(spec: PolicySpec, action: LifecycleAction, image: Image) -> str:
    days = spec.rules.days()[action]
    kept = spec.rules.keep_newest
    newest = f" and is not among the {kept} newest available images selected" if kept else ""
    return f"Created at {image.created_at.isoformat()}, it is older than {days} days{newest}."


def decide(
    session: Session, policy: ImageLifecyclePolicy, at: datetime, lock: bool = False
) -> list[Decision]:
    """What the policy would do at ``at``: the actions it takes and those it may not take
    (``lock``: the images stay locked until the transaction ends, for a run).
    """
    spec = policies.spec_of(policy)
    selected = _selected(session, policy, spec, lock)
    facts = _facts(session, policy, selected)
    matching = [i for i in selected if matches(facts.tags[i.id], spec.tags)]
    decisions = []
    for image in matching[spec.rules.keep_newest :]:
        due = [
            action
            for action in due_stages(spec.rules, image.created_at, at)
            if not _in_effect(image, action, at)
        ]
        if not due or image.id in facts.taken_back:
            continue
        if (why := _left_alone(spec, image, facts, at)) is not None:
            decisions.append(Decision(policy.id, image, due[0], False, why))
            continue
        for action in due:
            why = _forbidden(session, image, action, facts)
            if why is None:
                reason = _age_reason(spec, action, image)
                decisions.append(Decision(policy.id, image, action, True, reason))
                break
            decisions.append(Decision(policy.id, image, action, False, why))
    return decisions


def preview(
    *, session: Session, viewer: Viewer, policy_id: str, now: datetime
) -> tuple[ImageLifecyclePolicy, list[Decision]] | None:
    """What one of the caller's policies would do now, were it to run (it changes nothing;
    a disabled policy is previewed as if it were enabled); None when there is no such policy
    of the caller's.
    """
    policy = policies.find(session=session, viewer=viewer, policy_id=policy_id)
    return None if policy is None else (policy, decide(session, policy, now))


def _apply(session: Session, decision: Decision, name: str, at: datetime, bin_days: float) -> None:
    image = decision.image  # locked by decide
    by = f"lifecycle policy {name!r} ({decision.policy_id}) at {at.isoformat()}"
    if decision.action is LifecycleAction.DEPRECATE:
        image.deprecate_at = at
        image.lifecycle_note = f"Deprecated by {by}."
        announce.image_deprecated(session, image, at)
    elif decision.action is LifecycleAction.DISABLE:
        image.disabled = True
        image.lifecycle_note = f"Disabled by {by}."
        announce.image_disabled(session, image, at)
    else:
        lifecycle.to_recycle_bin(session, image, bin_days, at)
        image.lifecycle_note = f"Moved to the recycle bin by {by}."
    session.add(image)


def _repeats(session: Session, decision: Decision) -> bool:
    """Whether the latest record of this policy, image and action already says this skip."""
    last = session.exec(
        select(ImageLifecycleAction)
        .where(
            ImageLifecycleAction.policy_id == decision.policy_id,
            ImageLifecycleAction.image_id == decision.image.id,
            ImageLifecycleAction.action == decision.action.value,
        )
        .order_by(col(ImageLifecycleAction.at).desc(), col(ImageLifecycleAction.id).desc())
        .limit(1)
    ).first()
    return last is not None and not last.taken and last.reason == decision.reason


def run_at(session: Session, at: datetime, bin_days: float) -> list[Decision]:
    """Run every enabled policy created before ``at`` (a midnight); returns what was taken."""
    due = session.exec(
        select(ImageLifecyclePolicy)
        .where(col(ImageLifecyclePolicy.enabled).is_(True), ImageLifecyclePolicy.created_at < at)
        .order_by(col(ImageLifecyclePolicy.id))
        .with_for_update()
    ).all()
    names = {policy.id: policy.name for policy in due}
    wanted: dict[str, list[Decision]] = defaultdict(list)
    for policy in due:
        for decision in decide(session, policy, at, lock=True):
            if decision.taken:
                wanted[decision.image.id].append(decision)
            elif not _repeats(session, decision):
                session.add(record(decision, at))
        policy.last_run_at = at
        session.add(policy)
    taken = []
    for image_id in sorted(wanted):  # the earliest stage any policy wants wins
        decision = min(wanted[image_id], key=lambda d: STAGE_ORDER.index(d.action))
        _apply(session, decision, names[decision.policy_id], at, bin_days)
        session.add(record(decision, at))
        taken.append(decision)
    session.flush()
    return taken


def record(decision: Decision, at: datetime) -> ImageLifecycleAction:
    """The record of a decision made at ``at``."""
    return ImageLifecycleAction(
        policy_id=decision.policy_id,
        image_id=decision.image.id,
        action=decision.action.value,
        taken=decision.taken,
        reason=decision.reason,
        at=at,
    )


class DailyPolicies:
    """Scheduler job: run the lifecycle policies at each 00:00 UTC of the service clock not
    yet run, once across processes, in time order (a clock advanced over several midnights
    runs each of them, as days passing would).
    """

    def __init__(self, recycle_bin_days: float) -> None:
        self.recycle_bin_days = recycle_bin_days

    def __call__(self, session: Session, now: datetime) -> None:
        """Run the midnights due by ``now``."""
        state = session.exec(
            select(SchedulerState).where(SchedulerState.name == LIFECYCLE_JOB).with_for_update()
        ).first()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if state is not None and state.until >= midnight:
            return
        first = session.exec(select(func.min(ImageLifecyclePolicy.created_at))).one()
        # midnights before the oldest policy have nothing to run
        start = state.until if state is not None else midnight - timedelta(days=1)
        if first is not None:
            start = max(start, first.replace(hour=0, minute=0, second=0, microsecond=0))
            for at in midnights(start, midnight):
                run_at(session, at, self.recycle_bin_days)
        state = state or SchedulerState(name=LIFECYCLE_JOB, until=midnight)
        state.until = midnight
        session.add(state)
        session.flush()
