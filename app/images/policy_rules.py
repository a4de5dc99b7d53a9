"""Image lifecycle policies (R175, R203), the pure part: what a policy is, what makes one
valid, and which stage a policy's rules call for on an image of a given age.

A policy selects its owner's CUSTOM images in one region by family and tags, keeps the
newest N AVAILABLE ones, and deprecates, disables and deletes the others once they are older
than its rules' days. It runs at every 00:00 UTC of the service clock.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.errors import DomainError, ErrorCode, input_field
from app.images.rules import family_problem
from app.tags.rules import TagFilter, key_problem, value_problem

#: the most policies one account may have
MAX_POLICIES = 10
#: the most tag filters in a selector or an exclusion
MAX_POLICY_TAGS = 10
#: the longest age a rule or an exclusion may name (ten years)
MAX_DAYS = 3650
#: the most images a policy may keep as the newest
MAX_KEEP_NEWEST = 100
MAX_NAME = 64


class LifecycleAction(enum.Enum):
    """What a policy does to an image, in stage order."""

    DEPRECATE = "DEPRECATE"
    DISABLE = "DISABLE"
    DELETE = "DELETE"


STAGE_ORDER = (LifecycleAction.DEPRECATE, LifecycleAction.DISABLE, LifecycleAction.DELETE)


@dataclass(frozen=True)
class PolicyRules:
    """The ages (days since an image was created) at which each stage falls due."""

    deprecate_after_days: int | None = None
    disable_after_days: int | None = None
    delete_after_days: int | None = None
    keep_newest: int = 0

    def days(self) -> dict[LifecycleAction, int | None]:
        """Each stage's days (None: the policy does not take that stage)."""
        return {
            LifecycleAction.DEPRECATE: self.deprecate_after_days,
            LifecycleAction.DISABLE: self.disable_after_days,
            LifecycleAction.DELETE: self.delete_after_days,
        }


@dataclass(frozen=True)
class PolicySpec:
    """Everything a client sets on a policy."""

    name: str
    region: str
    family: str | None
    tags: tuple[TagFilter, ...]
    rules: PolicyRules
    exclude_tags: tuple[TagFilter, ...] = ()
    launched_within_days: int | None = None
    enabled: bool = True


def _days_problem(value: int | None, path: tuple[str, ...]) -> DomainError | None:
    if value is not None and not 1 <= value <= MAX_DAYS:
        return DomainError(
            ErrorCode.INVALID_INPUT, f"Days are 1 to {MAX_DAYS}; got {value}.", input_field(*path)
        )
    return None


def _tag_problems(tags: tuple[TagFilter, ...], path: tuple[str, ...]) -> list[DomainError]:
    if len(tags) > MAX_POLICY_TAGS:
        message = f"At most {MAX_POLICY_TAGS} tags; got {len(tags)}."
        return [DomainError(ErrorCode.INVALID_INPUT, message, input_field(*path))]
    problems = []
    for index, tag in enumerate(tags):
        problem = key_problem(tag.key) or (
            value_problem(tag.value) if tag.value is not None else None
        )
        if problem is not None:
            where = input_field(*path, str(index))
            problems.append(DomainError(ErrorCode.INVALID_INPUT, problem, where))
    return problems


def name_problem(name: str) -> str | None:
    """Why a policy name cannot be used: 1 to 64 characters, none of them control characters."""
    if not 1 <= len(name.strip()) <= MAX_NAME or len(name) > MAX_NAME:
        return f"A policy name is 1 to {MAX_NAME} characters; got {len(name.strip())}."
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        return "A policy name may not contain control or formatting characters."
    return None


def _rules_problems(rules: PolicyRules) -> list[DomainError]:
    problems = [
        p
        for field, value in (
            ("deprecateAfterDays", rules.deprecate_after_days),
            ("disableAfterDays", rules.disable_after_days),
            ("deleteAfterDays", rules.delete_after_days),
        )
        if (p := _days_problem(value, ("rules", field))) is not None
    ]
    given = [days for days in rules.days().values() if days is not None]
    if not given:
        message = "A policy needs at least one of deprecateAfterDays, disableAfterDays and "
        message += "deleteAfterDays."
        problems.append(DomainError(ErrorCode.INVALID_INPUT, message, input_field("rules")))
    elif given != sorted(set(given)):
        message = "Each stage must come after the one before: deprecateAfterDays < "
        message += "disableAfterDays < deleteAfterDays (for the stages given)."
        problems.append(DomainError(ErrorCode.INVALID_INPUT, message, input_field("rules")))
    if not 0 <= rules.keep_newest <= MAX_KEEP_NEWEST:
        message = f"keepNewest is 0 to {MAX_KEEP_NEWEST}; got {rules.keep_newest}."
        where = input_field("rules", "keepNewest")
        problems.append(DomainError(ErrorCode.INVALID_INPUT, message, where))
    return problems


def spec_problems(spec: PolicySpec) -> list[DomainError]:
    """Every reason the policy cannot be saved (the region is checked by the caller)."""
    problems = []
    if (problem := name_problem(spec.name)) is not None:
        problems.append(DomainError(ErrorCode.INVALID_NAME, problem, input_field("name")))
    if spec.family is not None and (problem := family_problem(spec.family)) is not None:
        where = input_field("selector", "family")
        problems.append(DomainError(ErrorCode.INVALID_INPUT, problem, where))
    if spec.family is None and not spec.tags:
        message = "A policy selects images by family, by tags or both; give at least one, so "
        message += "that it never takes every image of the region by accident."
        problems.append(DomainError(ErrorCode.INVALID_INPUT, message, input_field("selector")))
    problems += _tag_problems(spec.tags, ("selector", "tags"))
    problems += _tag_problems(spec.exclude_tags, ("exclude", "tags"))
    problems += _rules_problems(spec.rules)
    within = _days_problem(spec.launched_within_days, ("exclude", "launchedWithinDays"))
    return problems + ([within] if within is not None else [])


def due_stages(rules: PolicyRules, created_at: datetime, at: datetime) -> list[LifecycleAction]:
    """The stages the rules call for on an image created at ``created_at``, as of ``at``, the
    furthest first (an image older than deleteAfterDays is due every stage).
    """
    age = at - created_at
    due = [
        action
        for action, days in rules.days().items()
        if days is not None and age >= timedelta(days=days)
    ]
    return list(reversed(due))


def matches(tags: dict[str, str], filters: tuple[TagFilter, ...]) -> bool:
    """Whether a resource's tags carry every filter (a filter without a value: any value)."""
    return all(f.key in tags and (f.value is None or tags[f.key] == f.value) for f in filters)


def excluded_by(tags: dict[str, str], filters: tuple[TagFilter, ...]) -> TagFilter | None:
    """The first exclusion filter a resource's tags carry, or None."""
    for f in filters:
        if matches(tags, (f,)):
            return f
    return None


def midnights(after: datetime, until: datetime) -> list[datetime]:
    """Every 00:00 UTC later than ``after`` and no later than ``until``, in order."""
    day = after.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    days = []
    while day <= until:
        days.append(day)
        day += timedelta(days=1)
    return days
