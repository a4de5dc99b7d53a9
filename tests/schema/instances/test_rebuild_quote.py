"""Rebuild quotes per instance, and compute prices fixed at launch (issue 24; R168, R169, R206):
``rebuildQuote`` answers each instance's lines before and after, postpaid per hour (never a bare
0.00), prepaid for the days left in the term; a rebuild changes only the image's lines.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.database import write_session
from app.regions.models import FlavorPrice
from tests.factories import Factory, Tenant, gql
from tests.fixtures import CREATE, REBUILD, launch

LINE = "kind unit quantity unitPrice { amount } amount { amount }"
QUOTE = f"""query($i: RebuildInstancesInput!) {{ rebuildQuote(input: $i) {{
  timing lines {{ {LINE} }} total {{ amount }} userErrors {{ code field }}
  instances {{ timing instance {{ id }} before {{ {LINE} }} after {{ {LINE} }}
    dueNow {{ amount }} listing {{ id }} }} }} }}"""
INSTANCE = """query($id: ID!) { instance(id: $id) { charges { kind unit amount { amount } } } }"""
PREPAID = {"timing": "PREPAID", "months": 1}


def _running(client: TestClient, tenant: Tenant, image: str, **overrides: Any) -> str:
    created = gql(client, CREATE, {"i": launch(image, **overrides)}, tenant)["data"]
    assert created["createInstances"]["userErrors"] == []
    client.app.state.worker.tick()  # type: ignore[attr-defined]
    return str(created["createInstances"]["instances"][0]["id"])


def _quote(client: TestClient, tenant: Tenant, ids: list[str], image: str) -> dict[str, Any]:
    body = gql(client, QUOTE, {"i": {"instanceIds": ids, "imageId": image}}, tenant)
    quoted: dict[str, Any] = body["data"]["rebuildQuote"]
    assert quoted["userErrors"] == []
    return quoted


def _kinds(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["kind"]: line for line in lines}


def test_a_postpaid_rebuild_is_quoted_per_hour_before_and_after(
    app_client: TestClient, factory: Factory
) -> None:
    """It was quoted as PREPAID with no lines and 0.00."""
    tenant = factory.account(balance="500")
    linux, windows = factory.public_image(), factory.public_image(os_type="WINDOWS")
    disk = {"storageType": "CDS_SSD", "sizeGb": 80}  # past the 40 GB included: a disk line
    instance_id = _running(app_client, tenant, linux, systemDisk=disk)
    quoted = _quote(app_client, tenant, [instance_id], windows)
    [one] = quoted["instances"]
    assert (quoted["timing"], one["timing"], one["instance"]["id"]) == (
        "POSTPAID",
        "POSTPAID",
        instance_id,
    )
    before, after = _kinds(one["before"]), _kinds(one["after"])
    assert set(before) == {"COMPUTE", "SYSTEM_DISK"}
    assert set(after) == {"COMPUTE", "SYSTEM_DISK", "WINDOWS_LICENSE"}
    assert {line["unit"] for line in one["before"] + one["after"]} == {"HOUR"}
    assert after["COMPUTE"] == before["COMPUTE"] and after["SYSTEM_DISK"] == before["SYSTEM_DISK"]
    assert Decimal(after["WINDOWS_LICENSE"]["amount"]["amount"]) > 0
    assert one["dueNow"] == {"amount": "0.00"} and one["listing"] is None
    # the batch's lines are one hour of it once rebuilt, never a bare 0.00
    assert quoted["lines"] == one["after"]
    hourly = sum(Decimal(line["amount"]["amount"]) for line in one["after"])
    assert Decimal(quoted["total"]["amount"]) == hourly > 0
    # and the instance pays exactly the quoted lines once rebuilt
    done = gql(app_client, REBUILD, {"i": {"instanceId": instance_id, "imageId": windows}}, tenant)
    assert done["data"]["rebuildInstance"]["userErrors"] == []
    charges = gql(app_client, INSTANCE, {"id": instance_id}, tenant)["data"]["instance"]["charges"]
    assert charges == [
        {"kind": line["kind"], "unit": line["unit"], "amount": line["amount"]}
        for line in one["after"]
    ]


def test_a_rebuild_keeps_the_compute_price_the_instance_was_launched_with(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    """R168: a rebuild re-priced compute at today's flavor price."""
    tenant = factory.account(balance="500")
    linux, windows = factory.public_image(), factory.public_image(os_type="WINDOWS")
    instance_id = _running(app_client, tenant, linux)
    launched = gql(app_client, INSTANCE, {"id": instance_id}, tenant)["data"]["instance"]
    with write_session(engine) as session:  # the operator doubles the flavor's price
        price = session.get(FlavorPrice, ("bcc.g5.c2m8", "bj"))
        assert price is not None
        price.per_hour_micros *= 2
        session.add(price)
    newer = _running(app_client, tenant, linux)
    newer_compute = _kinds(
        gql(app_client, INSTANCE, {"id": newer}, tenant)["data"]["instance"]["charges"]
    )["COMPUTE"]
    old_compute = _kinds(launched["charges"])["COMPUTE"]
    assert Decimal(newer_compute["amount"]["amount"]) == 2 * Decimal(
        old_compute["amount"]["amount"]
    )
    [one] = _quote(app_client, tenant, [instance_id], windows)["instances"]
    assert _kinds(one["after"])["COMPUTE"]["amount"] == old_compute["amount"]
    done = gql(app_client, REBUILD, {"i": {"instanceId": instance_id, "imageId": windows}}, tenant)
    assert done["data"]["rebuildInstance"]["userErrors"] == []
    rebuilt = gql(app_client, INSTANCE, {"id": instance_id}, tenant)["data"]["instance"]
    assert _kinds(rebuilt["charges"])["COMPUTE"] == old_compute


def test_a_rebuild_needs_no_price_of_its_flavor_today(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    """R168: compute is not re-priced, so a flavor the region no longer offers does not stop a
    rebuild (it was refused FLAVOR_NOT_FOUND)."""
    tenant = factory.account(balance="500")
    linux, windows = factory.public_image(), factory.public_image(os_type="WINDOWS")
    instance_id = _running(app_client, tenant, linux)
    launched = gql(app_client, INSTANCE, {"id": instance_id}, tenant)["data"]["instance"]
    with write_session(engine) as session:  # the operator withdraws the flavor from bj
        price = session.get(FlavorPrice, ("bcc.g5.c2m8", "bj"))
        assert price is not None
        kept = price.model_dump()
        session.delete(price)
    try:
        [one] = _quote(app_client, tenant, [instance_id], windows)["instances"]
        assert _kinds(one["after"])["COMPUTE"] == _kinds(one["before"])["COMPUTE"]
        rebuild = {"instanceId": instance_id, "imageId": windows}
        done = gql(app_client, REBUILD, {"i": rebuild}, tenant)
        assert done["data"]["rebuildInstance"]["userErrors"] == []
    finally:  # the module's other tests launch this flavor
        with write_session(engine) as session:
            session.add(FlavorPrice(**kept))
    rebuilt = gql(app_client, INSTANCE, {"id": instance_id}, tenant)["data"]["instance"]
    assert _kinds(rebuilt["charges"])["COMPUTE"] == _kinds(launched["charges"])["COMPUTE"]
    # 2 vCPUs x 0.03 CNY an hour
    assert _kinds(rebuilt["charges"])["WINDOWS_LICENSE"]["amount"] == {"amount": "0.06"}


def test_a_prepaid_rebuild_is_quoted_for_the_days_left_and_the_order_matches(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="5000")
    linux, windows = factory.public_image(), factory.public_image(os_type="WINDOWS")
    instance_id = _running(app_client, tenant, linux, billing=PREPAID)
    quoted = _quote(app_client, tenant, [instance_id], windows)
    [one] = quoted["instances"]
    assert (quoted["timing"], one["timing"]) == ("PREPAID", "PREPAID")
    assert {line["unit"] for line in one["before"] + one["after"]} == {"DAY"}
    assert set(_kinds(one["after"])) - set(_kinds(one["before"])) == {"WINDOWS_LICENSE"}
    assert _kinds(one["after"])["COMPUTE"] == _kinds(one["before"])["COMPUTE"]
    licence = _kinds(one["after"])["WINDOWS_LICENSE"]
    assert one["dueNow"] == quoted["total"] == licence["amount"]
    done = gql(app_client, REBUILD, {"i": {"instanceId": instance_id, "imageId": windows}}, tenant)
    order = done["data"]["rebuildInstance"]["order"]
    assert order["total"] == one["dueNow"]


def test_a_batch_of_both_kinds_has_no_single_timing(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="5000")
    linux, windows = factory.public_image(), factory.public_image(os_type="WINDOWS")
    hourly = _running(app_client, tenant, linux)
    monthly = _running(app_client, tenant, linux, billing=PREPAID)
    quoted = _quote(app_client, tenant, [hourly, monthly], windows)
    assert quoted["timing"] is None
    by_id = {q["instance"]["id"]: q for q in quoted["instances"]}
    assert (by_id[hourly]["timing"], by_id[monthly]["timing"]) == ("POSTPAID", "PREPAID")
    # the batch's lines are what is charged at once: the prepaid instance's licence days
    assert quoted["total"] == by_id[monthly]["dueNow"]
    assert by_id[hourly]["dueNow"] == {"amount": "0.00"}
    assert [line["kind"] for line in quoted["lines"]] == ["WINDOWS_LICENSE"]
