"""Images that fit their flavors (issue 24; R170, R205): flavors carry their processor
architecture, an image launches, is quoted and rebuilds only onto a flavor of its own, and the
flavor filter of the images page answers only what can be launched now.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.database import write_session
from app.images.models import Image
from tests.factories import Factory, custom_image, gql
from tests.fixtures import CREATE, QUOTE, launch

ARM_FLAVOR = "bcc.gr1.c2m8"
X86_FLAVOR = "bcc.g5.c2m8"
FLAVORS = """{ flavors(region: "bj") { name arch } }"""
PAGE = """query($f: ImageFilter) { images(first: 100, filter: $f) { nodes { id os { arch } } } }"""
REBUILD = """mutation($i: RebuildInstanceInput!) { rebuildInstance(input: $i) {
  userErrors { code field message } } }"""


def _arm_image(client: TestClient) -> str:
    """The seeded arm64 Ubuntu in Beijing."""
    seeded = {"region": "bj", "types": ["PUBLIC"], "nameContains": "Ubuntu-22.04-LTS-arm64"}
    nodes = gql(client, PAGE, {"f": seeded})["data"]["images"]["nodes"]
    assert nodes and all(n["os"]["arch"] == "aarch64" for n in nodes)
    return str(nodes[-1]["id"])  # the first made (the page is newest first)


def _refusal(image: str, flavor: str) -> dict[str, Any]:
    return {
        "code": "IMAGE_FLAVOR_INCOMPATIBLE",
        "field": ["input", "imageId"],
        "message": f"Image {image} is built for "
        + (
            "ARM64; the flavor's processors are X86_64"
            if flavor == X86_FLAVOR
            else "X86_64; the flavor's processors are ARM64"
        )
        + ". Choose a flavor or an image of the same architecture.",
    }


def test_flavors_carry_their_architecture_and_the_seed_has_arm64_ones(
    app_client: TestClient,
) -> None:
    arches = {f["name"]: f["arch"] for f in gql(app_client, FLAVORS)["data"]["flavors"]}
    assert arches[X86_FLAVOR] == "X86_64"
    assert arches[ARM_FLAVOR] == "ARM64"
    gz = gql(app_client, FLAVORS.replace('"bj"', '"gz"'))["data"]["flavors"]
    assert ARM_FLAVOR in {f["name"] for f in gz}


def test_an_image_launches_and_is_quoted_only_on_a_flavor_of_its_architecture(
    app_client: TestClient, factory: Factory
) -> None:
    """The arm64 Ubuntu was quoted on an x86 flavor."""
    tenant = factory.account(balance="500")
    arm, x86 = _arm_image(app_client), factory.public_image()
    for image, flavor in ((arm, X86_FLAVOR), (x86, ARM_FLAVOR)):
        quoted = gql(app_client, QUOTE, {"i": launch(image, flavor=flavor)}, tenant)
        assert quoted["data"]["priceQuote"]["userErrors"] == [_refusal(image, flavor)]
        created = gql(app_client, CREATE, {"i": launch(image, flavor=flavor)}, tenant)
        assert created["data"]["createInstances"]["userErrors"] == [_refusal(image, flavor)]
    for image, flavor in ((arm, ARM_FLAVOR), (x86, X86_FLAVOR)):
        created = gql(app_client, CREATE, {"i": launch(image, flavor=flavor)}, tenant)
        assert created["data"]["createInstances"]["userErrors"] == []


def test_a_rebuild_onto_an_image_of_another_architecture_is_refused(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="500")
    created = gql(app_client, CREATE, {"i": launch(factory.public_image())}, tenant)
    instance_id = created["data"]["createInstances"]["instances"][0]["id"]
    app_client.app.state.worker.tick()  # type: ignore[attr-defined]
    arm = _arm_image(app_client)
    body = gql(app_client, REBUILD, {"i": {"instanceId": instance_id, "imageId": arm}}, tenant)
    assert body["data"]["rebuildInstance"]["userErrors"] == [_refusal(arm, X86_FLAVOR)]


def test_the_flavor_filter_answers_only_images_that_can_launch_now(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    """It listed images still being created, failed, disabled or of the other architecture."""
    owner = factory.account()
    ready = custom_image(engine, owner.id, name="ready")
    making = custom_image(engine, owner.id, name="making", status="CREATING")
    failed = custom_image(engine, owner.id, name="failed", status="CREATE_FAILED")
    disabled = custom_image(engine, owner.id, name="disabled")
    deprecated = custom_image(engine, owner.id, name="deprecated")
    arm_own = custom_image(engine, owner.id, name="arm-own")
    with write_session(engine) as session:
        for image_id, change in (
            (disabled, {"disabled": True}),
            (arm_own, {"os_arch": "aarch64"}),
        ):
            row = session.get(Image, image_id)
            assert row is not None
            for name, value in change.items():
                setattr(row, name, value)
        row = session.get(Image, deprecated)
        assert row is not None
        row.deprecate_at = row.created_at - timedelta(days=1)

    def page(flavor: str, **more: object) -> set[str]:
        body = gql(app_client, PAGE, {"f": {"region": "bj", "flavor": flavor, **more}}, owner)
        return {n["id"] for n in body["data"]["images"]["nodes"]}

    mine = {ready, making, failed, disabled, deprecated, arm_own}
    on_x86, on_arm = page(X86_FLAVOR), page(ARM_FLAVOR)
    assert on_x86 & mine == {ready}
    assert on_arm & mine == {arm_own}
    assert _arm_image(app_client) in on_arm and _arm_image(app_client) not in on_x86
    assert page(X86_FLAVOR, includeDeprecated=True) & mine == {ready, deprecated}
    # without the flavor filter the owner still sees all of them (deprecated included)
    everything = gql(app_client, PAGE, {"f": {"region": "bj", "types": ["CUSTOM"]}}, owner)
    assert {n["id"] for n in everything["data"]["images"]["nodes"]} >= mine
