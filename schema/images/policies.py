"""Image lifecycle policies: the inputs, the queries (your policies, a preview of what one
would do now) and the mutations that create, change and delete them.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import strawberry

from app.images import policies
from app.images.models import ImageLifecyclePolicy as PolicyRow
from app.images.policy_rules import (
    MAX_KEEP_NEWEST,
    MAX_POLICIES,
    MAX_POLICY_TAGS,
    PolicyRules,
    PolicySpec,
)
from app.tags.rules import TagFilter as TagFilterRule
from app.workflows import lifecycle_runs
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.images.mutations import ImageResult, image_mutation
from schema.images.policy_types import (
    DAYS,
    MAX_PREVIEW_ACTIONS,
    ImageLifecycleDecision,
    ImageLifecyclePolicy,
    ImageLifecyclePreview,
)
from schema.images.types import ImageId
from schema.mutation import argument, mutation
from schema.permissions import SignedIn
from schema.tags.types import TagFilter


#: the most recorded actions one policy answers at a time
@strawberry.input(description="Which of your custom images of the region a policy looks at.")
class ImageLifecycleSelectorInput:
    family: str | None = strawberry.field(
        default=None, description="Images of this family (give a family, tags or both)."
    )
    tags: list[TagFilter] | None = strawberry.field(
        default=None, description=f"Images carrying every one of these (at most {MAX_POLICY_TAGS})."
    )


@strawberry.input(
    description=(
        f"When a policy acts: ages are days since an image was created ({DAYS}), each stage "
        "given after the one before; at least one stage."
    )
)
class ImageLifecycleRulesInput:
    deprecate_after_days: int | None = strawberry.field(
        default=None, description="Deprecate images older than this."
    )
    disable_after_days: int | None = strawberry.field(
        default=None, description="Disable images older than this."
    )
    delete_after_days: int | None = strawberry.field(
        default=None, description="Move images older than this to the recycle bin."
    )
    keep_newest: int = strawberry.field(
        default=0,
        description=(
            f"Never act on the newest this many AVAILABLE selected images (0 to {MAX_KEEP_NEWEST})."
        ),
    )


@strawberry.input(description="Images a policy leaves alone.")
class ImageLifecycleExclusionsInput:
    tags: list[TagFilter] | None = strawberry.field(
        default=None, description=f"Images carrying any one of these (at most {MAX_POLICY_TAGS})."
    )
    launched_within_days: int | None = strawberry.field(
        default=None,
        description=f"Images an instance was launched from within this many days ({DAYS}).",
    )


def _filters(given: list[TagFilter] | None) -> tuple[TagFilterRule, ...]:
    return tuple(TagFilterRule(key=t.key, value=t.value) for t in given or [])


def _rules(given: ImageLifecycleRulesInput) -> PolicyRules:
    return PolicyRules(
        deprecate_after_days=given.deprecate_after_days,
        disable_after_days=given.disable_after_days,
        delete_after_days=given.delete_after_days,
        keep_newest=given.keep_newest,
    )


@strawberry.type(description="A lifecycle policy after a change.")
class ImageLifecyclePolicyResult(Payload):
    policy: ImageLifecyclePolicy | None = strawberry.field(
        default=None, description="The policy as it is now."
    )


@strawberry.type(description="A deleted lifecycle policy.")
class DeletedImageLifecyclePolicy(Payload):
    deleted_policy_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the policy deleted."
    )


def _answer(row: PolicyRow) -> ImageLifecyclePolicyResult:
    return ImageLifecyclePolicyResult(policy=ImageLifecyclePolicy.from_row(row))


PolicyId = Annotated[strawberry.ID, argument("Lifecycle policy id (ilp-...).")]
NAME = "1 to 64 characters."
SELECTOR = "Which images it looks at: a family, tags or both."
EXCLUDE = "What it leaves alone (default: nothing but what it never touches)."


@strawberry.type
class PolicyQueries:
    @strawberry.field(
        permission_classes=[SignedIn],
        description=f"Your image lifecycle policies, oldest first (at most {MAX_POLICIES}).",
    )
    def image_lifecycle_policies(self, info: Info) -> list[ImageLifecyclePolicy]:
        viewer = info.context.require_viewer()
        rows = policies.of_account(session=info.context.session, viewer=viewer)
        return [ImageLifecyclePolicy.from_row(row) for row in rows]

    @strawberry.field(
        permission_classes=[SignedIn],
        description=(
            "What one of your lifecycle policies would do if it ran now (nothing is changed; "
            "a disabled policy is previewed as if enabled); null when you have no such policy."
        ),
    )
    def preview_image_lifecycle_policy(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The policy.")],
    ) -> ImageLifecyclePreview | None:
        viewer = info.context.require_viewer()
        now = info.context.services.clock.now()
        info.context.uncacheable = True  # other accounts' launches change it
        found = lifecycle_runs.preview(
            session=info.context.session, viewer=viewer, policy_id=str(id), now=now
        )
        if found is None:
            return None
        policy, decisions = found
        return ImageLifecyclePreview(
            policy=ImageLifecyclePolicy.from_row(policy),
            at=now,
            count=len(decisions),
            actions=[ImageLifecycleDecision.of(d, now) for d in decisions[:MAX_PREVIEW_ACTIONS]],
        )


@strawberry.type
class PolicyMutations:
    @mutation(
        f"Create a lifecycle policy for your custom images of one region (at most "
        f"{MAX_POLICIES} per account). It first runs at the next 00:00 UTC, then every day; "
        "previewImageLifecyclePolicy shows what it would do. It never acts on the newest "
        "keepNewest images, on images carrying an excluded tag or launched from recently, or "
        "on images offered by a listing; it never deletes a protected or shared image and "
        "never disables one that others accepted or run.",
        input="A new lifecycle policy.",
    )
    def create_image_lifecycle_policy(
        self,
        info: Info,
        name: Annotated[str, argument(NAME)],
        region: Annotated[str, argument("The region code whose images it looks at.")],
        selector: Annotated[ImageLifecycleSelectorInput, argument(SELECTOR)],
        rules: Annotated[ImageLifecycleRulesInput, argument("What it does, and when.")],
        exclude: Annotated[ImageLifecycleExclusionsInput | None, argument(EXCLUDE)] = None,
        enabled: Annotated[bool | None, argument("Whether it runs (default true).")] = None,
    ) -> ImageLifecyclePolicyResult:
        exclude = exclude or ImageLifecycleExclusionsInput()
        spec = PolicySpec(
            name=name,
            region=region,
            family=selector.family,
            tags=_filters(selector.tags),
            rules=_rules(rules),
            exclude_tags=_filters(exclude.tags),
            launched_within_days=exclude.launched_within_days,
            enabled=True if enabled is None else enabled,
        )

        def work(c: Call) -> ImageLifecyclePolicyResult:
            return _answer(policies.create(**c.acting, spec=spec, now=c.now))

        return mutate(info, ImageLifecyclePolicyResult, work)

    @mutation(
        "Change a lifecycle policy of yours: each field given replaces what the policy says "
        "(selector, rules and exclude as a whole); omitted fields stay as they are.",
        input="What to change in a lifecycle policy.",
    )
    def update_image_lifecycle_policy(
        self,
        info: Info,
        id: PolicyId,
        name: Annotated[str | None, argument(NAME)] = None,
        region: Annotated[str | None, argument("The region code.")] = None,
        selector: Annotated[ImageLifecycleSelectorInput | None, argument(SELECTOR)] = None,
        rules: Annotated[ImageLifecycleRulesInput | None, argument("The rules.")] = None,
        exclude: Annotated[ImageLifecycleExclusionsInput | None, argument(EXCLUDE)] = None,
        enabled: Annotated[bool | None, argument("Whether it runs.")] = None,
    ) -> ImageLifecyclePolicyResult:
        def change(spec: PolicySpec) -> PolicySpec:
            plain = {"name": name, "region": region, "enabled": enabled}
            given: dict[str, object] = {k: v for k, v in plain.items() if v is not None}
            if selector is not None:
                given |= {"family": selector.family, "tags": _filters(selector.tags)}
            if rules is not None:
                given["rules"] = _rules(rules)
            if exclude is not None:
                given["exclude_tags"] = _filters(exclude.tags)
                given["launched_within_days"] = exclude.launched_within_days
            return dataclasses.replace(spec, **given)  # type: ignore[arg-type]

        def work(c: Call) -> ImageLifecyclePolicyResult:
            row = policies.update(**c.acting, policy_id=str(id), change=change, now=c.now)
            return _answer(row)

        return mutate(info, ImageLifecyclePolicyResult, work)

    @mutation(
        "Delete a lifecycle policy of yours with what it recorded; the images it acted on "
        "stay as they are.",
        input="Which lifecycle policy to delete.",
    )
    def delete_image_lifecycle_policy(
        self, info: Info, id: PolicyId
    ) -> DeletedImageLifecyclePolicy:
        def work(c: Call) -> DeletedImageLifecyclePolicy:
            deleted = policies.delete(**c.acting, policy_id=str(id))
            return DeletedImageLifecyclePolicy(deleted_policy_id=strawberry.ID(deleted))

        return mutate(info, DeletedImageLifecyclePolicy, work)

    @mutation(
        "Hand your custom image back to your lifecycle policies: undeprecating, enabling or "
        "restoring an image a policy acted on keeps that policy away from it "
        "(Image.lifecycleExcluded) until you do this.",
        input="Which image to hand back to its lifecycle policies.",
    )
    def clear_image_lifecycle_exclusion(self, info: Info, image_id: ImageId) -> ImageResult:
        return image_mutation(
            info, lambda c: policies.clear_exclusions(**c.acting, image_id=str(image_id))
        )
