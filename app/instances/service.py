"""Instances: reads, the lock for an owner's action, expiry, and the lines they pay (R52, R53)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, String, bindparam, distinct, func
from sqlmodel import Session, col, select

from app.accounts.models import Account
from app.billing.pricing import (
    ChargeKind,
    ChargeLine,
    ChargeUnit,
    Timing,
)
from app.errors import DomainError, ErrorCode, input_field, not_found, not_owner
from app.ids import is_id
from app.images.models import Image
from app.instances import rules
from app.instances.models import Instance
from app.instances.rules import InstanceStatus
from app.marketplace.models import ListingImage
from app.pagination import PageQuery, PageRequest, newest_first_query
from app.platform.viewer import Role, Viewer
from app.platform.visibility import ME, by_ids, locked, owned_by, symbolic
from app.regions.models import Flavor, Region
from app.tags.models import tagged_with
from app.tags.rules import TagFilter, filter_parameters


def _line_json(line: ChargeLine) -> dict[str, str]:
    """A charge line as stored on an instance."""
    return {
        "kind": line.kind.value,
        "description": line.description,
        "quantity": str(line.quantity),
        "unit": line.unit.value,
        "unitPrice": str(line.unit_price),
        "amount": str(line.amount),
    }


def charge_lines(instance: Instance) -> list[ChargeLine]:
    """The lines an instance pays now (stored when it was created or rebuilt)."""
    return [
        ChargeLine(
            kind=ChargeKind(item["kind"]),
            description=item["description"],
            quantity=Decimal(item["quantity"]),
            unit=ChargeUnit(item["unit"]),
            unit_price=Decimal(item["unitPrice"]),
            amount=Decimal(item["amount"]),
        )
        for item in json.loads(instance.charge_lines)
    ]


def lines_json(lines: Sequence[ChargeLine]) -> str:
    """The lines an instance pays, as stored on it."""
    return json.dumps([_line_json(line) for line in lines])


# --- reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageUsage:
    """Who uses an image (R173): counts over every account, never their ids."""

    live_instances: int = 0  # instances running it now (not released)
    accounts_using: int = 0  # the accounts those belong to
    last_launched_at: datetime | None = None  # the newest instance launched from it, any status
    listing_ids: tuple[str, ...] = ()  # the listings that publish it


def usage_of_images(*, session: Session, image_ids: Sequence[str]) -> dict[str, ImageUsage]:
    """Each image's usage: three grouped statements for the whole batch."""
    ids = [i for i in image_ids if is_id(i, "m")]
    if not ids:
        return {}
    live = session.exec(
        select(col(Instance.image_id), func.count(), func.count(distinct(col(Instance.owner_id))))
        .where(
            col(Instance.image_id).in_(ids), col(Instance.status) != InstanceStatus.RELEASED.value
        )
        .group_by(col(Instance.image_id))
    )
    counts = {image_id: (count, owners) for image_id, count, owners in live}
    launched = dict(
        session.exec(
            select(col(Instance.created_from_image_id), func.max(col(Instance.created_at)))
            .where(col(Instance.created_from_image_id).in_(ids))
            .group_by(col(Instance.created_from_image_id))
        ).all()
    )
    listings: dict[str, list[str]] = {}
    published = select(col(ListingImage.image_id), col(ListingImage.listing_id)).where(
        col(ListingImage.image_id).in_(ids)
    )
    copies = select(col(Image.id), col(Image.listing_id)).where(
        col(Image.id).in_(ids), col(Image.listing_id).is_not(None)
    )
    for image_id, listing_id in [*session.exec(published), *session.exec(copies)]:
        if listing_id not in listings.setdefault(image_id, []):
            listings[image_id].append(listing_id)
    return {
        image_id: ImageUsage(
            *counts.get(image_id, (0, 0)),
            launched.get(image_id),
            tuple(sorted(listings.get(image_id, []))),
        )
        for image_id in ids
    }


def visible_clause(viewer: Viewer | None) -> ColumnElement[bool]:
    """Who sees which instance: its owner, and administrators."""
    return owned_by(viewer, col(Instance.owner_id))


def get(*, session: Session, viewer: Viewer, instance_id: str) -> Instance | None:
    """Return an instance the viewer owns (admins: any); others answer like a missing one."""
    if not is_id(instance_id, "i"):
        return None
    return session.exec(
        select(Instance).where(Instance.id == instance_id, visible_clause(viewer))
    ).first()


def list_by_ids(*, session: Session, viewer: Viewer, ids: Sequence[str]) -> list[Instance]:
    """Return the viewer's instances among these ids, in the order given."""
    found = {i.id: i for i in by_ids(session, Instance, ids, "i", visible_clause(viewer))}
    return [found[i] for i in ids if i in found]


@dataclass(frozen=True)
class InstanceFilter:
    """Filters of the instances query."""

    region: str | None = None
    status: str | None = None
    image: str | None = None
    tags: tuple[TagFilter, ...] = ()  # the caller's own tags only


#: a page's instances are read with their regions and flavors (every item shows them)
_REGION_TABLE = Region.__table__  # type: ignore[attr-defined]
_FLAVOR_TABLE = Flavor.__table__  # type: ignore[attr-defined]
_REGION_COLUMNS = [c.label(f"region__{c.name}") for c in _REGION_TABLE.c]
_FLAVOR_COLUMNS = [c.label(f"flavor__{c.name}") for c in _FLAVOR_TABLE.c]


def page_relations(rows: Iterable[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The regions and flavors a page of ``list_instances`` read beside its instances, by
    code and by name: each with its row's fields as attributes.
    """
    regions: dict[str, Any] = {}
    flavors: dict[str, Any] = {}
    for row in rows:
        if row.region_code not in regions:
            values = row._mapping
            regions[row.region_code] = SimpleNamespace(
                **{c.name: values[f"region__{c.name}"] for c in _REGION_TABLE.c}
            )
        if row.flavor_name not in flavors:
            values = row._mapping
            flavors[row.flavor_name] = SimpleNamespace(
                **{c.name: values[f"flavor__{c.name}"] for c in _FLAVOR_TABLE.c}
            )
    return regions, flavors


#: the filters of the instances list, by name: the column each compares
_FILTER_COLUMNS = {
    "region": Instance.region_code,
    "status": Instance.status,
    "image": Instance.image_id,
}


@functools.lru_cache(maxsize=128)
def _filtered(admin: bool, filters: tuple[str, ...], tags: tuple[bool, ...]) -> Any:
    """The rows of an instances list of this shape (which filters are given, which tag
    filters name a value), with the caller's account and the filters' values as parameters:
    built once per shape.
    """
    caller = symbolic(Role.ADMIN.value if admin else Role.CUSTOMER.value)
    stmt = (
        select(*Instance.__table__.c, *_REGION_COLUMNS, *_FLAVOR_COLUMNS)  # type: ignore[attr-defined]
        .join(Region, col(Region.code) == col(Instance.region_code))
        .join(Flavor, col(Flavor.name) == col(Instance.flavor_name))
        .where(
            visible_clause(caller),
            *[col(_FILTER_COLUMNS[name]) == bindparam(name, type_=String) for name in filters],
        )
    )
    for index, valued in enumerate(tags):
        stmt = stmt.where(tagged_with(col(Instance.id), ME, index, valued))
    return stmt


def list_instances(
    *, session: Session, viewer: Viewer, filters: InstanceFilter, page: PageRequest
) -> PageQuery[Instance]:
    """The query of one keyset page of the viewer's instances, newest first: its rows have
    every column as an attribute, like an Instance (Core rows: building ORM state for a page
    of them costs more than the query), and their region's and flavor's columns, which
    ``page_relations`` reads.
    """
    values = {name: getattr(filters, name) for name in _FILTER_COLUMNS}
    given = tuple(name for name, value in values.items() if value is not None)
    tags = tuple(tag.value is not None for tag in filters.tags)
    stmt = _filtered(viewer.is_admin, given, tags)
    parameters = {"me": viewer.account_id, **{name: values[name] for name in given}}
    parameters.update(filter_parameters(filters.tags))
    return newest_first_query(
        session,
        stmt,
        Instance,
        page,
        planned_once=not given and not tags,
        shape=("instances", viewer.is_admin, given, tags),
        parameters=parameters,
    )


# --- lifecycle --------------------------------------------------------------------------


def get_for_update(session: Session, viewer: Viewer, instance_id: str) -> Instance:
    """Lock an instance for one of its owner's actions.

    Callers that may move money lock the owner's account first (the one lock order every
    money-moving transaction follows); ``workflows.instance_actions.for_action`` does both.

    Raises:
        DomainError: INSTANCE_NOT_FOUND when it is missing or another tenant's;
            PERMISSION_DENIED for an administrator (instance actions are the owner's alone).
    """
    instance = locked(session, Instance, instance_id, "i", visible_clause(viewer))
    if instance is None:
        raise not_found(ErrorCode.INSTANCE_NOT_FOUND, "instance", instance_id, "instanceId")
    if instance.owner_id != viewer.account_id:
        raise not_owner("instance", instance.id, "act on it", input_field("instanceId"))
    return instance


def refuse(instance: Instance, action: str) -> DomainError:
    """INSTANCE_STATUS_FORBIDDEN for an action the instance's state does not allow."""
    return DomainError(
        ErrorCode.INSTANCE_STATUS_FORBIDDEN,
        f"Instance {instance.id} is {instance.status}; it cannot be {action} now.",
        input_field("instanceId"),
    )


def resume(session: Session, instance: Instance, status: str, now: datetime) -> None:
    """Put an instance back in ``status`` after an operation, unless the platform must hold
    it: a postpaid instance of an account in arrears, or a prepaid one whose term has ended,
    does not run (R54, R74, R127).
    """
    reason = None
    if status == InstanceStatus.RUNNING.value:
        account = session.get(Account, instance.owner_id)
        if instance.billing_timing == Timing.POSTPAID.value and account and account.in_arrears:
            status, reason = InstanceStatus.STOPPED.value, rules.StatusReason.ARREARS.value
        elif instance.expires_at is not None and instance.expires_at <= now:
            status, reason = InstanceStatus.STOPPED.value, rules.StatusReason.EXPIRED.value
    instance.status = status
    if reason is not None:
        instance.status_reason = reason
    session.add(instance)


def expire_due(session: Session, now: datetime) -> None:
    """Scheduler job: stop prepaid instances whose term has ended (reason EXPIRED)."""
    stmt = (
        select(Instance)
        .where(
            Instance.billing_timing == Timing.PREPAID.value,
            col(Instance.expires_at) <= now,
            col(Instance.status).in_(rules.SETTLED),
            col(Instance.status_reason).is_(None)
            | (Instance.status_reason != rules.StatusReason.EXPIRED.value),
        )
        .with_for_update()
    )
    for instance in session.exec(stmt):
        instance.status = InstanceStatus.STOPPED.value
        instance.status_reason = rules.StatusReason.EXPIRED.value
        session.add(instance)
    session.flush()
