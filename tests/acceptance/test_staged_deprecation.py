"""Staged deprecation over real HTTP, through the simulated clock (issue 25; R174, R203): a custom
image is deprecated, later disabled and later moved to the recycle bin; a stage that cannot run
(deletion protection) is skipped and said on the image; undeprecating cancels the stages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.acceptance.conftest import QUICK, image, own_server, running_instance
from tests.acceptance.test_governance import BIN, PROTECT, UNDEPRECATE, Fleet

HOUR, DAY = 3600, 86400
STAGED = """id disabled lifecycleNote
  deprecation { state deprecateAt disableAt deleteAt }"""
DEPRECATE = f"""mutation($i: DeprecateImageInput!) {{ deprecateImage(input: $i) {{
  image {{ {STAGED} }} userErrors {{ code field message }} }} }}"""
GET = f"query($id: ID!) {{ image(id: $id) {{ {STAGED} }} }}"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A server of its own (its clock is moved by days), an owner with a running instance."""
    with own_server(tmp_path_factory, "staged-data", {**QUICK, "recycle_bin_days": 30}) as server:
        owner, friend = server.account(balance="5000"), server.account(balance="5000")
        yield Fleet(server, owner, friend, running_instance(server, owner))


def _at(now: datetime, seconds: int) -> str:
    return (now + timedelta(seconds=seconds)).isoformat()


def _stages(now: datetime) -> dict[str, str]:
    """Deprecated in an hour, disabled two days on, into the recycle bin four days on."""
    return {
        "deprecateAt": _at(now, HOUR),
        "disableAt": _at(now, 2 * DAY),
        "deleteAt": _at(now, 4 * DAY),
    }


def _read(fleet: Fleet, image_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = fleet.server.gql(GET, {"id": image_id}, fleet.owner)["data"][
        "image"
    ]
    return found


def test_the_stages_run_in_turn_and_a_protected_image_stays_with_a_note(fleet: Fleet) -> None:
    plain, protected = fleet.capture(), fleet.capture()
    fleet.ok(PROTECT, {"imageId": protected, "enabled": True})
    now = datetime.fromisoformat(fleet.server.advance(1))
    for image_id in (plain, protected):
        staged = fleet.do(DEPRECATE, {"imageId": image_id, **_stages(now)})
        assert staged["userErrors"] == []
        assert staged["image"]["deprecation"]["state"] == "SCHEDULED"
        assert staged["image"]["disabled"] is False
    fleet.server.advance(2 * DAY + HOUR)  # deprecated, then disabled
    for image_id in (plain, protected):
        seen = _read(fleet, image_id)
        assert seen is not None
        assert (seen["disabled"], seen["deprecation"]["state"]) == (True, "DEPRECATED")
        assert seen["deprecation"]["disableAt"] is None  # that stage ran
        assert seen["deprecation"]["deleteAt"] is not None and seen["lifecycleNote"] is None
    fleet.server.advance(2 * DAY)  # the move to the recycle bin falls due
    assert _read(fleet, plain) is None
    binned = fleet.server.gql(BIN, tenant=fleet.owner)["data"]["recycleBin"]["nodes"]
    assert plain in {n["id"] for n in binned} and protected not in {n["id"] for n in binned}
    kept = _read(fleet, protected)
    assert kept is not None and kept["disabled"] is True
    assert kept["deprecation"]["deleteAt"] is None
    assert kept["lifecycleNote"].startswith("Not moved to the recycle bin at ")
    assert "protected from deletion" in kept["lifecycleNote"]
    fleet.ok(PROTECT, {"imageId": protected, "enabled": False})


def test_undeprecating_cancels_the_later_stages(fleet: Fleet) -> None:
    image_id = fleet.capture()
    now = datetime.fromisoformat(fleet.server.advance(1))
    assert fleet.do(DEPRECATE, {"imageId": image_id, **_stages(now)})["userErrors"] == []
    fleet.server.advance(DAY)
    assert fleet.ok(UNDEPRECATE, {"imageId": image_id})["deprecation"] is None
    fleet.server.advance(4 * DAY)
    seen = _read(fleet, image_id)
    assert seen is not None and seen["disabled"] is False and seen["lifecycleNote"] is None


def test_each_stage_comes_after_the_one_before_and_only_for_custom_images(fleet: Fleet) -> None:
    image_id = fleet.capture()
    now = datetime.fromisoformat(fleet.server.advance(1))
    early = {"imageId": image_id, "deprecateAt": _at(now, DAY), "disableAt": _at(now, HOUR)}
    assert [(e["code"], e["field"]) for e in fleet.do(DEPRECATE, early)["userErrors"]] == [
        ("INVALID_INPUT", ["input", "disableAt"])
    ]
    late = {"imageId": image_id, "disableAt": _at(now, 2 * DAY), "deleteAt": _at(now, DAY)}
    assert [(e["code"], e["field"]) for e in fleet.do(DEPRECATE, late)["userErrors"]] == [
        ("INVALID_INPUT", ["input", "deleteAt"])
    ]
    assert _read(fleet, image_id)["deprecation"] is None  # type: ignore[index]  # nothing changed
    public = {"imageId": image(fleet.server), "disableAt": _at(now, DAY)}
    refused = fleet.do(DEPRECATE, public, fleet.server.admin)["userErrors"]
    assert [(e["code"], e["field"]) for e in refused] == [
        ("IMAGE_NOT_CUSTOM", ["input", "disableAt"])
    ]
