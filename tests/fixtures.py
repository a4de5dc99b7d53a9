"""Helpers and GraphQL documents shared by several test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, event
from starlette.testclient import TestClient

from app.platform.viewer import Role
from tests.factories import Factory, Tenant, custom_image, gql

IMAGE_FIELDS = """id name type status progress copyLock minDiskGb systemDiskKind
  source { kind id region { code } } chargeRoot { osLicense } os { type name }"""
LISTING_FIELDS = """id kind status title reviewNote provider { id name }
  plans { timing months price { amount } } images { id type status region { code } }"""

LINES = "lines { kind quantity unit unitPrice { amount } amount { amount } }"

QUOTE = f"""query($i: CreateInstancesInput!) {{ priceQuote(input: $i) {{
  timing months {LINES} total {{ amount currency }} userErrors {{ code field message }} }} }}"""

CREATE = f"""mutation($i: CreateInstancesInput!) {{ createInstances(input: $i) {{
  instances {{ id name status zone {{ name }} region {{ code }} flavor {{ name }}
    image {{ id name os {{ type }} image {{ id }} }} createdFromImage {{ id }}
    billing {{ timing months }} createdAt expiresAt charges {{ kind amount {{ amount }} }} }}
  order {{ id kind total {{ amount }} {LINES} instances {{ id }} }}
  operation {{ id kind status targets {{ id }} }}
  userErrors {{ code field message }} }} }}"""

RELEASE = """mutation($id: ID!) { releaseInstance(input: {instanceId: $id}) {
  refund { amount } userErrors { code } } }"""

VIEWER = """{ viewer { balance { amount } transactions(first: 50) { nodes { kind amount { amount }
  reference } } orders(first: 10) { nodes { id total { amount } } } } }"""


def launch(image_id: str, **overrides: Any) -> dict[str, Any]:
    """A createInstances input with sensible defaults."""
    value: dict[str, Any] = {
        "region": "bj",
        "flavor": "bcc.g5.c2m8",
        "imageId": image_id,
        "count": 1,
        "systemDisk": {"storageType": "CDS_SSD", "sizeGb": 40},
        "billing": {"timing": "POSTPAID"},
    }
    value.update(overrides)
    return value


def balance(client: TestClient, tenant: Tenant) -> Decimal:
    return Decimal(gql(client, VIEWER, tenant=tenant)["data"]["viewer"]["balance"]["amount"])


REBUILD = """mutation($i: RebuildInstanceInput!) { rebuildInstance(input: $i) {
  instance { id status charges { kind quantity amount { amount } } }
  order { id kind total { amount } lines { kind quantity unit unitPrice { amount } amount { amount } } }
  operation { id } userErrors { code field message } } }"""

COPY = f"""mutation($i: CopyImageInput!) {{ copyImage(input: $i) {{
  images {{ {IMAGE_FIELDS} }} operations {{ id kind }} userErrors {{ code field message }} }} }}"""

CREATE_IMAGE = f"""mutation($i: CreateImageInput!) {{ createImage(input: $i) {{
  image {{ {IMAGE_FIELDS} }} operation {{ id kind status }} userErrors {{ code field message }} }} }}"""

DELETE = """mutation($id: ID!) { deleteImage(input: {imageId: $id}) {
  deletedImageId userErrors { code field message } } }"""

SHARE = """mutation($i: ShareImageInput!) { shareImage(input: $i) {
  image { id sharedWith { totalCount nodes { id } } } userErrors { code field message } } }"""

UNSHARE = """mutation($i: UnshareImageInput!) { unshareImage(input: $i) {
  image { id sharedWith { totalCount } } userErrors { code field message } } }"""

SNAPSHOT = """mutation($i: CreateSnapshotInput!) { createSnapshot(input: $i) {
  snapshot { id status sizeGb systemDiskKind } operation { id } userErrors { code field message } } }"""


ACTION = """mutation($id: ID!, $reason: String) {{ {name}(input: {{listingId: $id, reason: $reason}}) {{
  listing {{ id status reviewNote images {{ id type status }} }} userErrors {{ code field message }} }} }}"""

CREATE_LISTING = f"""mutation($i: CreateListingInput!) {{ createListing(input: $i) {{
  listing {{ {LISTING_FIELDS} }} userErrors {{ code field message }} }} }}"""

GET_LISTING = f"query($id: ID!) {{ listing(id: $id) {{ {LISTING_FIELDS} }} }}"

PROVIDER = """{ viewer { provider { revenue { amount }
  sales(first: 10) { nodes { buyerId orderId orderLine instanceIds instanceCount
    amount { amount } revenue { amount }
    plan { timing months price { amount } } listing { id } } }
  listings(first: 10) { totalCount } } } }"""


def listing_input(image_id: str, **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "kind": "MARKET",
        "title": "Acme WAF 4.0",
        "summary": "A web application firewall",
        "category": "security",
        "version": "4.0",
        "imageIds": [image_id],
        "plans": [
            {"timing": "PREPAID", "months": 1, "price": "300.00"},
            {"timing": "PREPAID", "months": 12, "price": "3000.00"},
        ],
    }
    value.update(overrides)
    return value


IMPORT = """mutation($i: ImportImageInput!) { importImage(input: $i) {
  image { id status type source { kind id } chargeRoot { osLicense } }
  operation { id kind } userErrors { code field message } } }"""

UPLOAD = """mutation($f: Upload!, $r: ID!) { uploadObject(input: {region: $r, file: $f}) {
  object { key region sizeBytes sha256 filename } userErrors { code field message } } }"""

IMAGE = """query($id: ID!) { image(id: $id) { status format sha256 virtualSizeBytes sizeGb minDiskGb
  generation os { type name version } chargeRoot { osLicense } failure { code message checks } } }"""


def import_input(key: str, fmt: str, **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "region": "bj",
        "objectKey": key,
        "name": "imported",
        "format": fmt,
        "os": {"type": "LINUX", "name": "Ubuntu", "version": "22.04", "arch": "x86_64"},
    }
    value.update(overrides)
    return value


RESTORE = """mutation($i: RestoreImageInput!) { restoreImage(input: $i) {
  image { id } userErrors { code field message } } }"""

TAG = """mutation($i: TagResourcesInput!) { tagResources(input: $i) {
  userErrors { code field message } } }"""


#: what the versions' check (and the token's, with it) reads: statements naming it are not
#: the page's own (the versions board makes them only after a commit emptied it)
VERSIONS_TABLE = "catalogue_version"


class StatementCounter:
    """Counts SQL statements sent by an engine (not transaction control such as BEGIN; with
    ``pages_only``, not the versions' and token's check either).
    """

    def __init__(self, pages_only: bool = False) -> None:
        self.count = 0
        self.pages_only = pages_only

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("BEGIN"):
            return
        if self.pages_only and VERSIONS_TABLE in statement:
            return
        self.count += 1


@contextmanager
def counting(app: Any, counter: StatementCounter) -> Iterator[StatementCounter]:
    """Count the statements every engine of an app sends: its own, and its page reads'."""
    engines = [app.state.engine, *app.state.page_reads.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", counter)


def make_listing(
    client: TestClient,
    factory: Factory,
    engine: Engine,
    provider: Tenant | None = None,
    publish: bool = True,
    **overrides: Any,
) -> tuple[Tenant, str, str | None]:
    """A provider listing (published unless told otherwise): (provider, listing id, bj image)."""
    provider = provider or factory.account(Role.PROVIDER, balance="100")
    source = custom_image(engine, provider.id)
    body = gql(client, CREATE_LISTING, {"i": listing_input(source, **overrides)}, provider)["data"][
        "createListing"
    ]
    assert body["userErrors"] == [], body["userErrors"]
    listing_id: str = body["listing"]["id"]
    if not publish:
        return provider, listing_id, None
    act(client, "submitListing", listing_id, provider)
    approved = act(client, "approveListing", listing_id, factory.account(Role.ADMIN))
    return provider, listing_id, approved["listing"]["images"][0]["id"]


def act(
    client: TestClient, name: str, listing_id: str, tenant: Tenant, reason: str | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = gql(
        client, ACTION.format(name=name), {"id": listing_id, "reason": reason}, tenant
    )["data"][name]
    return payload


CANCEL = """mutation($id: ID!) { cancelImageCopy(input: {imageId: $id}) {
  cancelledImageId userErrors { code field message } } }"""

DELETE_SNAPSHOT = """mutation($id: ID!) { deleteSnapshot(input: {snapshotId: $id}) {
  deletedSnapshotId userErrors { code field message } } }"""

GET_IMAGE = (
    f"query($id: ID!) {{ image(id: $id) {{ {IMAGE_FIELDS} sharedWith {{ nodes {{ id }} }} }} }}"
)


def real_clock_env() -> dict[str, str]:
    """This environment without libfaketime, for programs that are not the service (a Redis
    server, a browser): they keep their own, real clock while the suite runs at a fixed date
    (under a moved clock redis-server never finished stopping and Chromium's renderer hung).
    """
    return {
        name: value
        for name, value in os.environ.items()
        if name != "LD_PRELOAD" and not name.startswith("FAKETIME")
    }
