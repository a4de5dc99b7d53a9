"""Lifecycle policies' runs, against the service layer (R175, R203): overlapping policies (the
earliest stage wins), the daily job catching up every midnight it missed once, skips recorded
once per reason, and the rules' checks. Times are chosen relative to the job's own mark, never
to today's date.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.clock import Clock
from app.database import write_session
from app.images import policies
from app.images.models import Image, ImageLifecycleAction, ImageLifecyclePolicy
from app.images.policy_rules import (
    LifecycleAction,
    PolicyRules,
    PolicySpec,
    due_stages,
    midnights,
    spec_problems,
)
from app.platform.schedule import SchedulerState
from app.platform.viewer import Role, Viewer
from app.tags.rules import TagFilter
from app.workflows import lifecycle_runs
from tests.factories import Factory, custom_image

DAY = timedelta(days=1)


def _midnight(when: datetime) -> datetime:
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def _base(engine: Engine) -> datetime:
    """A midnight after the daily job's mark and after now, for runs of this test's own."""
    with write_session(engine) as session:
        state = session.get(SchedulerState, lifecycle_runs.LIFECYCLE_JOB)
        mark = state.until if state is not None else _midnight(Clock(simulated=False).now())
    return max(mark, _midnight(Clock(simulated=False).now())) + 2 * DAY


def _policy(session: Session, owner: str, created: datetime, rules: PolicyRules) -> str:
    viewer = Viewer(owner, Role.CUSTOMER, "tok-test")
    spec = PolicySpec("p", "bj", "web", (), rules)
    policy = policies.create(session=session, viewer=viewer, spec=spec, now=created)
    return policy.id


def _images(engine: Engine, owner: str, created: datetime, count: int) -> list[str]:
    ids = [custom_image(engine, owner) for _ in range(count)]
    with write_session(engine) as session:
        for n, image_id in enumerate(ids):
            image = session.get(Image, image_id)
            assert image is not None
            image.family, image.created_at = "web", created + timedelta(minutes=n)
            session.add(image)
    return ids


def _actions(session: Session, policy_id: str, with_time: bool = False) -> list[tuple[object, ...]]:
    rows = session.exec(
        select(ImageLifecycleAction)
        .where(ImageLifecycleAction.policy_id == policy_id)
        .order_by(col(ImageLifecycleAction.id))
    )
    return [
        ((row.at,) if with_time else ()) + (row.image_id, row.action, row.taken) for row in rows
    ]


def test_overlapping_policies_take_the_earliest_stage_first(
    engine: Engine, factory: Factory
) -> None:
    owner = factory.account().id
    base = _base(engine)
    [image_id] = _images(engine, owner, base - 10 * DAY, 1)
    with write_session(engine) as session:
        deleting = _policy(session, owner, base - DAY, PolicyRules(delete_after_days=2))
        deprecating = _policy(session, owner, base - DAY, PolicyRules(deprecate_after_days=1))
    with write_session(engine) as session:
        taken = lifecycle_runs.run_at(session, base, 0)
        assert [(d.policy_id, d.action) for d in taken] == [
            (deprecating, LifecycleAction.DEPRECATE)
        ]
    with write_session(engine) as session:
        image = session.get(Image, image_id)
        assert image is not None and image.deprecate_at == base and image.deleted_at is None
        assert _actions(session, deleting) == []
        taken = lifecycle_runs.run_at(session, base + DAY, 0)
        assert [(d.policy_id, d.action) for d in taken] == [(deleting, LifecycleAction.DELETE)]
    with write_session(engine) as session:
        image = session.get(Image, image_id)
        assert image is not None and image.deleted_at == base + DAY
        assert image.lifecycle_note is not None and deleting in image.lifecycle_note
        for policy_id in (deleting, deprecating):  # not to run again in later tests
            session.delete(session.get(ImageLifecyclePolicy, policy_id))


def test_the_daily_job_runs_every_midnight_it_missed_once(engine: Engine, factory: Factory) -> None:
    owner = factory.account().id
    base = _base(engine)
    images = _images(engine, owner, base - 2 * DAY, 3)
    with write_session(engine) as session:
        policy_id = _policy(
            session,
            owner,
            base - timedelta(hours=1),
            PolicyRules(deprecate_after_days=3, disable_after_days=4, keep_newest=1),
        )
        image = session.get(Image, images[0])
        assert image is not None
        image.deletion_protection = True  # irrelevant to DISABLE
        session.add(image)
    job = lifecycle_runs.DailyPolicies(recycle_bin_days=0)
    with write_session(engine) as session:
        job(session, base + 3 * DAY + timedelta(hours=5))  # four midnights: base .. base+3d
    with write_session(engine) as session:
        policy = session.get(ImageLifecyclePolicy, policy_id)
        assert policy is not None and policy.last_run_at == base + 3 * DAY
        # images[0] is 3 days old at base+1d (deprecated) and 4 at base+2d (disabled);
        # images[1], a minute younger, reaches each age one midnight later; the newest is kept
        assert sorted(_actions(session, policy_id, with_time=True)) == sorted(
            [
                (base + DAY, images[0], "DEPRECATE", True),
                (base + 2 * DAY, images[0], "DISABLE", True),
                (base + 2 * DAY, images[1], "DEPRECATE", True),
                (base + 3 * DAY, images[1], "DISABLE", True),
            ]
        )
        kept = session.get(Image, images[2])
        assert kept is not None and kept.deprecate_at is None and not kept.disabled
        job(session, base + 3 * DAY + timedelta(hours=6))  # the same day: nothing to run
        assert len(_actions(session, policy_id)) == 4
        session.delete(policy)


def test_a_skip_is_recorded_once_per_reason(engine: Engine, factory: Factory) -> None:
    owner = factory.account().id
    base = _base(engine)
    [image_id] = _images(engine, owner, base - 10 * DAY, 1)
    with write_session(engine) as session:
        policy_id = _policy(session, owner, base - DAY, PolicyRules(delete_after_days=1))
        image = session.get(Image, image_id)
        assert image is not None
        image.deletion_protection = True
        session.add(image)
    with write_session(engine) as session:
        for day in range(3):
            assert lifecycle_runs.run_at(session, base + day * DAY, 0) == []
        assert _actions(session, policy_id) == [(image_id, "DELETE", False)]
        image = session.get(Image, image_id)
        assert image is not None and image.deleted_at is None
        session.delete(session.get(ImageLifecyclePolicy, policy_id))


def test_stages_and_midnights() -> None:
    created = datetime.fromisoformat("2027-02-27T10:00:00+00:00")
    rules = PolicyRules(deprecate_after_days=1, delete_after_days=2)
    assert due_stages(rules, created, created + timedelta(hours=23)) == []
    assert due_stages(rules, created, created + DAY) == [LifecycleAction.DEPRECATE]
    assert due_stages(rules, created, created + 3 * DAY) == [
        LifecycleAction.DELETE,
        LifecycleAction.DEPRECATE,
    ]
    # 2028 is a leap year: 29 February is a midnight like any other
    after = datetime.fromisoformat("2028-02-28T23:30:00+00:00")
    assert [m.isoformat() for m in midnights(after, after + 2 * DAY)] == [
        "2028-02-29T00:00:00+00:00",
        "2028-03-01T00:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"family": None}, ("input", "selector")),
        ({"rules": PolicyRules()}, ("input", "rules")),
        ({"rules": PolicyRules(disable_after_days=3, delete_after_days=3)}, ("input", "rules")),
        ({"rules": PolicyRules(delete_after_days=3651)}, ("input", "rules", "deleteAfterDays")),
        (
            {"rules": PolicyRules(delete_after_days=3, keep_newest=101)},
            ("input", "rules", "keepNewest"),
        ),
        ({"name": "a\u202eb"}, ("input", "name")),
        ({"tags": (TagFilter("bcc:os"),)}, ("input", "selector", "tags", "0")),
        (
            {"exclude_tags": tuple(TagFilter(f"k{n}") for n in range(11))},
            ("input", "exclude", "tags"),
        ),
        ({"launched_within_days": 0}, ("input", "exclude", "launchedWithinDays")),
    ],
)
def test_a_policy_that_breaks_a_rule_is_refused(
    change: dict[str, object], field: tuple[str, ...]
) -> None:
    spec = PolicySpec("p", "bj", "web", (), PolicyRules(delete_after_days=3))
    assert spec_problems(spec) == []
    broken = PolicySpec(**{**spec.__dict__, **change})
    assert [problem.field for problem in spec_problems(broken)] == [field]
