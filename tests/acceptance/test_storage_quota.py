"""The storage quota holds whatever becomes of the imports made from an object, and failed
imports do not linger (R128 as amended by R153, R193), over real HTTP on the service clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import diskimages
from tests.acceptance.conftest import QUICK, Server, own_server
from tests.factories import Tenant
from tests.fixtures import IMAGE, IMPORT, import_input

MiB = 1024 * 1024
HOUR = 3600
QUOTA = 5 * MiB
#: just under the 1 MiB a refused upload's body is drained, so a refusal answers cleanly
SMALL = 1000 * 1024
#: with a SMALL one, more than the quota
BIG = 4 * MiB + 512 * 1024
UPLOAD = """mutation($f: Upload!) { uploadObject(input: {region: "bj", file: $f}) {
  object { key sizeBytes } userErrors { code field message } } }"""
DELETE = """mutation($k: String!) { deleteObject(input: {objectKey: $k}) {
  deletedObjectKey userErrors { code field message } } }"""
OPERATION = "query($id: ID!) { operation(id: $id) { status error { code message } } }"
CUSTOM = "{ images(filter: {types: [CUSTOM]}) { nodes { id status } } }"
BIN = "{ recycleBin(first: 10) { nodes { id } } }"


def failing(size: int) -> bytes:
    """A raw disk of ``size`` bytes plus one: refused (not a whole number of sectors)."""
    return bytes(size + 1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a 5 MiB storage quota on a simulated clock the tests move."""
    with own_server(tmp_path_factory, "quota-data", {**QUICK, "storage_quota_bytes": QUOTA}) as s:
        yield s


def upload(server: Server, tenant: Tenant, data: bytes) -> tuple[str | None, str | None]:
    """Upload over multipart: (object key, None) or (None, the refusal's code), whether the
    refusal came from the request's headers (HTTP 413) or when the object was recorded.
    """
    response = httpx.post(
        f"{server.url}/graphql",
        headers=tenant.headers,
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": {"f": None}}),
            "map": json.dumps({"0": ["variables.f"]}),
        },
        files={"0": ("disk.img", data, "application/octet-stream")},
        timeout=60,
    )
    body = response.json()
    if response.status_code == 413:
        return None, str(body["errors"][0]["extensions"]["code"])
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = body["data"]["uploadObject"]
    if answer["userErrors"]:
        return None, str(answer["userErrors"][0]["code"])
    return str(answer["object"]["key"]), None


def start_import(server: Server, tenant: Tenant, key: str, fmt: str = "RAW") -> dict[str, Any]:
    """importImage of an object; its image id and operation id."""
    body = server.gql(IMPORT, {"i": import_input(key, fmt)}, tenant)["data"]["importImage"]
    assert body["userErrors"] == [], body["userErrors"]
    return {"image": body["image"]["id"], "operation": body["operation"]["id"]}


def imported(server: Server, tenant: Tenant, key: str, fmt: str = "RAW") -> dict[str, Any]:
    """An import run to its end: the image as its owner reads it, with the ids."""
    started = start_import(server, tenant, key, fmt)
    server.wait_operation(started["operation"], tenant)
    image = server.gql(IMAGE, {"id": started["image"]}, tenant)["data"]["image"]
    return {**started, **image}


def stored_file(server: Server, key: str) -> Path:
    return Path(server.env["BCC_IMAGES_DATA_DIR"]) / "objects" / "bj" / key


def test_repeated_failed_imports_cannot_pass_the_storage_quota(server: Server) -> None:
    """The probe: upload, import (which fails), again and again, stored 24 MiB under a 5 MiB
    quota, because an object stopped counting once an import was made from it.
    """
    tenant = server.account()
    kept: list[str] = []
    refusals: list[str] = []
    for _ in range(24):
        key, refused = upload(server, tenant, failing(SMALL))
        if refused is not None:
            refusals.append(refused)
            continue
        assert key is not None
        kept.append(key)
        image = imported(server, tenant, key)
        assert image["status"] == "CREATE_FAILED"
        assert image["failure"]["code"] == "IMPORT_UNSAFE_IMAGE"
    assert len(kept) == QUOTA // (SMALL + 1) == 5  # 5,120,005 bytes held: the quota is full
    assert refusals == ["STORAGE_QUOTA_EXCEEDED"] * 19
    assert all(stored_file(server, key).exists() for key in kept)


def test_an_object_counts_while_an_image_made_from_it_lives(server: Server) -> None:
    tenant = server.account()
    key, _ = upload(server, tenant, diskimages.raw(BIG))
    assert key is not None
    assert imported(server, tenant, key)["status"] == "AVAILABLE"
    assert upload(server, tenant, diskimages.raw(SMALL)) == (None, "STORAGE_QUOTA_EXCEEDED")
    server.advance(48 * HOUR)  # an object an image is made from never expires
    assert stored_file(server, key).exists()
    assert upload(server, tenant, diskimages.raw(SMALL)) == (None, "STORAGE_QUOTA_EXCEEDED")
    refused = server.gql(DELETE, {"k": key}, tenant)["data"]["deleteObject"]
    assert [e["code"] for e in refused["userErrors"]] == ["OBJECT_IN_USE"]


def test_a_failed_import_is_shown_for_a_day_then_removed_with_its_object(
    server: Server,
) -> None:
    tenant = server.account()
    key, _ = upload(server, tenant, failing(BIG))
    assert key is not None
    failed = imported(server, tenant, key)
    failure = {"code": "IMPORT_UNSAFE_IMAGE", "message": failed["failure"]["message"]}
    assert failed["status"] == "CREATE_FAILED" and failed["failure"]["checks"] == [
        f"size: {BIG + 1} bytes is not a whole number of 512-byte sectors"
    ]
    # the failed image counts against no quota, but the object it was made from does
    assert upload(server, tenant, diskimages.raw(SMALL)) == (None, "STORAGE_QUOTA_EXCEEDED")

    server.advance(23 * HOUR)
    image = server.gql(IMAGE, {"id": failed["image"]}, tenant)["data"]["image"]
    assert image["status"] == "CREATE_FAILED" and image["failure"]["code"] == failure["code"]
    assert stored_file(server, key).exists()
    assert upload(server, tenant, diskimages.raw(SMALL)) == (None, "STORAGE_QUOTA_EXCEEDED")

    server.advance(2 * HOUR)
    assert server.gql(IMAGE, {"id": failed["image"]}, tenant)["data"]["image"] is None
    assert server.gql(CUSTOM, tenant=tenant)["data"]["images"]["nodes"] == []
    assert server.gql(BIN, tenant=tenant)["data"]["recycleBin"]["nodes"] == []
    operation = server.gql(OPERATION, {"id": failed["operation"]}, tenant)["data"]["operation"]
    assert operation == {"status": "FAILED", "error": failure}
    gone = server.gql(DELETE, {"k": key}, tenant)["data"]["deleteObject"]
    assert [e["code"] for e in gone["userErrors"]] == ["OBJECT_NOT_FOUND"]
    again, refused = upload(server, tenant, diskimages.raw(BIG))  # the quota is free
    assert refused is None and again is not None


def test_an_object_expires_a_day_after_its_last_import_attempt(server: Server) -> None:
    tenant = server.account()
    key, _ = upload(server, tenant, failing(BIG))
    assert key is not None
    server.advance(20 * HOUR)
    assert imported(server, tenant, key)["status"] == "CREATE_FAILED"  # tried again at 20 h
    server.advance(5 * HOUR)  # a day after the upload, 5 h after the last attempt
    assert upload(server, tenant, diskimages.raw(SMALL)) == (None, "STORAGE_QUOTA_EXCEEDED")
    server.advance(20 * HOUR)  # a day after the last attempt: deleted (its bytes reconciled)
    gone = server.gql(DELETE, {"k": key}, tenant)["data"]["deleteObject"]
    assert [e["code"] for e in gone["userErrors"]] == ["OBJECT_NOT_FOUND"]
    again, refused = upload(server, tenant, diskimages.raw(BIG))
    assert refused is None and again is not None


def test_the_object_of_a_failed_import_may_be_deleted_at_once(server: Server) -> None:
    tenant = server.account()
    key, _ = upload(server, tenant, failing(BIG))
    assert key is not None
    assert imported(server, tenant, key)["status"] == "CREATE_FAILED"
    deleted = server.gql(DELETE, {"k": key}, tenant)["data"]["deleteObject"]
    assert deleted == {"deletedObjectKey": key, "userErrors": []}
    again, refused = upload(server, tenant, diskimages.raw(BIG))
    assert refused is None and again is not None


DELETE_IMAGE = """mutation($id: ID!) { deleteImage(input: {imageId: $id}) {
  userErrors { code } } }"""
RESTORE_IMAGE = """mutation($id: ID!) { restoreImage(input: {imageId: $id}) {
  image { status purgeAt } userErrors { code } } }"""
PURGE_AT = "query($id: ID!) { image(id: $id) { status purgeAt } }"


def test_the_recycle_bin_keeps_a_failed_import_no_longer_than_its_day(server: Server) -> None:
    tenant = server.account()
    key, _ = upload(server, tenant, failing(SMALL))
    assert key is not None
    failed = imported(server, tenant, key)
    shown = server.gql(PURGE_AT, {"id": failed["image"]}, tenant)["data"]["image"]["purgeAt"]
    assert shown is not None  # when it goes, a day after it failed
    server.advance(HOUR)
    deleted = server.gql(DELETE_IMAGE, {"id": failed["image"]}, tenant)["data"]["deleteImage"]
    assert deleted["userErrors"] == []
    binned = server.gql(BIN.replace("id }", "id purgeAt }"), tenant=tenant)["data"]["recycleBin"]
    assert binned["nodes"] == [{"id": failed["image"], "purgeAt": shown}]  # not a week later
    restored = server.gql(RESTORE_IMAGE, {"id": failed["image"]}, tenant)["data"]["restoreImage"]
    assert restored == {"image": {"status": "CREATE_FAILED", "purgeAt": shown}, "userErrors": []}
    server.advance(24 * HOUR)
    assert server.gql(PURGE_AT, {"id": failed["image"]}, tenant)["data"]["image"] is None
