"""Proof of sameness (R162, R201): generated documents over the compiled types, each asked as
the owner of custom images, a share recipient, a provider, an unrelated customer, an
administrator and anonymously, answer the same bytes (data, errors, ``extensions.cost``
requested and actual) with compiled reads on and off. 300 documents here (a fixed seed); the
full corpus is ``python -m bench.sameness``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.platform.viewer import Role
from schema import schema as default_schema
from schema.compiled.reads import ANSWERS
from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import CREATE, SHARE, TAG, launch, make_listing
from tests.schema.compiled.corpus import Generator, Request, World

#: documents per database in CI (the bench runs the full corpus)
CI_DOCUMENTS = 300
SEED = 20261206

DEPRECATE = """mutation($i: DeprecateImageInput!) { deprecateImage(input: $i) {
  userErrors { code field message } } }"""
DISABLE = """mutation($id: ID!) { disableImage(input: {imageId: $id}) {
  userErrors { code field message } } }"""
FAMILY = """mutation($i: SetImageFamilyInput!) { setImageFamily(input: $i) {
  userErrors { code field message } } }"""
#: the bucket's level moves with time and with every request: compared apart
REMAINING = re.compile(rb'"remaining":-?[0-9.]+')


@dataclass
class Viewers:
    """Who asks: a tenant each (None: anonymous)."""

    owner: Tenant
    recipient: Tenant
    provider: Tenant
    stranger: Tenant
    admin: Tenant

    def all(self) -> list[tuple[str, Tenant | None]]:
        """Every viewer by name, anonymous included."""
        return [
            ("owner", self.owner),
            ("recipient", self.recipient),
            ("provider", self.provider),
            ("stranger", self.stranger),
            ("admin", self.admin),
            ("anonymous", None),
        ]


def _ok(body: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = next(iter(body["data"].values()))
    assert payload.get("userErrors", []) == [], payload
    return payload


def build_world(
    client: TestClient, factory: Factory, engine: Engine, run_operations: Any
) -> tuple[World, Viewers]:
    """Custom images (tagged, in a family, shared, deprecated with a replacement, disabled,
    failed), a published and a draft listing, an instance, and the accounts that see them.
    """
    owner = factory.account(balance="5000")
    recipient = factory.account(balance="5000")
    stranger = factory.account(balance="100")
    admin = factory.account(Role.ADMIN)
    provider, listing, market_image = make_listing(client, factory, engine)
    _, draft, _ = make_listing(client, factory, engine, provider=provider, publish=False)
    assert market_image is not None
    tagged = custom_image(engine, owner.id, name='web-odd \u00fc "quoted" \\ \u2028')
    shared = custom_image(engine, owner.id, region="gz", name="shared-one")
    old = custom_image(engine, owner.id, name="web-old")
    disabled = custom_image(engine, owner.id, name="disabled-one")
    failed = custom_image(engine, owner.id, name="failed-one", status="CREATE_FAILED")
    custom_image(engine, stranger.id, name="strangers")
    _ok(gql(client, SHARE, {"i": {"imageId": shared, "accountIds": [recipient.id]}}, owner))
    _ok(gql(client, SHARE, {"i": {"imageId": tagged, "accountIds": [recipient.id]}}, owner))
    tag = {"resourceIds": [tagged, shared], "tags": [{"key": "env", "value": "prod"}]}
    _ok(gql(client, TAG, {"i": tag}, owner))
    for image in (tagged, old):
        _ok(gql(client, FAMILY, {"i": {"imageId": image, "family": "web"}}, owner))
    _ok(gql(client, DEPRECATE, {"i": {"imageId": old, "replacementImageId": tagged}}, owner))
    _ok(gql(client, DISABLE, {"id": disabled}, owner))
    created = _ok(gql(client, CREATE, {"i": launch(tagged, count=2)}, owner))
    prepaid = launch(market_image, billing={"timing": "PREPAID", "months": 1})
    bought = _ok(gql(client, CREATE, {"i": prepaid}, recipient))
    run_operations()
    instances = [i["id"] for i in created["instances"] + bought["instances"]]
    images = [tagged, shared, old, disabled, failed, market_image, factory.public_image()]
    world = World(
        images=images,
        listings=[listing, draft],
        instances=instances,
        accounts=[owner.id, recipient.id, provider.id, stranger.id],
        families=["web", "nothing"],
    )
    cursors = """{ images(first: 5) { edges { cursor } }
      instances(first: 3) { edges { cursor } } listings(first: 3) { edges { cursor } }
      viewer { transactions(first: 3) { edges { cursor } } } }"""
    data = gql(client, cursors, tenant=owner)["data"]
    world.cursors = {
        "Query.images": [e["cursor"] for e in data["images"]["edges"]],
        "Query.instances": [e["cursor"] for e in data["instances"]["edges"]],
        "Query.listings": [e["cursor"] for e in data["listings"]["edges"]],
        "Account.transactions": [e["cursor"] for e in data["viewer"]["transactions"]["edges"]],
    }
    viewers = Viewers(owner, recipient, provider, stranger, admin)
    return world, viewers


def outcomes() -> dict[str, float]:
    """How often the compiled path answered, left a query alone, declined or failed."""
    return {
        sample.labels["outcome"]: sample.value
        for metric in ANSWERS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


def differences(
    compiled: TestClient, ordinary: TestClient, requests: list[Request], viewers: Viewers
) -> list[str]:
    """Every request whose answers differ (status, headers that matter, or bytes)."""
    found = []
    for request in requests:
        for who, tenant in viewers.all():
            headers = tenant.headers if tenant else {}
            one = compiled.post("/graphql", json=request.body(), headers=headers)
            two = ordinary.post("/graphql", json=request.body(), headers=headers)
            a, b = REMAINING.sub(b"", one.content), REMAINING.sub(b"", two.content)
            if one.status_code != two.status_code or a != b:
                found.append(
                    f"as {who}: {request.query}\nvariables {request.variables}\n"
                    f"compiled  {one.status_code} {a[:2000]!r}\n"
                    f"ordinary  {two.status_code} {b[:2000]!r}"
                )
    return found


@pytest.fixture(scope="module")
def both(settings: Settings, engine: Engine) -> Iterator[tuple[TestClient, TestClient]]:
    """The app with compiled reads on and with them off (no response cache in either)."""
    on = settings.model_copy(update={"compiled_reads": True, "response_cache": False})
    off = settings.model_copy(update={"compiled_reads": False, "response_cache": False})
    with TestClient(create_app(on)) as compiled, TestClient(create_app(off)) as ordinary:
        yield compiled, ordinary


@pytest.fixture(scope="module")
def world(app_client: TestClient, engine: Engine) -> tuple[World, Viewers]:
    worker = app_client.app.state.worker  # type: ignore[attr-defined]
    return build_world(app_client, Factory(engine), engine, worker.tick)


def test_the_corpus_answers_the_same_bytes_compiled_or_not(
    both: tuple[TestClient, TestClient], world: tuple[World, Viewers]
) -> None:
    compiled, ordinary = both
    places, viewers = world
    requests = Generator(default_schema._schema, places, SEED).requests(CI_DOCUMENTS)
    before = outcomes()
    found = differences(compiled, ordinary, requests, viewers)
    assert not found, f"{len(found)} differences; the first:\n{found[0]}"
    after = outcomes()
    counted = {name: after[name] - before.get(name, 0) for name in after}
    assert counted.get("failed", 0) == 0, counted
    # most of the corpus is answered by the compiled path (the rest falls back)
    assert counted["compiled"] >= 0.6 * len(requests) * len(viewers.all()), counted
