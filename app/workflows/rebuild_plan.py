"""What a rebuild ("change image") would do and charge: every check for every instance of
the request, the new image's charge lines pro-rated for the rest of prepaid terms, and the
quote of it (R54, R72, R100-R103, R126, R127). ``workflows.rebuild`` carries it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from app.accounts.models import Account
from app.billing import attribution, pricing
from app.billing.models import ChargeShare
from app.billing.pricing import ChargeKind, ChargeLine, SoftwarePlan, Timing
from app.errors import DomainError, ErrorCode, not_owner, raise_all, shown
from app.ids import is_id
from app.images import governance
from app.images import service as images_service
from app.images.models import Image
from app.images.rules import ImageStatus
from app.instances import rules, service
from app.instances.models import Instance
from app.instances.rules import InstanceStatus, LaunchRequest
from app.platform.viewer import Viewer
from app.regions.models import Flavor
from app.workflows import charges, launch_plan

#: charges a rebuild can add or take away (compute and disk follow the flavor, not the image)
IMAGE_CHARGES = charges.IMAGE_CHARGES
#: problems about the image alone, reported once on imageId
IMAGE_ONLY = {ErrorCode.IMAGE_NOT_AVAILABLE}


@dataclass(frozen=True)
class RebuildRequest:
    """Which instances to rebuild onto which image; ``batch`` names errors by index
    (``input.instanceIds.3``), the one-instance form by ``input.instanceId``.
    """

    instance_ids: tuple[str, ...]
    image_id: str | None  # None: the newest image of image_family in the instances' region
    client_token: str | None = None
    batch: bool = True
    image_family: str | None = None

    def field(self, index: int) -> tuple[str, ...]:
        """The input path of the instance at ``index``."""
        if self.batch:
            return ("input", "instanceIds", str(index))
        return ("input", "instanceId")

    @property
    def mutation(self) -> str:
        """The idempotency scope of this form."""
        return "rebuildInstances" if self.batch else "rebuildInstance"

    def fingerprint(self) -> dict[str, Any]:
        """The input as the idempotency record compares it."""
        found = {"instanceIds": list(self.instance_ids), "imageId": self.image_id}
        if self.image_family is not None:  # records made before families keep matching
            found["imageFamily"] = self.image_family
        return found


@dataclass
class Change:
    """What one instance pays after the rebuild, and what it is charged for it now."""

    instance: Instance
    lines: list[ChargeLine]  # what it pays from now on (hourly, or for its term)
    added: list[ChargeLine]  # prepaid: pro-rated DAY lines charged at once
    shares: list[ChargeShare] = field(default_factory=list)  # prepaid: what it paid so far
    software: SoftwarePlan | None = None
    # the quote (R169): postpaid lines per hour; prepaid lines for the days left in the term
    before: list[ChargeLine] = field(default_factory=list)
    after: list[ChargeLine] = field(default_factory=list)

    @property
    def timing(self) -> Timing:
        """PREPAID or POSTPAID: how the instance pays."""
        return Timing(self.instance.billing_timing)

    @property
    def due_now(self) -> Decimal:
        """What the rebuild takes from the balance at once for this instance."""
        return pricing.total(self.added)


@dataclass
class RebuildPlan:
    """A checked, priced rebuild: the image and each instance's change."""

    image: Image
    changes: list[Change]
    warnings: tuple[str, ...] = ()  # e.g. that the image is deprecated

    @property
    def order_lines(self) -> list[ChargeLine]:
        """The lines of the REBUILD order: every prepaid instance's added lines."""
        return [line for change in self.changes for line in change.added]

    @property
    def total(self) -> Decimal:
        """What the rebuild charges at once."""
        return pricing.total(self.order_lines)

    @property
    def timing(self) -> Timing | None:
        """How every instance of the batch pays; None for a batch of both kinds."""
        timings = {change.timing for change in self.changes}
        return timings.pop() if len(timings) == 1 else None

    @property
    def hourly_lines(self) -> list[ChargeLine]:
        """One hour of the whole batch once rebuilt (every instance's postpaid lines)."""
        return [
            line
            for change in self.changes
            if change.timing is Timing.POSTPAID
            for line in change.after
        ]


def _at(problem: DomainError, path: tuple[str, ...]) -> DomainError:
    """The same problem, reported on another input field."""
    return DomainError(problem.code, problem.message, path)


def _request_problems(request: RebuildRequest) -> list[DomainError]:
    problems = []
    if not 1 <= len(request.instance_ids) <= rules.MAX_BATCH:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT,
                f"instanceIds holds 1 to {rules.MAX_BATCH} ids; got {len(request.instance_ids)}.",
                ("input", "instanceIds"),
            )
        )
    seen: set[str] = set()
    for index, instance_id in enumerate(request.instance_ids):
        if instance_id in seen:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"Instance {shown(instance_id)} is listed twice.",
                    request.field(index),
                )
            )
        seen.add(instance_id)
    return problems


def _load(
    session: Session, viewer: Viewer, request: RebuildRequest, lock: bool
) -> tuple[dict[str, Instance], list[DomainError]]:
    """The caller's instances among the ids (locked for a rebuild), and who may not act."""
    wanted = [i for i in request.instance_ids if is_id(i, "i")]
    stmt = select(Instance).where(col(Instance.id).in_(wanted)).order_by(col(Instance.id))
    if not viewer.is_admin:
        stmt = stmt.where(Instance.owner_id == viewer.account_id)
    found = {i.id: i for i in session.exec(stmt.with_for_update() if lock else stmt)}
    problems = []
    for index, instance_id in enumerate(request.instance_ids):
        instance = found.get(instance_id)
        if instance is None:
            problems.append(
                DomainError(
                    ErrorCode.INSTANCE_NOT_FOUND,
                    f"There is no instance {shown(instance_id)}.",
                    request.field(index),
                )
            )
        elif instance.owner_id != viewer.account_id:
            problems.append(not_owner("instance", instance.id, "rebuild it", request.field(index)))
    return found, problems


def _state_problems(
    instance: Instance, account: Account, now: datetime, path: tuple[str, ...]
) -> list[DomainError]:
    """R54, R101, R127: what the instance's state and its account allow."""
    ebc = instance.generation == "EBC"
    allowed = {InstanceStatus.RUNNING.value} if ebc else rules.SETTLED
    if instance.status not in allowed:
        what = "rebuilt (EBC instances must be RUNNING)" if ebc else "rebuilt"
        return [_at(service.refuse(instance, what), path)]
    if instance.billing_timing == Timing.POSTPAID.value and account.in_arrears:
        return [
            DomainError(
                ErrorCode.ACCOUNT_IN_ARREARS,
                f"The account is in arrears; top up before rebuilding postpaid instance "
                f"{instance.id}.",
                path,
            )
        ]
    if instance.expires_at is not None and instance.expires_at <= now:
        return [
            DomainError(
                ErrorCode.INSTANCE_STATUS_FORBIDDEN,
                f"The prepaid term of instance {instance.id} has ended; it cannot be rebuilt.",
                path,
            )
        ]
    return []


def _launch_input(instance: Instance, image: Image) -> rules.LaunchInput:
    return rules.LaunchInput(
        region=instance.region_code,
        flavor=instance.flavor_name,
        image_id=image.id,
        storage_type=instance.system_disk_type,
        disk_gb=instance.system_disk_gb,
        timing=Timing(instance.billing_timing),
        months=instance.billing_months,
    )


def _image_problems(
    session: Session, instance: Instance, image: Image, path: tuple[str, ...], batch: bool
) -> list[DomainError]:
    """Every R51 check of the image against this instance (disk, region, generation, plan)."""
    request = LaunchRequest(
        region=instance.region_code,
        count=1,
        storage_type=instance.system_disk_type,
        disk_gb=instance.system_disk_gb,
        timing=Timing(instance.billing_timing),
        months=instance.billing_months,
        flavor_generation=instance.generation,
        flavor_offered=True,
        flavor_arch=flavor.arch if (flavor := session.get(Flavor, instance.flavor_name)) else None,
    )
    problems = [
        p
        for p in rules.image_problems(launch_plan.facts(image), request, rebuild=True)
        if p.code not in IMAGE_ONLY
    ]
    if (disabled := governance.disabled_problem(image, "rebuilt onto")) is not None:
        problems.append(disabled)
    try:
        charges.software_plan(image, request.timing, request.months, session)
    except DomainError as exc:
        problems.append(exc)
    # the one-instance form keeps pointing at the image, the batch at the instance
    return [_at(p, path if batch else ("input", "imageId")) for p in problems]


def _after(instance: Instance, image_lines: list[ChargeLine]) -> list[ChargeLine]:
    """What the instance pays once rebuilt: compute and system disk at the prices it launched
    with (R168), the new image's licence and software lines at today's.
    """
    kept = [line for line in service.charge_lines(instance) if line.kind not in IMAGE_CHARGES]
    return kept + image_lines


def _change(session: Session, instance: Instance, image: Image, now: datetime) -> Change:
    """What the instance will pay, and (prepaid) which pro-rated lines it is charged now:
    a charge kind or listing it has not paid for in this term (R72, R102, R126).
    """
    launch_input = _launch_input(instance, image)
    software = charges.software_plan(image, launch_input.timing, launch_input.months, session)
    lines = _after(instance, charges.image_lines(session, launch_input, image))
    before = service.charge_lines(instance)
    if launch_input.timing is Timing.POSTPAID or instance.expires_at is None:
        return Change(instance, lines, [], software=software, before=before, after=lines)
    shares = attribution.shares_of(session=session, instance_ids=[instance.id])
    remaining = rules.prorated_days(now, instance.expires_at)
    term = rules.term_days(instance.created_at, instance.expires_at)
    after = [pricing.prorated(line, remaining, term) for line in lines]
    added = []
    for prorated in after:
        if prorated.kind not in IMAGE_CHARGES:
            continue
        listing = image.charge_listing_id if prorated.kind is ChargeKind.SOFTWARE else None
        if attribution.already_paid(shares, prorated.kind, listing) or prorated.amount <= 0:
            continue
        added.append(replace(prorated, description=f"{prorated.description} ({instance.id})"))
    before = [pricing.prorated(line, remaining, term) for line in before]
    return Change(instance, lines, added, shares, software, before=before, after=after)


def plan_rebuild(
    *, session: Session, viewer: Viewer, request: RebuildRequest, now: datetime, lock: bool
) -> RebuildPlan:
    """Every check for every instance first (all-or-nothing), then the price of each change.

    Raises:
        DomainError / DomainErrors: every problem, each on the input it concerns.
    """
    problems = _request_problems(request)
    found, missing = _load(session, viewer, request, lock)
    if request.image_family is not None and not found:
        raise_all(problems + missing)  # a family resolves in its instances' region
    image_id = _image_id(session, viewer, request, found, now)
    image = images_service.get(session=session, viewer=viewer, image_id=image_id)
    if image is None:
        problems.append(images_service.not_found(image_id))
        raise_all(problems)
    assert image is not None
    if image.status != ImageStatus.AVAILABLE.value:
        problems.append(
            DomainError(
                ErrorCode.IMAGE_NOT_AVAILABLE,
                f"Image {image.id} is {image.status}, not AVAILABLE.",
                ("input", "imageId"),
            )
        )
    problems += missing
    account = session.get(Account, viewer.account_id)
    assert account is not None
    for index, instance_id in enumerate(request.instance_ids):
        instance = found.get(instance_id)
        if instance is None or instance.owner_id != viewer.account_id:
            continue
        path = request.field(index)
        problems += _state_problems(instance, account, now, path)
        if instance.status != InstanceStatus.RELEASED.value:  # its state is the one problem
            problems += _image_problems(session, instance, image, path, request.batch)
    raise_all(_unique(problems))
    changes = [_change(session, found[i], image, now) for i in dict.fromkeys(request.instance_ids)]
    warning = governance.deprecation_warning(session=session, viewer=viewer, image=image, now=now)
    return RebuildPlan(image, changes, (warning,) if warning else ())


def _image_id(
    session: Session,
    viewer: Viewer,
    request: RebuildRequest,
    found: dict[str, Instance],
    now: datetime,
) -> str:
    """The image the request names; a family resolves in the region of its first instance
    (an image lives in one region, so instances elsewhere are refused for that).
    """
    first = next((found[i] for i in request.instance_ids if i in found), None)
    return governance.image_of_request(
        session=session,
        viewer=viewer,
        image_id=request.image_id,
        family=request.image_family,
        region=first.region_code if first else "",
        now=now,
    )


def _unique(problems: Sequence[DomainError]) -> list[DomainError]:
    seen: set[tuple[object, ...]] = set()
    unique = []
    for problem in problems:
        key = (problem.code, problem.field, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


def quote(
    *, session: Session, viewer: Viewer, request: RebuildRequest, now: datetime
) -> RebuildPlan:
    """What the rebuild would charge, with the same checks, changing nothing."""
    return plan_rebuild(session=session, viewer=viewer, request=request, now=now, lock=False)
