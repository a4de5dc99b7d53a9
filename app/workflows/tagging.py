"""Tagging images, snapshots and instances (R114, R123): owner only, all or nothing, each
problem at the index of the resource or tag it concerns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.accounts import service as accounts_service
from app.errors import DomainError, ErrorCode, input_field, not_owner, raise_all, shown
from app.ids import id_prefix
from app.images import service as images_service
from app.images.rules import ImageKind
from app.instances import service as instances_service
from app.instances.rules import InstanceStatus
from app.platform.viewer import Viewer
from app.snapshots import service as snapshots_service
from app.tags import rules
from app.tags import service as tags_service

#: what each id prefix names, and the code for one the caller cannot see
KINDS = {
    "m": ("image", ErrorCode.IMAGE_NOT_FOUND),
    "s": ("snapshot", ErrorCode.SNAPSHOT_NOT_FOUND),
    "i": ("instance", ErrorCode.INSTANCE_NOT_FOUND),
}


def _visible(session: Session, viewer: Viewer, ids: Sequence[str]) -> dict[str, Any]:
    """The resources among ``ids`` the caller may see, by id."""
    by_kind: dict[str, list[str]] = {"m": [], "s": [], "i": []}
    for resource_id in ids:
        prefix = id_prefix(resource_id)
        if prefix in by_kind:
            by_kind[prefix].append(resource_id)
    rows: list[Any] = [
        *images_service.list_by_ids(session=session, viewer=viewer, image_ids=by_kind["m"]),
        *snapshots_service.list_by_ids(session=session, viewer=viewer, ids=by_kind["s"]),
        *instances_service.list_by_ids(session=session, viewer=viewer, ids=by_kind["i"]),
    ]
    return {row.id: row for row in rows}


def _resource_problem(
    viewer: Viewer, resource_id: str, row: Any, path: tuple[str, ...]
) -> DomainError | None:
    prefix = id_prefix(resource_id)
    if prefix not in KINDS:
        return DomainError(
            ErrorCode.INVALID_INPUT,
            f"{shown(resource_id)} is not the id of an image, snapshot or instance.",
            path,
        )
    kind, missing = KINDS[prefix]
    gone = row is not None and getattr(row, "status", None) == InstanceStatus.RELEASED.value
    if row is None or gone:
        return DomainError(missing, f"There is no {kind} {shown(resource_id)}.", path)
    custom = prefix != "m" or row.kind == ImageKind.CUSTOM.value
    if row.owner_id != viewer.account_id or not custom:
        return not_owner(kind, row.id, "tag it", path)
    return None


def _count_problems(field: str, noun: str, given: int, most: int) -> list[DomainError]:
    """The list input ``field`` holds 1 to ``most`` items."""
    if 1 <= given <= most:
        return []
    message = f"{field} holds 1 to {most} {noun}; got {given}."
    return [DomainError(ErrorCode.INVALID_INPUT, message, input_field(field))]


def _owned(session: Session, viewer: Viewer, ids: Sequence[str]) -> list[DomainError]:
    """Every resource is the caller's own (each problem at its index)."""
    problems = _count_problems("resourceIds", "ids", len(ids), rules.MAX_RESOURCES)
    visible = _visible(session, viewer, ids)
    seen: set[str] = set()
    for index, resource_id in enumerate(ids):
        path = input_field("resourceIds", str(index))
        problem = _resource_problem(viewer, resource_id, visible.get(resource_id), path)
        if problem is None and resource_id in seen:
            problem = DomainError(ErrorCode.INVALID_INPUT, f"{resource_id} is listed twice.", path)
        seen.add(resource_id)
        if problem is not None:
            problems.append(problem)
    return problems


def _tag_problems(tags: Sequence[tuple[str, str]]) -> list[DomainError]:
    problems = _count_problems("tags", "tags", len(tags), rules.MAX_TAGS)
    keys: set[str] = set()
    for index, (key, value) in enumerate(tags):
        at = str(index)
        if problem := rules.key_problem(key):
            problems.append(
                DomainError(ErrorCode.INVALID_TAG, problem, input_field("tags", at, "key"))
            )
        elif key in keys:
            problems.append(
                DomainError(
                    ErrorCode.INVALID_TAG,
                    f"Key {shown(key)} is given twice.",
                    input_field("tags", at),
                )
            )
        if problem := rules.value_problem(value):
            problems.append(
                DomainError(ErrorCode.INVALID_TAG, problem, input_field("tags", at, "value"))
            )
        keys.add(key)
    return problems


def tag(
    *,
    session: Session,
    viewer: Viewer,
    resource_ids: Sequence[str],
    tags: Sequence[tuple[str, str]],
    now: datetime,
) -> list[Any]:
    """Put tags on the caller's resources, all or nothing; a key a resource carries already
    takes the new value. Returns the resources, in the order given.

    Only a resource's owner puts tags on it, so the keys are counted with the caller's
    account locked (R155): concurrent requests of the account count one after another.

    Raises:
        DomainErrors: INVALID_INPUT, INVALID_TAG, IMAGE_/SNAPSHOT_/INSTANCE_NOT_FOUND,
            PERMISSION_DENIED, TAG_LIMIT_EXCEEDED (more than 50 keys on a resource).
    """
    accounts_service.lock_account(session=session, account_id=viewer.account_id)
    problems = _owned(session, viewer, resource_ids) + _tag_problems(tags)
    raise_all(problems)
    wanted = {key for key, _ in tags}
    carried = tags_service.keys_of(session=session, resource_ids=resource_ids)
    for index, resource_id in enumerate(resource_ids):
        total = len(carried[resource_id] | wanted)
        if total > rules.MAX_TAGS:
            problems.append(
                DomainError(
                    ErrorCode.TAG_LIMIT_EXCEEDED,
                    f"{resource_id} would carry {total} tags; at most {rules.MAX_TAGS}.",
                    input_field("resourceIds", str(index)),
                )
            )
    raise_all(problems)
    tags_service.put(
        session=session, owner_id=viewer.account_id, resource_ids=resource_ids, tags=tags, now=now
    )
    return _in_order(session, viewer, resource_ids)


def untag(
    *, session: Session, viewer: Viewer, resource_ids: Sequence[str], keys: Sequence[str]
) -> list[Any]:
    """Take keys off the caller's resources, all or nothing (an absent key is ignored).

    Raises:
        DomainErrors: INVALID_INPUT, IMAGE_/SNAPSHOT_/INSTANCE_NOT_FOUND, PERMISSION_DENIED.
    """
    problems = _owned(session, viewer, resource_ids)
    if not 1 <= len(keys) <= rules.MAX_TAGS:
        problems.append(
            DomainError(
                ErrorCode.INVALID_INPUT,
                f"keys holds 1 to {rules.MAX_TAGS} keys; got {len(keys)}.",
                input_field("keys"),
            )
        )
    raise_all(problems)
    tags_service.remove(session=session, resource_ids=resource_ids, keys=keys)
    return _in_order(session, viewer, resource_ids)


def _in_order(session: Session, viewer: Viewer, ids: Sequence[str]) -> list[Any]:
    visible = _visible(session, viewer, ids)
    return [visible[resource_id] for resource_id in ids]
