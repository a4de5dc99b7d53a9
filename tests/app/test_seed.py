"""Seed data loads idempotently and holds what the catalogue promises."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from app.clock import Clock
from app.config import Settings
from app.database import read_session, write_session
from app.images.models import Image
from app.regions.models import Flavor, FlavorPrice
from app.seed import load, prepare


def test_loading_again_changes_nothing(engine: Engine, settings: Settings) -> None:
    report = prepare(engine, settings.seed_dir, Clock(simulated=False).now())
    assert report.inserted == {}
    assert report.updated == {}
    assert not report.changed


def test_a_changed_price_is_updated_not_duplicated(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    for file in settings.seed_dir.glob("*.json"):
        text = file.read_text(encoding="utf-8")
        if file.name == "flavors.json":
            text = text.replace('"perHour": "0.420000"', '"perHour": "0.430000"', 1)
        (tmp_path / file.name).write_text(text, encoding="utf-8")
    try:
        with write_session(engine) as session:
            report = load(session, tmp_path, Clock(simulated=False).now())
        assert report.inserted == {}
        assert report.updated == {"flavor_price": 1}
    finally:
        with write_session(engine) as session:
            load(session, settings.seed_dir, Clock(simulated=False).now())


def test_every_region_has_public_linux_windows_and_ebc_images(engine: Engine) -> None:
    with read_session(engine) as session:
        images = session.exec(select(Image).where(Image.kind == "PUBLIC")).all()
        kinds = Counter((i.region_code, i.os_type, i.generation) for i in images)
        windows_min = {i.min_disk_gb for i in images if i.os_type == "WINDOWS"}
        flavors = session.exec(select(Flavor)).all()
        offered = session.exec(select(FlavorPrice)).all()
    for region in ("bj", "bd", "su", "gz", "fwh", "hkg"):
        assert kinds[(region, "LINUX", "BCC")] >= 5
        assert kinds[(region, "WINDOWS", "BCC")] >= 6
        assert sum(n for (r, _, g), n in kinds.items() if r == region and g == "EBC") >= 1
    assert windows_min == {40}
    assert {f.family for f in flavors} >= {"general", "compute", "memory", "gpu", "baremetal"}
    regions_per_flavor = Counter(p.flavor_name for p in offered)
    assert min(regions_per_flavor.values()) < 6, "not every flavor is offered everywhere"
