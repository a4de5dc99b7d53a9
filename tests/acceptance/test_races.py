"""Limits hold under concurrency (R155, R209): `serve --workers 3`, and for every quota or
count limit twelve requests sent at the same moment from real threads. Exactly as many
succeed as the limit leaves room for, the others are refused with the limit's code, nothing
answers an internal error, and afterwards the count is exactly the limit.

Each race is for the last free place under its limit (a quota of one, a tag batch that fills
what is left), so any two requests whose checks overlap would both pass it; the custom-image
races are run again with the quota raised by one, as long as eight requests are left. The
requests of one race are released together from their own threads, over connections opened
a moment apart so that they reach all three processes.

SQLite takes its write lock at BEGIN, so it serializes these requests anyway; on PostgreSQL
the services must lock the account (or the resource) row before they count.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import QUICK, Server, image, own_server
from tests.diskimages.accepted import qcow2
from tests.factories import Tenant
from tests.fixtures import IMPORT, RESTORE, SHARE, SNAPSHOT, TAG, UPLOAD, import_input, launch

AT_ONCE = 12  # concurrent requests per race (R155: at least 8)
IMAGE_QUOTA = 1  # the server's default custom images per region
ROUNDS = AT_ONCE - 7  # races for the last free image place, quota + 1 after each: 12 ... 8
SHARES_PER_IMAGE = 1
SHARED_WITH_ME = 1
UPLOAD_BYTES = len(qcow2())
STORAGE_QUOTA = UPLOAD_BYTES  # room for one upload
TAG_BATCH = 30  # keys per tagResources call: one batch fits under 50, two do not

LAUNCH = """mutation($i: CreateInstancesInput!) { createInstances(input: $i) {
  instances { id } operation { id } userErrors { code field message } } }"""
CAPTURE = """mutation($i: CreateImageInput!) { createImage(input: $i) {
  image { id } operation { id } userErrors { code field message } } }"""
DELETE = """mutation($i: DeleteImageInput!) { deleteImage(input: $i) {
  deletedImageId userErrors { code field message } } }"""
COPY = """mutation($i: CopyImageInput!) { copyImage(input: $i) {
  images { id } userErrors { code field message } } }"""
QUOTA = """mutation($i: SetAccountQuotaInput!) { setAccountQuota(input: $i) {
  userErrors { code field message } } }"""
ACCOUNT = """mutation($i: CreateAccountInput!) { createAccount(input: $i) {
  account { id } userErrors { code field message } } }"""
COUNT = """query($r: ID!, $t: [ImageType!]) {
  images(first: 1, filter: {region: $r, types: $t}) { totalCount } }"""
TAGS = "query($id: ID!) { snapshot(id: $id) { tags { key } } }"
SHARED_WITH = "query($id: ID!) { image(id: $id) { sharedWith(first: 1) { totalCount } } }"


@pytest.fixture(scope="module")
def races(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`serve --workers 3` on a fresh database, with small quotas."""
    settings = {
        **QUICK,
        "rate_limit_points": 1_000_000,
        "custom_image_quota": IMAGE_QUOTA,
        "share_quota_per_image": SHARES_PER_IMAGE,
        "shared_with_me_quota": SHARED_WITH_ME,
        "storage_quota_bytes": STORAGE_QUOTA,
    }
    with own_server(tmp_path_factory, "races", settings, workers=3) as server:
        yield server


# --- sending requests at the same moment ------------------------------------------------------


def released_together(
    server: Server, tenant: Tenant, requests: Sequence[Callable[[httpx.Client], httpx.Response]]
) -> list[httpx.Response]:
    """Make each request from a thread of its own, all released at the same moment, each
    over a connection of its own opened beforehand; their responses, in order.
    """
    gate = threading.Barrier(len(requests))

    def send(client: httpx.Client, request: Callable[[httpx.Client], httpx.Response]) -> Any:
        gate.wait()
        return request(client)

    with ExitStack() as stack:
        clients = [connected(stack, server, tenant) for _ in requests]
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            return list(pool.map(send, clients, requests))


def connected(stack: ExitStack, server: Server, tenant: Tenant) -> httpx.Client:
    """A client whose connection is open (kept alive for the request to come).

    The worker processes share one listening socket, and the one that wakes first accepts
    every connection waiting: connections opened in one burst all land on the same process,
    which then serves their requests one after another. Real clients arrive spread out in
    time, so connections are opened a moment apart and spread over the processes.
    """
    client = stack.enter_context(
        httpx.Client(base_url=server.url, headers=tenant.headers, timeout=60)
    )
    assert client.get("/healthz").status_code == 200
    time.sleep(0.03)
    return client


def at_once(
    server: Server, tenant: Tenant, document: str, inputs: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One mutation per input, released together; each mutation's payload (asserting HTTP
    200 and no GraphQL error).
    """

    def request(value: dict[str, Any]) -> Callable[[httpx.Client], httpx.Response]:
        body = {"query": document, "variables": {"i": value}}
        return lambda client: client.post("/graphql", json=body)

    payloads = []
    for response in released_together(server, tenant, [request(value) for value in inputs]):
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        payloads.append(next(iter(body["data"].values())))
    return payloads


def outcome(payloads: Sequence[dict[str, Any]]) -> tuple[int, Counter[str]]:
    """How many succeeded, and the codes of the refusals."""
    accepted = sum(1 for p in payloads if not p["userErrors"])
    return accepted, Counter(e["code"] for p in payloads for e in p["userErrors"])


def log_size(server: Server) -> int:
    """Where the server's log ends now."""
    assert server.log_path is not None
    return server.log_path.stat().st_size


def no_internal_errors(server: Server, since: int) -> None:
    """Nothing the server logged since ``since`` is an internal error."""
    assert server.log_path is not None
    with server.log_path.open(errors="replace") as log:
        log.seek(since)
        written = log.read()
    assert "unexpected error" not in written, written[-4000:]
    assert "Traceback" not in written, written[-4000:]


# --- making what the races need ---------------------------------------------------------------


def ok(server: Server, tenant: Tenant, document: str, value: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = next(
        iter(server.gql(document, {"i": value}, tenant)["data"].values())
    )
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


def bare_account(server: Server, name: str) -> str:
    """An account made by the admin over GraphQL (no token: it is only shared with)."""
    assert server.admin is not None
    made = ok(server, server.admin, ACCOUNT, {"name": name, "role": "CUSTOMER"})
    account_id: str = made["account"]["id"]
    return account_id


def set_quota(server: Server, tenant: Tenant, quota: int) -> None:
    """The admin overrides the tenant's custom-image quota per region."""
    assert server.admin is not None
    ok(server, server.admin, QUOTA, {"accountId": tenant.id, "customImagesPerRegion": quota})


def instances(server: Server, tenant: Tenant, count: int) -> list[str]:
    """``count`` RUNNING instances in bj."""
    started = ok(server, tenant, LAUNCH, launch(image(server), count=count))
    server.wait_operation(started["operation"]["id"], tenant)
    return [i["id"] for i in started["instances"]]


def snapshots(server: Server, tenant: Tenant, instance_id: str, count: int) -> list[str]:
    """``count`` AVAILABLE snapshots of one instance."""
    made = [
        ok(server, tenant, SNAPSHOT, {"instanceId": instance_id, "name": f"nightly-{n}"})
        for n in range(count)
    ]
    for started in made:
        server.wait_operation(started["operation"]["id"], tenant)
    return [started["snapshot"]["id"] for started in made]


def custom_images(server: Server, tenant: Tenant, count: int) -> list[str]:
    """``count`` AVAILABLE custom images in bj (the account's quota is raised to hold them)."""
    set_quota(server, tenant, max(count, IMAGE_QUOTA))
    [instance_id] = instances(server, tenant, 1)
    [snapshot_id] = snapshots(server, tenant, instance_id, 1)
    made = [
        ok(server, tenant, CAPTURE, {"name": f"golden-{n}", "snapshotId": snapshot_id})
        for n in range(count)
    ]
    for started in made:
        server.wait_operation(started["operation"]["id"], tenant)
    return [started["image"]["id"] for started in made]


def custom_count(server: Server, tenant: Tenant, region: str = "bj") -> int:
    images = server.gql(COUNT, {"r": region, "t": ["CUSTOM"]}, tenant)["data"]["images"]
    count: int = images["totalCount"]
    return count


# --- the custom-image quota (R8, R14) ---------------------------------------------------------


def race_for_each_place(
    server: Server, owner: Tenant, document: str, inputs: Sequence[dict[str, Any]]
) -> None:
    """Race the requests for the one free place under the owner's custom-image quota, then
    raise the quota by one and race the refused ones again, ROUNDS times: each round exactly
    one succeeds and the others are refused with IMAGE_QUOTA_EXCEEDED.
    """
    waiting = list(inputs)
    for quota in range(1, ROUNDS + 1):
        if quota > 1:
            set_quota(server, owner, quota)
        payloads = at_once(server, owner, document, waiting)
        refused = Counter({"IMAGE_QUOTA_EXCEEDED": len(waiting) - 1})
        assert outcome(payloads) == (1, refused), f"at quota {quota}"
        answered = zip(waiting, payloads, strict=True)
        waiting = [value for value, payload in answered if payload["userErrors"]]


def test_create_image_from_snapshots_at_once_stays_within_the_quota(races: Server) -> None:
    since = log_size(races)
    owner = races.account(balance="5000")
    [instance_id] = instances(races, owner, 1)
    sources = snapshots(races, owner, instance_id, AT_ONCE)

    race_for_each_place(races, owner, CAPTURE, [{"name": "race", "snapshotId": s} for s in sources])

    assert custom_count(races, owner) == ROUNDS
    no_internal_errors(races, since)


def test_create_image_from_instances_at_once_stays_within_the_quota(races: Server) -> None:
    since = log_size(races)
    owner = races.account(balance="5000")
    sources = instances(races, owner, AT_ONCE)

    race_for_each_place(races, owner, CAPTURE, [{"name": "race", "instanceId": i} for i in sources])

    assert custom_count(races, owner) == ROUNDS
    no_internal_errors(races, since)


def test_restore_at_once_stays_within_the_quota(races: Server) -> None:
    since = log_size(races)
    owner = races.account(balance="5000")
    binned = custom_images(races, owner, AT_ONCE)
    for image_id in binned:
        ok(races, owner, DELETE, {"imageId": image_id})
    set_quota(races, owner, 1)

    race_for_each_place(races, owner, RESTORE, [{"imageId": i} for i in binned])

    assert custom_count(races, owner) == ROUNDS
    no_internal_errors(races, since)


def test_copies_into_a_region_at_once_stay_within_its_quota(races: Server) -> None:
    since = log_size(races)
    owner = races.account(balance="5000")
    sources = custom_images(races, owner, AT_ONCE)
    set_quota(races, owner, 1)  # bj holds more than that; gz holds none yet

    race_for_each_place(
        races, owner, COPY, [{"imageId": i, "destinationRegions": ["gz"]} for i in sources]
    )

    assert custom_count(races, owner, "gz") == ROUNDS
    no_internal_errors(races, since)


def test_imports_at_once_stay_within_the_quota(races: Server) -> None:
    since = log_size(races)
    owner = races.account()
    with httpx.Client(base_url=races.url, headers=owner.headers, timeout=60) as client:
        stored = uploaded(upload(client))
    assert stored["userErrors"] == []
    key = stored["object"]["key"]

    race_for_each_place(
        races, owner, IMPORT, [import_input(key, "QCOW2", name="race") for _ in range(AT_ONCE)]
    )

    assert custom_count(races, owner) == ROUNDS
    no_internal_errors(races, since)


# --- the storage quota (R128) -----------------------------------------------------------------


def upload(client: httpx.Client) -> httpx.Response:
    """uploadObject of a small valid qcow2 file into bj."""
    return client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": {"f": None, "r": "bj"}}),
            "map": json.dumps({"0": ["variables.f"]}),
        },
        files={"0": ("disk.qcow2", qcow2(), "application/octet-stream")},
    )


def uploaded(response: httpx.Response) -> dict[str, Any]:
    """The payload of an uploadObject answered 200 with no GraphQL error."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    payload: dict[str, Any] = body["data"]["uploadObject"]
    return payload


def test_uploads_at_once_stay_within_the_storage_quota(races: Server) -> None:
    since = log_size(races)
    owner = races.account()

    responses = released_together(races, owner, [upload] * AT_ONCE)

    # refused when the body is stored (a userError), or from its headers once the quota
    # is visibly full (HTTP 413 with the same code)
    early = [r.json()["errors"][0]["extensions"]["code"] for r in responses if r.status_code == 413]
    assert set(early) <= {"STORAGE_QUOTA_EXCEEDED"}
    accepted, refused = outcome([uploaded(r) for r in responses if r.status_code != 413])
    refused["STORAGE_QUOTA_EXCEEDED"] += len(early)
    assert (accepted, refused) == (1, Counter({"STORAGE_QUOTA_EXCEEDED": AT_ONCE - 1}))
    no_internal_errors(races, since)


# --- tags per resource (R114) -----------------------------------------------------------------


def test_tagging_at_once_stays_within_fifty_keys(races: Server) -> None:
    since = log_size(races)
    owner = races.account(balance="5000")
    [instance_id] = instances(races, owner, 1)
    [snapshot_id] = snapshots(races, owner, instance_id, 1)
    batches = [
        {"resourceIds": [snapshot_id], "tags": [{"key": f"k{n}-{k}"} for k in range(TAG_BATCH)]}
        for n in range(AT_ONCE)
    ]  # disjoint batches of 30 keys: one fits under 50

    payloads = at_once(races, owner, TAG, batches)

    assert outcome(payloads) == (1, Counter({"TAG_LIMIT_EXCEEDED": AT_ONCE - 1}))
    tags = races.gql(TAGS, {"id": snapshot_id}, owner)["data"]["snapshot"]["tags"]
    assert len(tags) == TAG_BATCH
    no_internal_errors(races, since)


# --- shares per image and per recipient (R8, R21) ---------------------------------------------


def test_sharing_one_image_at_once_stays_within_its_share_quota(races: Server) -> None:
    since = log_size(races)
    owner = races.account(balance="5000")
    [image_id] = custom_images(races, owner, 1)
    recipients = [bare_account(races, f"recipient-{n}") for n in range(AT_ONCE)]

    payloads = at_once(
        races, owner, SHARE, [{"imageId": image_id, "accountIds": [r]} for r in recipients]
    )

    refused = AT_ONCE - SHARES_PER_IMAGE
    assert outcome(payloads) == (SHARES_PER_IMAGE, Counter({"SHARE_QUOTA_EXCEEDED": refused}))
    shared = races.gql(SHARED_WITH, {"id": image_id}, owner)["data"]["image"]["sharedWith"]
    assert shared["totalCount"] == SHARES_PER_IMAGE
    no_internal_errors(races, since)


def test_sharing_with_one_recipient_at_once_stays_within_its_quota(races: Server) -> None:
    since = log_size(races)
    owner = races.account(balance="5000")
    images = custom_images(races, owner, AT_ONCE)
    recipient = races.account()

    payloads = at_once(
        races, owner, SHARE, [{"imageId": i, "accountIds": [recipient.id]} for i in images]
    )

    refused = AT_ONCE - SHARED_WITH_ME
    assert outcome(payloads) == (SHARED_WITH_ME, Counter({"RECIPIENT_QUOTA_EXCEEDED": refused}))
    shared = races.gql(COUNT, {"r": "bj", "t": ["SHARED"]}, recipient)["data"]["images"]
    assert shared["totalCount"] == SHARED_WITH_ME
    no_internal_errors(races, since)
