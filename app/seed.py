"""Load seed_data/*.json idempotently: insert what is missing, update what changed."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.accounts.permissions import OPERATOR
from app.billing.models import PriceSetting, RegionRate, TermDiscount
from app.billing.pricing import Timing
from app.database import schema_lock, upgrade, write_session
from app.ids import new_id
from app.images import service as images_service
from app.images.models import Image, SupportedOs
from app.images.rules import (
    Disk,
    DiskKind,
    ImageKind,
    ImageStatus,
    OsLicense,
    OsType,
    Source,
    SourceKind,
    name_problem,
)
from app.marketplace import lifecycle as listings
from app.marketplace.models import Listing
from app.marketplace.rules import Plan
from app.money import rate_to_int
from app.platform import catalogue_version
from app.platform.catalogue_version import CatalogueVersion
from app.platform.schedule import ClockState, SchedulerState
from app.platform.viewer import Role, Viewer
from app.regions.models import Flavor, FlavorPrice, Region, Zone
from app.workflows import publish, tracking
from app.workflows.lifecycle_runs import LIFECYCLE_JOB
from app.workflows.settlement import HOURLY_JOB

PLATFORM_ACCOUNT = "platform"
#: when a scheduled job that never ran last ran (any job time is later)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class SeedReport:
    """How many seed rows were inserted and updated."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Tell whether loading changed anything."""
        return any(self.inserted.values()) or any(self.updated.values())

    def count(self, table: str, inserted: bool) -> None:
        """Count one inserted or updated row."""
        target = self.inserted if inserted else self.updated
        target[table] = target.get(table, 0) + 1


def _read(seed_dir: Path, name: str) -> Any:
    with (seed_dir / name).open(encoding="utf-8") as handle:
        return json.load(handle)


def _upsert(
    session: Session, report: SeedReport, model: type[SQLModel], key: Any, values: dict[str, Any]
) -> None:
    row = session.get(model, key)
    table = str(model.__tablename__)
    if row is None:
        session.add(model(**values))
        report.count(table, inserted=True)
        return
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed:
        session.add(row)
        report.count(table, inserted=False)


def load(session: Session, seed_dir: Path, now: datetime) -> SeedReport:
    """Load every seed file; running it twice changes nothing the second time."""
    report = SeedReport()
    platform = accounts_service.get_by_seed_key(session=session, seed_key=PLATFORM_ACCOUNT)
    if platform is None:
        platform = accounts_service.create(
            session=session,
            viewer=OPERATOR,
            name="platform",
            role=Role.ADMIN,
            now=now,
            seed_key=PLATFORM_ACCOUNT,
        )
        report.count("account", inserted=True)
    _load_regions(session, report, _read(seed_dir, "regions.json"))
    session.flush()
    _load_flavors(session, report, _read(seed_dir, "flavors.json"))
    _load_price_book(session, report, _read(seed_dir, "price_book.json"))
    _load_supported_os(session, report, _read(seed_dir, "import_os.json"))
    session.flush()
    _load_public_images(session, report, _read(seed_dir, "public_images.json"), platform.id, now)
    session.flush()
    marketplace = seed_dir / "marketplace.json"
    if marketplace.exists():
        _load_marketplace(session, report, _read(seed_dir, "marketplace.json"), platform.id, now)
    if report.changed:
        catalogue_version.bump(session=session)
    return report


def _load_regions(session: Session, report: SeedReport, regions: list[dict[str, Any]]) -> None:
    for position, region in enumerate(regions):
        _upsert(
            session,
            report,
            Region,
            region["code"],
            {
                "code": region["code"],
                "name": region["name"],
                "copy_supported": bool(region["copySupported"]),
                "position": position,
            },
        )
        for zone_position, zone in enumerate(region["zones"]):
            _upsert(
                session,
                report,
                Zone,
                zone,
                {"name": zone, "region_code": region["code"], "position": zone_position},
            )


def _load_flavors(session: Session, report: SeedReport, flavors: list[dict[str, Any]]) -> None:
    for position, flavor in enumerate(flavors):
        _upsert(
            session,
            report,
            Flavor,
            flavor["name"],
            {
                "name": flavor["name"],
                "generation": flavor["generation"],
                "family": flavor["family"],
                "vcpus": int(flavor["vcpus"]),
                "memory_gb": int(flavor["memoryGb"]),
                "position": position,
                "arch": flavor.get("arch", "X86_64"),
            },
        )
    session.flush()
    for flavor in flavors:
        for region, price in flavor["prices"].items():
            _upsert(
                session,
                report,
                FlavorPrice,
                (flavor["name"], region),
                {
                    "flavor_name": flavor["name"],
                    "region_code": region,
                    "per_hour_micros": rate_to_int(Decimal(price["perHour"])),
                    "per_month_micros": rate_to_int(Decimal(price["perMonth"])),
                },
            )


def _load_price_book(session: Session, report: SeedReport, book: dict[str, Any]) -> None:
    for months, factor in book["termDiscounts"].items():
        _upsert(
            session,
            report,
            TermDiscount,
            int(months),
            {"months": int(months), "factor_micros": rate_to_int(Decimal(factor))},
        )
    for name in ("currency", "marketplaceCommission", "freeSystemDiskGb"):
        _upsert(session, report, PriceSetting, name, {"name": name, "value": str(book[name])})
    for region, rates in book["regions"].items():
        items = {kind: (r["perGbHour"], r["perGbMonth"]) for kind, r in rates["cds"].items()}
        licence = rates["windowsLicense"]
        items["WINDOWS_LICENSE"] = (licence["perVcpuHour"], licence["perVcpuMonth"])
        for item, (per_hour, per_month) in items.items():
            _upsert(
                session,
                report,
                RegionRate,
                (region, item),
                {
                    "region_code": region,
                    "item": item,
                    "per_hour_micros": rate_to_int(Decimal(per_hour)),
                    "per_month_micros": rate_to_int(Decimal(per_month)),
                },
            )


def _load_supported_os(session: Session, report: SeedReport, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        for version in entry["versions"]:
            for arch in entry["arches"]:
                key = (entry["type"], entry["name"], version, arch)
                values = {"os_type": key[0], "name": key[1], "version": key[2], "arch": key[3]}
                _upsert(session, report, SupportedOs, key, values)


def _load_public_images(
    session: Session,
    report: SeedReport,
    images: list[dict[str, Any]],
    owner_id: str,
    now: datetime,
) -> None:
    existing = {
        row.seed_key: row
        for row in session.exec(select(Image).where(Image.seed_key.is_not(None)))  # type: ignore[union-attr]
    }
    for spec in images:
        problem = name_problem(spec["name"])
        if problem is not None:
            raise ValueError(f"seed image {spec['key']}: {problem}")
        os = spec["os"]
        for region in spec["regions"]:
            seed_key = f"{spec['key']}@{region}"
            values = {
                "name": spec["name"],
                "description": spec.get("description", ""),
                "generation": spec["generation"],
                "os_type": os["type"],
                "os_name": os["name"],
                "os_version": os["version"],
                "os_arch": os["arch"],
                "os_lang": os.get("lang"),
                "min_disk_gb": int(spec["minDiskGb"]),
                "size_gb": spec.get("sizeGb"),
                "charge_os_license": (
                    OsLicense.WINDOWS if os["type"] == OsType.WINDOWS.value else OsLicense.NONE
                ).value,
            }
            row = existing.get(seed_key)
            if row is None:
                session.add(
                    Image(
                        id=new_id("m"),
                        seed_key=seed_key,
                        kind=ImageKind.PUBLIC.value,
                        region_code=region,
                        status=ImageStatus.AVAILABLE.value,
                        created_at=now,
                        owner_id=owner_id,
                        source_kind=SourceKind.PLATFORM.value,
                        **values,
                    )
                )
                report.count("image", inserted=True)
                continue
            if any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                session.add(row)
                report.count("image", inserted=False)


def prepare(engine: Engine, seed_dir: Path, now: datetime) -> SeedReport:
    """Migrate the database to the newest schema, make its one-of-a-kind rows and load seed
    data, once across processes.
    """
    tracking.install()  # seed data moves the catalogue version like any other write
    with schema_lock(engine):
        upgrade(engine)
        with write_session(engine) as session:
            _singletons(session)
            return load(session, seed_dir, now)


def _singletons(session: Session) -> None:
    """The rows the service would otherwise insert on first use (the shared clock, the
    catalogue version, the marks of the hourly settlement and of the daily lifecycle run),
    made here under the schema lock, so that processes starting together on a fresh database
    lock the existing row instead of both inserting it (a duplicate key for the second). Each
    is what "none yet" meant.
    """
    if session.get(ClockState, 1) is None:
        session.add(ClockState(id=1, offset_seconds=0.0))
    if session.get(CatalogueVersion, 1) is None:
        session.add(CatalogueVersion(id=1, version=0))
    for job in (HOURLY_JOB, LIFECYCLE_JOB):
        if session.get(SchedulerState, job) is None:
            session.add(SchedulerState(name=job, until=NEVER))
    session.flush()


def _load_marketplace(
    session: Session, report: SeedReport, data: dict[str, Any], platform_id: str, now: datetime
) -> None:
    """A demo provider with published listings, so a new catalogue shows the marketplace.

    Listings are created once (by seed key) through the same service calls a provider and a
    reviewer would make; later edits of the file do not rewrite a published listing.
    """
    provider = _seed_provider(session, report, data["provider"], now)
    as_provider = Viewer(account_id=provider.id, role=Role.PROVIDER, token_id="seed")
    as_admin = Viewer(account_id=platform_id, role=Role.ADMIN, token_id="seed")
    for item in data["listings"]:
        exists = session.exec(select(Listing).where(Listing.seed_key == item["key"])).first()
        if exists is not None:
            continue
        sources = _listing_sources(session, item, provider.id, now)
        plans = [
            Plan(Timing(p["timing"]), p.get("months"), Decimal(p["price"])) for p in item["plans"]
        ]
        listing = publish.create(
            session=session,
            viewer=as_provider,
            data=listings.ListingInput(
                kind=item["kind"],
                title=item["title"],
                summary=item["summary"],
                category=item["category"],
                version=item["version"],
                image_ids=[s.id for s in sources],
                plans=plans,
            ),
            now=now,
            seed_key=item["key"],
        )
        listings.submit(session=session, viewer=as_provider, listing_id=listing.id, now=now)
        publish.approve(session=session, viewer=as_admin, listing_id=listing.id, now=now)
        report.count("listing", inserted=True)


def _seed_provider(
    session: Session, report: SeedReport, spec: dict[str, Any], now: datetime
) -> Account:
    provider = accounts_service.get_by_seed_key(session=session, seed_key=spec["key"])
    if provider is None:
        provider = accounts_service.create(
            session=session,
            viewer=OPERATOR,
            name=spec["name"],
            role=Role.PROVIDER,
            now=now,
            seed_key=spec["key"],
        )
        report.count("account", inserted=True)
    return provider


def _listing_sources(
    session: Session, item: dict[str, Any], provider_id: str, now: datetime
) -> list[Image]:
    """The provider's custom images a seeded listing publishes: copies of a public image."""
    sources = []
    for region in item["regions"]:
        base = session.exec(
            select(Image).where(Image.seed_key == f"{item['baseImage']}@{region}")
        ).one()
        source = images_service.image_from_source(
            dataclasses.replace(Disk.of(base), system_disk_kind=DiskKind.CDS.value),
            name=item["imageName"],
            description=item["title"],
            kind=ImageKind.CUSTOM,
            owner_id=provider_id,
            region_code=region,
            source=Source(SourceKind.PLATFORM),
            now=now,
            status=ImageStatus.AVAILABLE,
        )
        source.seed_key = f"listing:{item['key']}@{region}"
        session.add(source)
        sources.append(source)
    session.flush()
    return sources
