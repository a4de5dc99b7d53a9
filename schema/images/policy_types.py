"""Image lifecycle policies as the API answers them: the policy, its selector, rules and
exclusions, a decision (taken or not, and why) and a preview.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.images import policies
from app.images.models import ImageLifecycleAction as ActionRow
from app.images.models import ImageLifecyclePolicy as PolicyRow
from app.images.policy_rules import (
    MAX_DAYS,
    LifecycleAction,
)
from app.tags.rules import TagFilter as TagFilterRule
from app.workflows import lifecycle_runs
from schema.context import Info
from schema.images.types import Image
from schema.loaders import referenced
from schema.regions.types import Region

#: the most recorded actions one policy answers at a time
MAX_RECENT_ACTIONS = 50
#: the most actions a preview lists (its count says how many there are)
MAX_PREVIEW_ACTIONS = 100
DAYS = f"1 to {MAX_DAYS}"


@strawberry.type(description="A tag a policy matches: the key, and the value (any when null).")
class TagMatch:
    key: str = strawberry.field(description="The key.")
    value: str | None = strawberry.field(description="The value; null: any value.")


def _matches(filters: tuple[TagFilterRule, ...]) -> list[TagMatch]:
    return [TagMatch(key=f.key, value=f.value) for f in filters]


@strawberry.type(description="Which of your custom images of its region a policy looks at.")
class ImageLifecycleSelector:
    family: str | None = strawberry.field(description="Images of this family (any when null).")
    tags: list[TagMatch] = strawberry.field(description="Images carrying every one of these.")


@strawberry.type(description="When a policy deprecates, disables and deletes an image.")
class ImageLifecycleRules:
    deprecate_after_days: int | None = strawberry.field(
        description="Deprecate images older than this many days (null: never)."
    )
    disable_after_days: int | None = strawberry.field(
        description="Disable images older than this many days (null: never)."
    )
    delete_after_days: int | None = strawberry.field(
        description="Move images older than this many days to the recycle bin (null: never)."
    )
    keep_newest: int = strawberry.field(
        description="The newest this many AVAILABLE selected images are never acted on."
    )


@strawberry.type(description="Images a policy leaves alone.")
class ImageLifecycleExclusions:
    tags: list[TagMatch] = strawberry.field(description="Images carrying any one of these.")
    launched_within_days: int | None = strawberry.field(
        description=(
            "Images an instance was launched from within this many days (whether it still "
            "runs or not); null: no such exclusion."
        )
    )


@strawberry.type(
    description=(
        "An action of a lifecycle policy on an image: taken, or not taken and why (a listing "
        "offers it, deletion protection, a share, other accounts' instances, an excluded tag, "
        "a recent launch)."
    )
)
class ImageLifecycleDecision:
    image_id: strawberry.ID = strawberry.field(description="The image.")
    action: LifecycleAction = strawberry.field(description="DEPRECATE, DISABLE or DELETE.")
    taken: bool = strawberry.field(description="Whether the policy takes (or took) it.")
    reason: str = strawberry.field(description="Why it is taken, or why not.")
    at: datetime = strawberry.field(description="When (for a preview: now).")

    @strawberry.field(
        description=(
            "The image, while you may see it (null once it is in the recycle bin or purged)."
        )
    )
    async def image(self, info: Info) -> Image | None:
        row = await info.context.loaders.image.load(str(self.image_id))
        return Image.from_row(row, info.context.viewer) if row else None

    @classmethod
    def of(cls, decision: lifecycle_runs.Decision, at: datetime) -> ImageLifecycleDecision:
        """Build from a decision the policy would make at ``at``."""
        return cls.recorded(lifecycle_runs.record(decision, at))

    @classmethod
    def recorded(cls, row: ActionRow) -> ImageLifecycleDecision:
        """Build from what a run recorded."""
        return cls(
            image_id=strawberry.ID(row.image_id),
            action=LifecycleAction(row.action),
            taken=row.taken,
            reason=row.reason,
            at=row.at,
        )


@strawberry.type(
    description=(
        "Rules that retire your custom images of one region: the newest keepNewest selected "
        "images are kept; older ones are deprecated, disabled and moved to the recycle bin "
        "once older than each rule's days. It runs every day at 00:00 UTC."
    )
)
class ImageLifecyclePolicy:
    id: strawberry.ID = strawberry.field(description="Policy id (ilp-...).")
    name: str = strawberry.field(description="Its name.")
    selector: ImageLifecycleSelector = strawberry.field(description="Which images it looks at.")
    rules: ImageLifecycleRules = strawberry.field(description="What it does to them, and when.")
    exclude: ImageLifecycleExclusions = strawberry.field(description="What it leaves alone.")
    enabled: bool = strawberry.field(description="Whether it runs (a disabled one does not).")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it was last changed (UTC).")
    last_run_at: datetime | None = strawberry.field(
        description="The midnight (UTC) it last ran at; null before its first run."
    )
    region_code: strawberry.Private[str]

    @strawberry.field(description="The region whose images it looks at.")
    async def region(self, info: Info) -> Region:
        return await referenced(info.context.loaders.region, self.region_code, Region.from_row)

    @strawberry.field(
        description=(
            "What it did at its runs, newest first: actions taken, and actions it could not "
            "take with the reason (recorded again only when the reason changes)."
        )
    )
    def recent_actions(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description=f"How many (at most {MAX_RECENT_ACTIONS}).")
        ] = 20,
    ) -> list[ImageLifecycleDecision]:
        count = max(0, min(first, MAX_RECENT_ACTIONS))
        found = policies.recent_actions(
            session=info.context.session, policy_ids=[str(self.id)], limit=count
        )
        return [ImageLifecycleDecision.recorded(row) for row in found[str(self.id)]]

    @classmethod
    def from_row(cls, row: PolicyRow) -> ImageLifecyclePolicy:
        """Build from a stored policy."""
        spec = policies.spec_of(row)
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            selector=ImageLifecycleSelector(family=spec.family, tags=_matches(spec.tags)),
            rules=ImageLifecycleRules(
                deprecate_after_days=spec.rules.deprecate_after_days,
                disable_after_days=spec.rules.disable_after_days,
                delete_after_days=spec.rules.delete_after_days,
                keep_newest=spec.rules.keep_newest,
            ),
            exclude=ImageLifecycleExclusions(
                tags=_matches(spec.exclude_tags), launched_within_days=spec.launched_within_days
            ),
            enabled=row.enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_run_at=row.last_run_at,
            region_code=row.region_code,
        )


@strawberry.type(description="What a lifecycle policy would do if it ran now.")
class ImageLifecyclePreview:
    policy: ImageLifecyclePolicy = strawberry.field(description="The policy.")
    at: datetime = strawberry.field(description="Now, on the service clock.")
    count: int = strawberry.field(description="How many actions there are in all.")
    actions: list[ImageLifecycleDecision] = strawberry.field(
        description=(
            f"The actions, the first {MAX_PREVIEW_ACTIONS}: those it would take, and those it "
            "could not take with why."
        )
    )
