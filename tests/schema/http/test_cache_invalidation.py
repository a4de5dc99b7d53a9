"""R134: per-viewer cache invalidation, proven differentially.

Two in-process apps share one database: one serves from the response cache, the other has it
off. A fixed cast (owner, recipient, provider, an unrelated tenant, an administrator, an
anonymous caller, and the recipient asking private fields it may not see) asks fixed documents:
"everything a console shows" (written so that it answers without errors for every signed-in
caller, since only error-free answers are kept), the anonymous catalogue, and a document of
FORBIDDEN private fields. A story runs every mutation of the schema at least once, with worker
ticks, scheduler runs and clock moves in between. Before each step every cacheable answer is
shown to be served from the cache (one SQL statement); the administrator's and the erroring
ones are shown at the start never to be. After each step the cached app's answer (data,
errors, HTTP status) must equal the uncached app's, for every member of the cast.

The set of mutations the story ran is checked against the schema's own (introspection), so a
new mutation without a step fails here by name; and breaking invalidation on purpose must make
the sweep see a stale answer.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.clock import Clock
from app.config import Settings
from app.database import make_engine
from app.main import create_app
from app.operations.worker import Worker
from app.platform import versions
from app.platform.viewer import Role
from app.seed import prepare
from tests import diskimages
from tests.conftest import fresh_database
from tests.factories import Factory, Tenant, custom_image
from tests.fixtures import StatementCounter, counting, launch

# --- the fixed documents --------------------------------------------------------------------

IMAGE_FIELDS = """fragment ImageFields on Image { id name description type generation status
  progress failure { code message checks } os { type name version arch lang } minDiskGb sizeGb
  createdAt source { kind region { code } } systemDiskKind format sha256 virtualSizeBytes
  chargeRoot { osLicense listing { id title status } } listing { id status } region { code }
  disabled deletionProtection family purgeAt tags { key value }
  deprecation { state deprecateAt replacement { id name } } }"""
LISTING_FIELDS = """fragment ListingFields on Listing { id kind title summary category version
  status reviewNote createdAt provider { id name role } plans { timing months price { amount } }
  images { id name type status region { code } } }"""
CATALOGUE = """
  market: images(first: 50, filter: {types: [MARKET, INTEGRATION]}) {
    totalCount nodes { ...ImageFields } }
  public: images(filter: {types: [PUBLIC]}) { totalCount }
  listings(first: 50) { totalCount nodes { ...ListingFields } }
  regions { code name copySupported zones { name } }"""
#: what a signed-in console shows; only fields that answer without errors for every viewer
#: (private fields only where they are the viewer's own), so every answer can be cached. The
#: ledger and the sales are read oldest first: the month the story lets pass is settled hour by
#: hour, and its hundreds of USAGE entries and hourly sales would fill a newest-first page
CONSOLE = f"""query Console {{
  viewer {{
    id name role createdAt balance {{ amount currency }} inArrears customImageQuota
    transactions(last: 40) {{ totalCount nodes {{ id kind amount {{ amount }}
      balanceAfter {{ amount }} reference createdAt }} }}
    orders(first: 20) {{ totalCount nodes {{ id kind total {{ amount }} createdAt
      lines {{ kind description quantity unit unitPrice {{ amount }} amount {{ amount }} }}
      instances {{ id status }} }} }}
    provider {{
      listings(first: 20) {{ totalCount nodes {{ ...ListingFields }} }}
      sales(last: 20) {{ totalCount nodes {{ id buyerId instanceCount amount {{ amount }}
        revenue {{ amount }} createdAt plan {{ timing months price {{ amount }} }}
        listing {{ id status }} }} }}
      revenue {{ amount }}
    }}
  }}
  mine: images(first: 50, filter: {{types: [CUSTOM]}}) {{ totalCount nodes {{
    ...ImageFields copyLock owner {{ id name }} source {{ id }} lifecycleNote lifecycleExcluded
    sharedWith(first: 20) {{ totalCount nodes {{ id name role }} edges {{ status }} }} }} }}
  shared: images(first: 50, filter: {{types: [SHARED]}}) {{ totalCount nodes {{ ...ImageFields }} }}
  instances(first: 50) {{ totalCount nodes {{ id name generation status statusReason
    zone {{ name }} image {{ id name os {{ type name }} image {{ id name status }} }}
    createdFromImage {{ id name image {{ id }} }} systemDisk {{ storageType sizeGb }}
    billing {{ timing months }} createdAt expiresAt releasedAt region {{ code }}
    flavor {{ name vcpus }}
    charges {{ kind description quantity unit unitPrice {{ amount }} amount {{ amount }} }} }} }}
  binned: recycleBin(first: 20) {{ totalCount nodes {{ id name purgeAt }} }}
  policies: imageLifecyclePolicies {{ id name enabled lastRunAt updatedAt rules {{ keepNewest }}
    selector {{ family tags {{ key value }} }} recentActions(first: 10) {{ imageId action taken
    reason }} }}
  invitations: shareInvitations(first: 20) {{ totalCount nodes {{ imageId imageName status }} }}
  tagged: images(first: 20, filter: {{tags: [{{key: "team", value: "web"}}]}}) {{ totalCount }}
  taggedInstances: instances(first: 20, filter: {{tags: [{{key: "team"}}]}}) {{ totalCount
    nodes {{ id tags {{ key value }} }} }}
  newest: imageFromFamily(region: "bj", family: "web") {{ id name }}
  withDeprecated: images(first: 50, filter: {{includeDeprecated: true, types: [CUSTOM, SHARED]}})
    {{ totalCount nodes {{ id deprecation {{ state }} }} }}
  snapshots(first: 20) {{ totalCount nodes {{ id name tags {{ key }} status sizeGb systemDiskKind createdAt
    region {{ code }} instance {{ id status }} usedByImages {{ id name status }} }} }}
  operations(first: 60) {{ totalCount nodes {{ id kind status progress
    error {{ code message checks }} createdAt finishedAt targetIds targets {{ __typename id }} }} }}
  {CATALOGUE}
}}
{IMAGE_FIELDS}
{LISTING_FIELDS}"""
#: what an anonymous visitor's catalogue page shows
PUBLIC = f"""query Catalogue {{ viewer {{ id }} {CATALOGUE} }}
{IMAGE_FIELDS}
{LISTING_FIELDS}"""
#: private fields of every image the caller sees: FORBIDDEN errors for others' images, so
#: never cached, but the answer (data and errors) must still be the uncached app's
PRIVATE = """query Private { images(first: 30) { nodes { id name status owner { id }
  source { id } sharedWith { totalCount } } } }"""
MUTATIONS = "{ __schema { mutationType { fields { name } } } }"
GOVERN = """mutation($i: {input}!) {{ {name}(input: $i) {{ image {{ id }} {errors} }} }}"""

# --- the mutations the story runs -------------------------------------------------------------

ERRORS = "userErrors { code field message }"
TAG = f"""mutation($i: TagResourcesInput!) {{ tagResources(input: $i) {{
  resources {{ id }} {ERRORS} }} }}"""
UNTAG = f"""mutation($i: UntagResourcesInput!) {{ untagResources(input: $i) {{
  resources {{ id }} {ERRORS} }} }}"""
CREATE_INSTANCES = f"""mutation($i: CreateInstancesInput!) {{ createInstances(input: $i) {{
  instances {{ id }} operation {{ id }} {ERRORS} }} }}"""
CREATE_IMAGE = f"""mutation($i: CreateImageInput!) {{ createImage(input: $i) {{
  image {{ id }} operation {{ id }} {ERRORS} }} }}"""
RENAME_IMAGE = f"""mutation($i: RenameImageInput!) {{ renameImage(input: $i) {{
  image {{ id name }} {ERRORS} }} }}"""
DELETE_IMAGE = f"""mutation($i: DeleteImageInput!) {{ deleteImage(input: $i) {{
  deletedImageId {ERRORS} }} }}"""
SHARE_IMAGE = f"""mutation($i: ShareImageInput!) {{ shareImage(input: $i) {{
  image {{ id }} {ERRORS} }} }}"""
UNSHARE_IMAGE = f"""mutation($i: UnshareImageInput!) {{ unshareImage(input: $i) {{
  image {{ id }} {ERRORS} }} }}"""
ACCEPT_SHARE = f"""mutation($i: AcceptImageShareInput!) {{ acceptImageShare(input: $i) {{
  status {ERRORS} }} }}"""
DECLINE_SHARE = f"""mutation($i: DeclineImageShareInput!) {{ declineImageShare(input: $i) {{
  status {ERRORS} }} }}"""
SHARE_MODE = f"""mutation($i: SetShareAcceptanceInput!) {{ setShareAcceptance(input: $i) {{
  account {{ id }} {ERRORS} }} }}"""
COPY_IMAGE = f"""mutation($i: CopyImageInput!) {{ copyImage(input: $i) {{
  images {{ id }} operations {{ id }} {ERRORS} }} }}"""
CANCEL_COPY = f"""mutation($i: CancelImageCopyInput!) {{ cancelImageCopy(input: $i) {{
  cancelledImageId {ERRORS} }} }}"""
UPLOAD_OBJECT = f"""mutation($f: Upload!, $r: ID!) {{ uploadObject(input: {{region: $r, file: $f}}) {{
  object {{ key }} {ERRORS} }} }}"""
DELETE_OBJECT = f"""mutation($i: DeleteObjectInput!) {{ deleteObject(input: $i) {{
  deletedObjectKey {ERRORS} }} }}"""
IMPORT_IMAGE = f"""mutation($i: ImportImageInput!) {{ importImage(input: $i) {{
  image {{ id }} operation {{ id }} {ERRORS} }} }}"""
CREATE_SNAPSHOT = f"""mutation($i: CreateSnapshotInput!) {{ createSnapshot(input: $i) {{
  snapshot {{ id }} operation {{ id }} {ERRORS} }} }}"""
DELETE_SNAPSHOT = f"""mutation($i: DeleteSnapshotInput!) {{ deleteSnapshot(input: $i) {{
  deletedSnapshotId {ERRORS} }} }}"""
CREATE_LISTING = f"""mutation($i: CreateListingInput!) {{ createListing(input: $i) {{
  listing {{ id status }} {ERRORS} }} }}"""
UPDATE_LISTING = f"""mutation($i: UpdateListingInput!) {{ updateListing(input: $i) {{
  listing {{ id status }} {ERRORS} }} }}"""
LISTING_ACTION = """mutation($id: ID!, $reason: String) {{ {name}(input: {{listingId: $id,
  reason: $reason}}) {{ listing {{ id status images {{ id }} }} {errors} }} }}"""
INSTANCE_ACTION = """mutation($id: ID!) {{ {name}(input: {{instanceId: $id}}) {{
  instance {{ id status }} {errors} }} }}"""
RELEASE_INSTANCE = f"""mutation($id: ID!) {{ releaseInstance(input: {{instanceId: $id}}) {{
  instance {{ id status }} refund {{ amount }} {ERRORS} }} }}"""
REBUILD_INSTANCE = f"""mutation($i: RebuildInstanceInput!) {{ rebuildInstance(input: $i) {{
  instance {{ id status }} order {{ id }} operation {{ id }} {ERRORS} }} }}"""
REBUILD_INSTANCES = f"""mutation($i: RebuildInstancesInput!) {{ rebuildInstances(input: $i) {{
  instances {{ id status }} order {{ id }} operations {{ id }} {ERRORS} }} }}"""
CREATE_ACCOUNT = f"""mutation($i: CreateAccountInput!) {{ createAccount(input: $i) {{
  account {{ id }} {ERRORS} }} }}"""
CREATE_TOKEN = f"""mutation($i: CreateApiTokenInput!) {{ createApiToken(input: $i) {{
  apiToken {{ id }} token {ERRORS} }} }}"""
REVOKE_TOKEN = f"""mutation($i: RevokeApiTokenInput!) {{ revokeApiToken(input: $i) {{
  apiToken {{ id revokedAt }} {ERRORS} }} }}"""
TOP_UP = f"""mutation($i: TopUpAccountInput!) {{ topUpAccount(input: $i) {{
  account {{ id }} {ERRORS} }} }}"""
SET_QUOTA = f"""mutation($i: SetAccountQuotaInput!) {{ setAccountQuota(input: $i) {{
  account {{ id }} {ERRORS} }} }}"""
SETTLE_USAGE = f"""mutation($i: SettleUsageInput!) {{ settleUsage(input: $i) {{
  transactions {{ kind }} {ERRORS} }} }}"""
CREATE_POLICY = f"""mutation($i: CreateImageLifecyclePolicyInput!) {{
  createImageLifecyclePolicy(input: $i) {{ policy {{ id }} {ERRORS} }} }}"""
UPDATE_POLICY = f"""mutation($i: UpdateImageLifecyclePolicyInput!) {{
  updateImageLifecyclePolicy(input: $i) {{ policy {{ id }} {ERRORS} }} }}"""
DELETE_POLICY = f"""mutation($i: DeleteImageLifecyclePolicyInput!) {{
  deleteImageLifecyclePolicy(input: $i) {{ deletedPolicyId {ERRORS} }} }}"""
CREATE_ENDPOINT = f"""mutation($i: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $i) {{ endpoint {{ id }} secret {ERRORS} }} }}"""
UPDATE_ENDPOINT = f"""mutation($i: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(input: $i) {{ endpoint {{ id description }} {ERRORS} }} }}"""
ROTATE_SECRET = f"""mutation($i: RotateWebhookSecretInput!) {{
  rotateWebhookSecret(input: $i) {{ endpoint {{ id }} secret {ERRORS} }} }}"""
TEST_WEBHOOK = f"""mutation($i: SendTestWebhookInput!) {{
  sendTestWebhook(input: $i) {{ delivery {{ id }} {ERRORS} }} }}"""
REDELIVER = f"""mutation($i: RedeliverWebhookInput!) {{
  redeliverWebhook(input: $i) {{ delivery {{ id status }} {ERRORS} }} }}"""
DELETE_ENDPOINT = f"""mutation($i: DeleteWebhookEndpointInput!) {{
  deleteWebhookEndpoint(input: $i) {{ deletedEndpointId {ERRORS} }} }}"""
ADVANCE_CLOCK = f"""mutation($i: AdvanceClockInput!) {{ advanceClock(input: $i) {{
  now {ERRORS} }} }}"""
PUBLIC_IMAGE = """query($os: OsType!) { images(first: 1, filter: {region: "bj", osType: $os,
  generation: BCC, types: [PUBLIC], flavor: "bcc.g5.c2m8"}) { nodes { id } } }"""

#: simulated seconds every operation takes: a tick before it is due only moves its progress
OPERATION_SECONDS = 60
HOUR = 3600
DAY = 24 * HOUR


# --- the two apps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Apps:
    """The cached and the uncached app on one database, and a factory for that database."""

    cached: TestClient
    uncached: TestClient
    factory: Factory
    engine: Engine

    @property
    def worker(self) -> Worker:
        """The cached app's worker (the uncached one's would do the same work)."""
        worker: Worker = self.cached.app.state.worker  # type: ignore[attr-defined]
        return worker

    def refresh_clocks(self) -> None:
        """Both apps adopt the shared clock offset, as every process does on its next tick
        (each app holds the offset it last read; a process lagging behind another's clock move
        is not what this test is about).
        """
        for client in (self.cached, self.uncached):
            client.app.state.worker.refresh_clock()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def apps(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    """Both apps on a database of this module's own: the story moves the simulated clock and
    settles every account's usage, which must not reach the other tests' data.
    """
    with fresh_database(tmp_path_factory) as url:
        cached_settings = settings.model_copy(
            update={
                "database_url": url,
                "data_dir": Path(tmp_path_factory.mktemp("cache-invalidation-data")),
                "simulated_clock": True,
                "response_cache": True,
                "operation_seconds": float(OPERATION_SECONDS),
                "operation_seconds_per_gb": 0.0,
                "scheduler_seconds": 10.0**9,  # the scheduler runs only when a step runs it
                "max_query_cost": 10**9,
                "rate_limit_points": 10**12,
                "rate_limit_refill_per_second": 10.0**12,
            }
        )
        uncached_settings = cached_settings.model_copy(update={"response_cache": False})
        engine = make_engine(cached_settings)
        prepare(engine, cached_settings.seed_dir, Clock(simulated=False).now())
        try:
            with (
                TestClient(create_app(cached_settings)) as cached,
                TestClient(create_app(uncached_settings)) as uncached,
            ):
                yield Apps(cached, uncached, Factory(engine), engine)
        finally:
            engine.dispose()


# --- the sweep --------------------------------------------------------------------------------

#: viewer: the per-account cache; anonymous: the catalogue's; admin: never cached;
#: forbidden: a signed-in document with FORBIDDEN errors, never cached
Kind = Literal["viewer", "anonymous", "admin", "forbidden"]
DOCUMENTS: dict[Kind, str] = {
    "viewer": CONSOLE,
    "anonymous": PUBLIC,
    "admin": CONSOLE,
    "forbidden": PRIVATE,
}


@dataclass(frozen=True)
class Probe:
    """A member of the cast: who asks, and how the cache treats it."""

    name: str
    tenant: Tenant | None
    kind: Kind

    @property
    def document(self) -> str:
        """What it asks: the console, the catalogue, or private fields it may not see."""
        return DOCUMENTS[self.kind]

    @property
    def headers(self) -> dict[str, str]:
        """Its Authorization header, if it has a token."""
        return self.tenant.headers if self.tenant else {}


def ask(client: TestClient, probe: Probe) -> tuple[dict[str, Any], int]:
    """The probe's answer (HTTP status, data and errors; not extensions, whose remaining
    points differ) and how many SQL statements the app sent to give it.
    """
    with counting(client.app, StatementCounter()) as counter:
        response = client.post("/graphql", json={"query": probe.document}, headers=probe.headers)
    body: dict[str, Any] = response.json()
    answer = {key: value for key, value in body.items() if key != "extensions"}
    answer["status"] = response.status_code
    return answer, counter.count


def differences(cached: Any, fresh: Any, path: str = "") -> list[str]:
    """Where two JSON values differ: paths with both values (at most a few)."""
    if isinstance(cached, dict) and isinstance(fresh, dict):
        found: list[str] = []
        for key in sorted(set(cached) | set(fresh)):
            found += differences(cached.get(key), fresh.get(key), f"{path}.{key}")
        return found[:6]
    if isinstance(cached, list) and isinstance(fresh, list) and len(cached) == len(fresh):
        found = []
        for index, (left, right) in enumerate(zip(cached, fresh, strict=True)):
            found += differences(left, right, f"{path}[{index}]")
        return found[:6]
    if cached == fresh:
        return []
    return [f"{path or '.'}: cached {json.dumps(cached)[:400]} != fresh {json.dumps(fresh)[:400]}"]


def payloads(body: dict[str, Any], step: str) -> dict[str, Any]:
    """A mutation's payloads by field name; the step fails on any error or userError."""
    assert "errors" not in body, f"{step}: {body['errors']}"
    data: dict[str, Any] = body["data"]
    for name, payload in data.items():
        assert payload["userErrors"] == [], f"{step}: {name}: {payload['userErrors']}"
    return data


def run_mutation(
    client: TestClient, tenant: Tenant, document: str, variables: dict[str, Any], step: str
) -> dict[str, Any]:
    """POST a mutation; its payloads by field name (it must succeed)."""
    response = client.post(
        "/graphql", json={"query": document, "variables": variables}, headers=tenant.headers
    )
    return payloads(response.json(), step)


@dataclass
class Sweep:
    """Runs steps and, after each, compares every probe's cached and uncached answers."""

    apps: Apps
    probes: list[Probe]
    ran: set[str] = field(default_factory=set)  # the mutations the steps ran
    steps: int = 0
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: Counter[str] = field(default_factory=Counter)  # steps that changed a view

    def start(self) -> None:
        """Compare every probe once: the cached app keeps its answer (the first ask). An
        administrator's answer, and one with errors, are shown never to be served from the
        cache (so the steps need not ask them twice).
        """
        for probe in self.probes:
            assert not self._compare(probe), f"at the start: {probe.name}"
            if probe.kind in ("admin", "forbidden"):
                answer, statements = ask(self.apps.cached, probe)
                assert answer == self.last[probe.name]
                assert statements > 1, f"{probe.name} was served from the cache"
            if probe.kind == "forbidden":
                codes = {e["extensions"]["code"] for e in self.last[probe.name]["errors"]}
                assert codes == {"FORBIDDEN"}, f"{probe.name}: {codes}"

    def add(self, probe: Probe, step: str) -> None:
        """Join the cast; its first answers are compared at once."""
        self.probes.append(probe)
        assert not self._compare(probe), f"after {step}: {probe.name}"

    def stale(self, step: str, action: Callable[[], object]) -> dict[str, list[str]]:
        """Run one step; the probes whose cached answer is not the uncached one after it,
        with where they differ.
        """
        self._served_from_cache(step)
        action()
        self.apps.refresh_clocks()
        self.steps += 1
        found = {probe.name: self._compare(probe) for probe in self.probes}
        return {name: where for name, where in found.items() if where}

    def step(self, step: str, action: Callable[[], object]) -> None:
        """Run one step; every cached answer must equal the uncached one after it."""
        stale = self.stale(step, action)
        assert not stale, f"after {step}: stale cached answers:\n{json.dumps(stale, indent=1)}"

    def mutate(
        self, step: str, tenant: Tenant, document: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        """Run a mutation on the cached app as one step (it must succeed); its payload."""
        found: dict[str, Any] = {}

        def action() -> None:
            found.update(run_mutation(self.apps.cached, tenant, document, variables, step))

        self.step(step, action)
        self.ran |= set(found)
        [payload] = found.values()
        result: dict[str, Any] = payload
        return result

    def upload(self, step: str, tenant: Tenant, data: bytes, filename: str) -> str:
        """uploadObject, a GraphQL multipart request, as one step; the stored object's key."""
        found: dict[str, Any] = {}
        operations = {"query": UPLOAD_OBJECT, "variables": {"f": None, "r": "bj"}}

        def action() -> None:
            response = self.apps.cached.post(
                "/graphql",
                headers=tenant.headers,
                data={"operations": json.dumps(operations), "map": '{"0": ["variables.f"]}'},
                files={"0": (filename, data, "application/octet-stream")},
            )
            found.update(payloads(response.json(), step))

        self.step(step, action)
        self.ran |= set(found)
        key: str = found["uploadObject"]["object"]["key"]
        return key

    def _served_from_cache(self, step: str) -> None:
        """Before a step every cacheable probe's answer (the second ask since the last step)
        is the one last compared, and it is served from the cache: no statement at all (the
        versions come from the board), or one when the board was just emptied by the SQLite
        file's watcher (it reports the step's commits once more, a moment later) and the
        versions are read again. (An administrator's answer, one with errors and a refused
        token's are never kept.)
        """
        for probe in self.probes:
            if probe.kind in ("admin", "forbidden") or self.last[probe.name]["status"] != 200:
                continue
            answer, statements = ask(self.apps.cached, probe)
            assert answer == self.last[probe.name], f"before {step}: {probe.name} moved"
            assert statements <= 1, (
                f"before {step}: {probe.name} was not served from the cache "
                f"({statements} statements; errors: {answer.get('errors')})"
            )

    def _compare(self, probe: Probe) -> list[str]:
        """Ask the probe on both apps now; where the cached answer differs from the fresh."""
        cached, _ = ask(self.apps.cached, probe)
        fresh, _ = ask(self.apps.uncached, probe)
        previous = self.last.get(probe.name)
        if previous is not None and previous != fresh:
            self.changed[probe.name] += 1
        self.last[probe.name] = cached
        return differences(cached, fresh)


# --- the story --------------------------------------------------------------------------------


PREPAID_MONTH = {"timing": "PREPAID", "months": 1}


@dataclass
class Story:
    """Every mutation of the schema, told as a console's day, with the sweep around each."""

    sweep: Sweep
    owner: Tenant
    recipient: Tenant
    provider: Tenant
    admin: Tenant
    ids: dict[str, str] = field(default_factory=dict)

    def public_image(self, os_type: str) -> str:
        """A seeded public BCC image in bj (a read, not a step)."""
        response = self.sweep.apps.cached.post(
            "/graphql", json={"query": PUBLIC_IMAGE, "variables": {"os": os_type}}
        )
        image_id: str = response.json()["data"]["images"]["nodes"][0]["id"]
        return image_id

    def operations_finish(self, what: str) -> None:
        """A worker tick while the operations are in flight (progress only), the clock moved
        past them, and a tick that finishes them.
        """
        self.sweep.step(f"worker tick while {what} is in flight", self.sweep.apps.worker.tick)
        self.advance(f"advanceClock past {what}", OPERATION_SECONDS)
        self.sweep.step(f"worker tick finishing {what}", self.sweep.apps.worker.tick)

    def advance(self, step: str, seconds: int) -> None:
        """Move the simulated clock (the scheduled jobs that became due run too)."""
        self.sweep.mutate(step, self.admin, ADVANCE_CLOCK, {"i": {"seconds": seconds}})

    def launch(self, step: str, tenant: Tenant, request: dict[str, Any]) -> list[str]:
        """createInstances; the new instances' ids."""
        payload = self.sweep.mutate(step, tenant, CREATE_INSTANCES, {"i": request})
        return [instance["id"] for instance in payload["instances"]]

    def make_image(self, step: str, tenant: Tenant, **source: str) -> str:
        """createImage from an instance or a snapshot; the new image's id."""
        payload = self.sweep.mutate(step, tenant, CREATE_IMAGE, {"i": source})
        image_id: str = payload["image"]["id"]
        return image_id

    def listing(self, step: str, name: str, listing_id: str, reason: str | None = None) -> Any:
        """submit/approve/reject/delistListing (as the provider, or the admin for reviews)."""
        tenant = self.admin if name in ("approveListing", "rejectListing") else self.provider
        document = LISTING_ACTION.format(name=name, errors=ERRORS)
        return self.sweep.mutate(step, tenant, document, {"id": listing_id, "reason": reason})

    def instance(self, step: str, name: str, instance_id: str) -> None:
        """start/stopInstance as the owner."""
        document = INSTANCE_ACTION.format(name=name, errors=ERRORS)
        self.sweep.mutate(step, self.owner, document, {"id": instance_id})

    def tell(self) -> None:
        """The whole story, chapter by chapter."""
        self.launch_instances()
        self.make_images()
        self.share_and_copy()
        self.sell()
        self.change_instances()
        self.settle_money()
        self.manage_accounts()
        self.governance()
        self.lifecycle_policy()
        self.webhooks()
        self.wind_down()
        self.lifecycle_undone()

    def launch_instances(self) -> None:
        """Everyone but the unrelated tenant starts instances."""
        linux = self.ids["linux"] = self.public_image("LINUX")
        self.ids["windows"] = self.public_image("WINDOWS")
        owned = self.launch("owner launches two", self.owner, launch(linux, count=2, name="web"))
        self.ids["o1"], self.ids["o2"] = owned
        [self.ids["p1"]] = self.launch("provider launches one", self.provider, launch(linux))
        [self.ids["r1"]] = self.launch(
            "recipient launches one prepaid",
            self.recipient,
            launch(linux, billing=PREPAID_MONTH),
        )
        self.operations_finish("the launches")

    def make_images(self) -> None:
        """Images from an instance, a snapshot, uploads (one unsafe); an upload deleted."""
        ids, owner = self.ids, self.owner
        ids["G"] = self.make_image(
            "owner captures golden", owner, name="golden", instanceId=ids["o1"]
        )
        snapshot = self.sweep.mutate(
            "owner snapshots o2",
            owner,
            CREATE_SNAPSHOT,
            {"i": {"instanceId": ids["o2"], "name": "nightly"}},
        )
        ids["S"] = snapshot["snapshot"]["id"]
        ids["W"] = self.make_image(
            "provider captures its product", self.provider, name="acme-waf", instanceId=ids["p1"]
        )
        raw = self.sweep.upload(
            "owner uploads a raw disk", owner, diskimages.raw(64 * 1024), "disk.raw"
        )
        ids["I"] = self.import_image("owner imports the raw disk", raw, "RAW", "imported")
        unsafe = self.sweep.upload(
            "owner uploads an unsafe qcow2",
            owner,
            diskimages.qcow2_with_backing_file(),
            "bad.qcow2",
        )
        self.import_image(
            "owner imports the unsafe qcow2 (fails in the worker)", unsafe, "QCOW2", "unsafe"
        )
        spare = self.sweep.upload("owner uploads a spare file", owner, b"spare" * 100, "spare.bin")
        self.sweep.mutate(
            "owner deletes the spare upload", owner, DELETE_OBJECT, {"i": {"objectKey": spare}}
        )
        self.operations_finish("the captures, the snapshot and the imports")

    def import_image(self, step: str, key: str, disk_format: str, name: str) -> str:
        """importImage of an uploaded object; the new image's id."""
        request = {
            "region": "bj",
            "objectKey": key,
            "name": name,
            "format": disk_format,
            "os": {"type": "LINUX", "name": "Ubuntu", "version": "22.04"},
        }
        payload = self.sweep.mutate(step, self.owner, IMPORT_IMAGE, {"i": request})
        image_id: str = payload["image"]["id"]
        return image_id

    def share_and_copy(self) -> None:
        """Share with the recipient, who launches from it; rename; copy and cancel a copy."""
        ids, owner = self.ids, self.owner
        share = {"imageId": ids["G"], "accountIds": [self.recipient.id]}
        self.sweep.mutate(
            "owner shares golden with the recipient", owner, SHARE_IMAGE, {"i": share}
        )
        [ids["r2"]] = self.launch(
            "recipient launches from the shared image", self.recipient, launch(ids["G"])
        )
        golden, recipient = {"imageId": ids["G"]}, self.recipient
        self.sweep.mutate("recipient leaves golden", recipient, DECLINE_SHARE, {"i": golden})
        self.sweep.mutate("recipient accepts golden again", recipient, ACCEPT_SHARE, {"i": golden})
        manual, automatic = {"mode": "MANUAL"}, {"mode": "AUTOMATIC"}
        self.sweep.mutate("recipient takes shares manually", recipient, SHARE_MODE, {"i": manual})
        invite = {"imageId": ids["I"], "accountIds": [recipient.id]}
        self.sweep.mutate(
            "owner invites the recipient to the import", owner, SHARE_IMAGE, {"i": invite}
        )
        self.sweep.mutate(
            "recipient declines the import", recipient, DECLINE_SHARE, {"i": {"imageId": ids["I"]}}
        )
        self.sweep.mutate(
            "recipient takes shares automatically", recipient, SHARE_MODE, {"i": automatic}
        )
        rename = {"imageId": ids["G"], "name": "golden-v2"}
        self.sweep.mutate("owner renames the shared image", owner, RENAME_IMAGE, {"i": rename})
        copy = {"imageId": ids["I"], "destinationRegions": ["gz", "su"]}
        copies = self.sweep.mutate(
            "owner copies the import to gz and su", owner, COPY_IMAGE, {"i": copy}
        )
        _, su = (image["id"] for image in copies["images"])
        self.sweep.mutate("owner cancels the su copy", owner, CANCEL_COPY, {"i": {"imageId": su}})
        ids["SI"] = self.make_image(
            "owner makes an image from the snapshot",
            owner,
            name="from-nightly",
            snapshotId=ids["S"],
        )
        self.operations_finish("the copy and the snapshot image")

    def sell(self) -> None:
        """The provider's listings through review; the owner and the recipient buy."""
        market = {
            "kind": "MARKET",
            "title": "Acme WAF 4.0",
            "summary": "A web application firewall",
            "category": "security",
            "version": "4.0",
            "imageIds": [self.ids["W"]],
            "plans": [{"timing": "PREPAID", "months": 1, "price": "300.00"}],
        }
        created = self.sweep.mutate(
            "provider drafts a MARKET listing", self.provider, CREATE_LISTING, {"i": market}
        )
        lst = self.ids["L1"] = created["listing"]["id"]
        edit = {"listingId": lst, "summary": "A WAF, per-instance licence"}
        self.sweep.mutate("provider edits the draft", self.provider, UPDATE_LISTING, {"i": edit})
        self.listing("provider submits it", "submitListing", lst)
        self.listing("admin rejects it", "rejectListing", lst, "Name the licence.")
        edit = {"listingId": lst, "summary": "A WAF. Licence: Acme EULA."}
        self.sweep.mutate(
            "provider edits the rejected listing", self.provider, UPDATE_LISTING, {"i": edit}
        )
        self.listing("provider submits it again", "submitListing", lst)
        approved = self.listing("admin approves it", "approveListing", lst)
        [market_image] = approved["listing"]["images"]
        self.ids["M"] = market_image["id"]
        integration = dict(market, kind="INTEGRATION", title="Acme WAF hourly")
        integration["plans"] = [{"timing": "POSTPAID", "price": "0.50"}]
        created = self.sweep.mutate(
            "provider drafts an INTEGRATION listing",
            self.provider,
            CREATE_LISTING,
            {"i": integration},
        )
        self.listing("provider submits the integration", "submitListing", created["listing"]["id"])
        self.ids["L2"] = created["listing"]["id"]
        hourly = self.listing("admin approves the integration", "approveListing", self.ids["L2"])
        [hourly_image] = hourly["listing"]["images"]
        [self.ids["o3"]] = self.launch(
            "owner buys the market image",
            self.owner,
            launch(market_image["id"], billing=PREPAID_MONTH),
        )
        [self.ids["r3"]] = self.launch(
            "recipient launches the hourly integration", self.recipient, launch(hourly_image["id"])
        )
        self.operations_finish("the purchases")

    def change_instances(self) -> None:
        """Stop, start and rebuild the owner's instances; the recipient rebuilds its prepaid
        instance onto the market image (a pro-rated order that pays the provider).
        """
        ids = self.ids
        self.instance("owner stops o2", "stopInstance", ids["o2"])
        self.instance("owner starts o2", "startInstance", ids["o2"])
        rebuild = {"instanceId": ids["o2"], "imageId": ids["windows"]}
        self.sweep.mutate(
            "owner rebuilds o2 onto Windows", self.owner, REBUILD_INSTANCE, {"i": rebuild}
        )
        batch = {"instanceIds": [ids["o1"]], "imageId": ids["SI"]}
        self.sweep.mutate(
            "owner rebuilds o1 onto its snapshot image", self.owner, REBUILD_INSTANCES, {"i": batch}
        )
        onto_market = {"instanceId": ids["r1"], "imageId": ids["M"]}
        self.sweep.mutate(
            "recipient rebuilds its prepaid instance onto the market image",
            self.recipient,
            REBUILD_INSTANCE,
            {"i": onto_market},
        )
        self.operations_finish("the rebuilds")

    def settle_money(self) -> None:
        """An hour of postpaid usage settled by the scheduler, then by an admin; a top-up and
        a quota.
        """
        self.advance("advanceClock an hour (hourly settlement)", HOUR)
        self.sweep.step("scheduler run", self.sweep.apps.worker.run_periodic)
        self.advance("advanceClock half an hour", HOUR // 2)
        self.sweep.mutate("admin settles usage", self.admin, SETTLE_USAGE, {"i": {}})
        top_up = {"accountId": self.recipient.id, "amount": "50.00"}
        self.sweep.mutate("admin tops up the recipient", self.admin, TOP_UP, {"i": top_up})
        quota = {"accountId": self.owner.id, "customImagesPerRegion": 25}
        self.sweep.mutate("admin sets the owner's quota", self.admin, SET_QUOTA, {"i": quota})

    def manage_accounts(self) -> None:
        """A new account joins the cast with a token, then revokes it."""
        account = {"name": "Newcomer Co", "role": "CUSTOMER"}
        created = self.sweep.mutate(
            "admin creates an account", self.admin, CREATE_ACCOUNT, {"i": account}
        )
        account_id = created["account"]["id"]
        token = self.sweep.mutate(
            "admin creates its token", self.admin, CREATE_TOKEN, {"i": {"accountId": account_id}}
        )
        newcomer = Tenant(account_id, token["token"], token["apiToken"]["id"])
        self.sweep.add(Probe("newcomer", newcomer, "viewer"), "createApiToken")
        revoke = {"tokenId": newcomer.token_id}
        self.sweep.mutate("newcomer revokes its token", newcomer, REVOKE_TOKEN, {"i": revoke})
        assert self.sweep.last["newcomer"]["status"] == 401

    def govern(self, name: str, step: str, value: dict[str, Any]) -> None:
        """One governance mutation of the owner's."""
        input_type = name[0].upper() + name[1:] + "Input"
        document = GOVERN.format(input=input_type, name=name, errors=ERRORS)
        self.sweep.mutate(step, self.owner, document, {"i": value})

    def governance(self) -> None:
        """Family, protection, a scheduled deprecation the clock reaches, disable and enable,
        and the recycle bin (delete, restore; the last delete is purged by the month's clock).
        """
        ids = self.ids
        golden = {"imageId": ids["G"]}
        self.govern("setImageFamily", "owner puts golden in family web", golden | {"family": "web"})
        protect = golden | {"enabled": True}
        self.govern("setImageDeletionProtection", "owner protects golden", protect)
        clock: Any = self.sweep.apps.cached.app.state.clock  # type: ignore[attr-defined]
        soon = (clock.now() + timedelta(hours=1)).isoformat()
        deprecate = golden | {"deprecateAt": soon, "replacementImageId": ids["SI"]}
        self.govern("deprecateImage", "owner schedules golden's deprecation", deprecate)
        self.advance("advanceClock 2 hours (golden is deprecated)", 2 * 3600)
        self.govern("undeprecateImage", "owner undeprecates golden", golden)
        self.govern("disableImage", "owner disables golden (the recipient loses it)", golden)
        self.govern("enableImage", "owner enables golden", golden)
        unprotect = golden | {"enabled": False}
        self.govern("setImageDeletionProtection", "owner unprotects golden", unprotect)
        self.sweep.mutate(
            "owner bins the snapshot image", self.owner, DELETE_IMAGE, {"i": {"imageId": ids["SI"]}}
        )
        self.govern("restoreImage", "owner restores the snapshot image", {"imageId": ids["SI"]})
        tags = {
            "resourceIds": [ids["G"], ids["o1"], ids["S"]],
            "tags": [{"key": "team", "value": "web"}, {"key": "env", "value": "prod"}],
        }
        self.sweep.mutate("owner tags golden, o1 and the snapshot", self.owner, TAG, {"i": tags})
        untag = {"resourceIds": [ids["o1"]], "keys": ["team"]}
        self.sweep.mutate("owner untags o1", self.owner, UNTAG, {"i": untag})

    def lifecycle_policy(self) -> None:
        """A policy over the owner's images tagged env=prod (the imported image): the month
        of the next chapter deprecates it at a midnight.
        """
        owner, ids = self.owner, self.ids
        tags = {"resourceIds": [ids["I"]], "tags": [{"key": "env", "value": "prod"}]}
        self.sweep.mutate("owner tags the imported image env=prod", owner, TAG, {"i": tags})
        policy = {
            "name": "retire prod",
            "region": "bj",
            "selector": {"tags": [{"key": "env", "value": "prod"}]},
            "rules": {"deprecateAfterDays": 1},
        }
        made = self.sweep.mutate(
            "owner creates a lifecycle policy", owner, CREATE_POLICY, {"i": policy}
        )
        ids["P"] = made["policy"]["id"]
        rename = {"id": ids["P"], "name": "retire what is tagged prod"}
        self.sweep.mutate("owner renames the policy", owner, UPDATE_POLICY, {"i": rename})

    def webhooks(self) -> None:
        """The provider registers an endpoint (at a documentation address: every attempt is
        refused before it connects), changes it, rotates its secret, tests it, redelivers
        the test once the worker tried it, and deletes it.
        """
        provider = self.provider
        endpoint = {"url": "https://203.0.113.10/hooks", "events": ["SALE_CREATED"]}
        made = self.sweep.mutate(
            "provider registers a webhook endpoint", provider, CREATE_ENDPOINT, {"i": endpoint}
        )
        endpoint_id = made["endpoint"]["id"]
        change = {"endpointId": endpoint_id, "description": "sales to the CRM"}
        self.sweep.mutate(
            "provider describes the endpoint", provider, UPDATE_ENDPOINT, {"i": change}
        )
        which = {"endpointId": endpoint_id}
        self.sweep.mutate("provider rotates its secret", provider, ROTATE_SECRET, {"i": which})
        tested = self.sweep.mutate("provider tests it", provider, TEST_WEBHOOK, {"i": which})
        self.sweep.step("worker tick trying the test", self.sweep.apps.worker.tick)
        again = {"deliveryId": tested["delivery"]["id"]}
        self.sweep.mutate("provider redelivers the test", provider, REDELIVER, {"i": again})
        self.sweep.mutate("provider deletes the endpoint", provider, DELETE_ENDPOINT, {"i": which})

    def lifecycle_undone(self) -> None:
        """After the month: the owner undoes the policy's deprecation (the policy then leaves
        the image alone), hands the image back, and deletes the policy.
        """
        imported = {"imageId": self.ids["I"]}
        [policy] = self.sweep.last["owner"]["data"]["policies"]
        taken = [(a["imageId"], a["action"]) for a in policy["recentActions"] if a["taken"]]
        assert taken == [(self.ids["I"], "DEPRECATE")], policy
        self.govern("undeprecateImage", "owner undeprecates the policy's deprecation", imported)
        self.govern("clearImageLifecycleExclusion", "owner hands the image back", imported)
        delete = {"id": self.ids["P"]}
        self.sweep.mutate("owner deletes the policy", self.owner, DELETE_POLICY, {"i": delete})

    def wind_down(self) -> None:
        """Delist (the provider, then an admin), release, unshare, delete; a month passes (the
        prepaid term ends, the recipient runs into arrears) and a top-up pays them off.
        """
        ids, owner = self.ids, self.owner
        self.listing(
            "provider delists the market listing", "delistListing", ids["L1"], "End of life."
        )
        delist = LISTING_ACTION.format(name="delistListing", errors=ERRORS)
        self.sweep.mutate(
            "admin delists the integration", self.admin, delist, {"id": ids["L2"], "reason": None}
        )
        self.sweep.mutate(
            "owner releases the market instance", owner, RELEASE_INSTANCE, {"id": ids["o3"]}
        )
        unshare = {"imageId": ids["G"], "accountIds": [self.recipient.id]}
        self.sweep.mutate("owner unshares golden", owner, UNSHARE_IMAGE, {"i": unshare})
        self.sweep.mutate("owner deletes golden", owner, DELETE_IMAGE, {"i": {"imageId": ids["G"]}})
        self.sweep.mutate(
            "owner deletes the snapshot image", owner, DELETE_IMAGE, {"i": {"imageId": ids["SI"]}}
        )
        self.advance("advanceClock 31 days (the prepaid term ends, the bin is purged)", 31 * DAY)
        self.sweep.step("scheduler run after the month", self.sweep.apps.worker.run_periodic)
        self.sweep.step("worker tick after the month", self.sweep.apps.worker.tick)
        self.sweep.mutate(
            "owner deletes the snapshot", owner, DELETE_SNAPSHOT, {"i": {"snapshotId": ids["S"]}}
        )
        assert self.sweep.last["recipient"]["data"]["viewer"]["inArrears"] is True
        top_up = {"accountId": self.recipient.id, "amount": "5000.00"}
        self.sweep.mutate(
            "admin pays off the recipient's arrears", self.admin, TOP_UP, {"i": top_up}
        )
        assert self.sweep.last["recipient"]["data"]["viewer"]["inArrears"] is False


def assert_the_story_happened(last: dict[str, dict[str, Any]]) -> None:
    """The story did what it tells, as the cast saw it at the end (so that no later change
    quietly turns its steps into no-ops).
    """
    owner, recipient = last["owner"]["data"], last["recipient"]["data"]
    provider = last["provider"]["data"]["viewer"]
    operations = Counter((o["kind"], o["status"]) for o in owner["operations"]["nodes"])
    assert operations[("IMPORT_IMAGE", "FAILED")] == 1, operations
    assert operations[("COPY_IMAGE", "CANCELLED")] == operations[("COPY_IMAGE", "SUCCEEDED")] == 1
    images = sorted((i["name"], i["region"]["code"], i["status"]) for i in owner["mine"]["nodes"])
    # the failed import's image was shown for a day, then purged (R193)
    assert images == [("imported", "bj", "AVAILABLE"), ("imported", "gz", "AVAILABLE")]
    assert {"REFUND", "USAGE", "ORDER"} <= _ledger(last["owner"])
    assert {"PROVIDER_REVENUE", "PROVIDER_REVERSAL"} <= _ledger(last["provider"])
    assert {s["plan"]["timing"] for s in provider["provider"]["sales"]["nodes"]} == {
        "PREPAID",
        "POSTPAID",
    }
    assert [o["kind"] for o in recipient["viewer"]["orders"]["nodes"]] == [
        "REBUILD",
        "NEW_INSTANCES",
    ]
    reasons = {i["statusReason"] for i in recipient["instances"]["nodes"]}
    assert "EXPIRED" in reasons, reasons
    assert recipient["shared"]["totalCount"] == 0
    assert last["anonymous"]["data"]["listings"]["totalCount"] >= 1


def _ledger(answer: dict[str, Any]) -> set[str]:
    return {t["kind"] for t in answer["data"]["viewer"]["transactions"]["nodes"]}


# --- the tests --------------------------------------------------------------------------------


def test_every_cached_answer_equals_the_uncached_one_after_every_step(apps: Apps) -> None:
    factory = apps.factory
    owner = factory.account(balance="100000")
    recipient = factory.account(balance="1000")
    provider = factory.account(Role.PROVIDER, balance="10000")
    stranger = factory.account(balance="1000")
    admin = factory.account(Role.ADMIN)
    cast = [
        Probe("owner", owner, "viewer"),
        Probe("recipient", recipient, "viewer"),
        Probe("provider", provider, "viewer"),
        Probe("unrelated tenant", stranger, "viewer"),
        Probe("admin", admin, "admin"),
        Probe("anonymous", None, "anonymous"),
        Probe("recipient asking private fields", recipient, "forbidden"),
    ]
    names = [probe.name for probe in cast]
    sweep = Sweep(apps, cast)
    sweep.start()
    Story(sweep, owner, recipient, provider, admin).tell()
    assert_the_story_happened(sweep.last)
    schema = apps.cached.post("/graphql", json={"query": MUTATIONS}).json()["data"]["__schema"]
    mutations = {f["name"] for f in schema["mutationType"]["fields"]}
    assert sorted(mutations - sweep.ran) == [], "mutations the story never runs"
    assert sweep.ran == mutations
    # the story really changed what each member of the cast sees, many times over
    assert min(sweep.changed[name] for name in names) >= 2, (sweep.steps, sweep.changed)


# --- the sweep can fail -------------------------------------------------------------------------


def test_the_sweep_sees_a_bump_that_never_happens(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With account versions frozen, a top-up leaves the owner's cached balance behind: the
    sweep is known to see a missed bump (and the administrator, never cached, is unharmed).
    """
    owner, admin = apps.factory.account(balance="10"), apps.factory.account(Role.ADMIN)
    sweep = Sweep(apps, [Probe("owner", owner, "viewer"), Probe("admin", admin, "admin")])
    sweep.start()
    monkeypatch.setattr(versions, "_move", lambda connection, account_ids: None)
    top_up = {"i": {"accountId": owner.id, "amount": "5.00"}}
    stale = sweep.stale(
        "topUpAccount, versions frozen",
        lambda: run_mutation(apps.cached, admin, TOP_UP, top_up, "topUpAccount"),
    )
    assert list(stale) == ["owner"]
    assert any(where.startswith(".data.viewer.balance.amount:") for where in stale["owner"])
    assert '"10.00"' in stale["owner"][0] and '"15.00"' in stale["owner"][0]


def test_the_sweep_sees_a_recipient_an_unshare_forgets(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If deleted share rows' account_id were not noted, unsharing would not move the
    recipient's version (the image's shares no longer name it when the versions move): the
    recipient's cached console would still list the image.
    """
    owner, recipient = apps.factory.account(), apps.factory.account()
    image_id = custom_image(apps.engine, owner.id, name="soon-unshared")
    share = {"i": {"imageId": image_id, "accountIds": [recipient.id]}}
    run_mutation(apps.cached, owner, SHARE_IMAGE, share, "shareImage")
    sweep = Sweep(apps, [Probe("owner", owner, "viewer"), Probe("recipient", recipient, "viewer")])
    sweep.start()
    assert sweep.last["recipient"]["data"]["shared"]["totalCount"] == 1
    monkeypatch.setattr(versions, "OWNER_ATTRIBUTES", ("owner_id", "provider_id", "buyer_id"))
    stale = sweep.stale(
        "unshareImage, account_id not noted",
        lambda: run_mutation(apps.cached, owner, UNSHARE_IMAGE, share, "unshareImage"),
    )
    assert list(stale) == ["recipient"]
    assert any(where.startswith(".data.shared.") for where in stale["recipient"])
