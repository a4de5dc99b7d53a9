"""Uploads (R49): streamed to the store, size-limited without leftovers, owner-only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.factories import Factory, Tenant, gql

UPLOAD = """mutation($f: Upload!, $r: ID!) { uploadObject(input: {region: $r, file: $f}) {
  object { key region sizeBytes sha256 filename } userErrors { code field message } } }"""
LIMIT = 64 * 1024


@pytest.fixture
def small(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    data_dir = tmp_path / "data"
    tight = settings.model_copy(update={"max_upload_bytes": LIMIT, "data_dir": data_dir})
    with TestClient(create_app(tight)) as client:
        yield client, data_dir


def _upload(client: TestClient, tenant: Tenant | None, data: bytes, region: str = "bj") -> Any:
    return client.post(
        "/graphql",
        headers=tenant.headers if tenant else {},
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": {"f": None, "r": region}}),
            "map": json.dumps({"0": ["variables.f"]}),
        },
        files={"0": ("disk.qcow2", data, "application/octet-stream")},
    )


def _files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def test_an_upload_is_stored_with_its_checksum(
    small: tuple[TestClient, Path], factory: Factory
) -> None:
    client, data_dir = small
    data = b"x" * LIMIT
    body = _upload(client, factory.account(), data).json()["data"]["uploadObject"]
    stored = body["object"]
    assert body["userErrors"] == []
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert (stored["region"], int(stored["sizeBytes"]), stored["filename"]) == (
        "bj",
        LIMIT,
        "disk.qcow2",
    )
    assert _files(data_dir) == [data_dir / "objects" / "bj" / stored["key"]]


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(
    small: tuple[TestClient, Path], factory: Factory
) -> None:
    client, data_dir = small
    body = _upload(client, factory.account(), b"x" * (LIMIT + 1)).json()["data"]["uploadObject"]
    assert body == {
        "object": None,
        "userErrors": [
            {
                "code": "UPLOAD_TOO_LARGE",
                "field": ["input", "file"],
                "message": f"Uploads are at most {LIMIT} bytes.",
            }
        ],
    }
    assert _files(data_dir) == []


def test_a_body_far_over_the_limit_is_cut_off_with_413(
    small: tuple[TestClient, Path], factory: Factory
) -> None:
    client, data_dir = small
    response = _upload(client, factory.account(), b"x" * (LIMIT + 2 * 1024 * 1024))
    assert response.status_code == 413
    assert _files(data_dir) == []


def test_unknown_region_and_anonymous_uploads_are_refused(
    small: tuple[TestClient, Path], factory: Factory
) -> None:
    client, data_dir = small
    body = _upload(client, factory.account(), b"abc", region="zz").json()["data"]["uploadObject"]
    assert [(e["code"], e["field"]) for e in body["userErrors"]] == [
        ("REGION_NOT_FOUND", ["input", "region"])
    ]
    anonymous = _upload(client, None, b"abc").json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert _files(data_dir) == []


DELETE = """mutation($k: String!) { deleteObject(input: {objectKey: $k}) {
  deletedObjectKey userErrors { code field message } } }"""


@pytest.fixture
def quota(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    data_dir = tmp_path / "data"
    tight = settings.model_copy(
        update={
            "max_upload_bytes": LIMIT,
            "storage_quota_bytes": LIMIT + LIMIT // 2,
            "data_dir": data_dir,
        }
    )
    with TestClient(create_app(tight)) as client:
        yield client, data_dir


def test_the_storage_quota_counts_objects_no_image_uses(
    quota: tuple[TestClient, Path], factory: Factory
) -> None:
    client, data_dir = quota
    tenant = factory.account()
    first = _upload(client, tenant, b"x" * LIMIT).json()["data"]["uploadObject"]
    assert first["userErrors"] == []
    second = _upload(client, tenant, b"y" * LIMIT).json()["data"]["uploadObject"]
    assert second["object"] is None
    assert [(e["code"], e["field"]) for e in second["userErrors"]] == [
        ("STORAGE_QUOTA_EXCEEDED", ["input", "file"])
    ]
    assert _files(data_dir) == [data_dir / "objects" / "bj" / first["object"]["key"]]
    # another account has its own quota
    other = _upload(client, factory.account(), b"z" * LIMIT).json()["data"]["uploadObject"]
    assert other["userErrors"] == []


def test_deleting_an_object_frees_its_quota_and_its_bytes(
    quota: tuple[TestClient, Path], factory: Factory
) -> None:
    client, data_dir = quota
    tenant, stranger = factory.account(), factory.account()
    key = _upload(client, tenant, b"x" * LIMIT).json()["data"]["uploadObject"]["object"]["key"]
    refused = gql(client, DELETE, {"k": key}, stranger)["data"]["deleteObject"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("OBJECT_NOT_FOUND", ["input", "objectKey"])
    ]
    deleted = gql(client, DELETE, {"k": key}, tenant)["data"]["deleteObject"]
    assert deleted == {"deletedObjectKey": key, "userErrors": []}
    assert _files(data_dir) == []
    again = _upload(client, tenant, b"y" * LIMIT).json()["data"]["uploadObject"]
    assert again["userErrors"] == []
    gone = gql(client, DELETE, {"k": key}, tenant)["data"]["deleteObject"]
    assert gone["userErrors"][0]["code"] == "OBJECT_NOT_FOUND"


def test_an_object_an_image_is_imported_from_cannot_be_deleted(
    quota: tuple[TestClient, Path], factory: Factory
) -> None:
    from tests import diskimages

    client, _ = quota
    tenant = factory.account()
    key = _upload(client, tenant, diskimages.raw(LIMIT)).json()["data"]["uploadObject"]["object"][
        "key"
    ]
    started = gql(
        client,
        """mutation($k: String!) { importImage(input: {region: "bj", objectKey: $k, name: "u",
           format: RAW, os: {type: LINUX, name: "Ubuntu", version: "22.04"}}) {
           image { id } userErrors { code } } }""",
        {"k": key},
        tenant,
    )["data"]["importImage"]
    assert started["userErrors"] == []
    client.app.state.worker.tick()  # type: ignore[attr-defined]  # imported: AVAILABLE
    refused = gql(client, DELETE, {"k": key}, tenant)["data"]["deleteObject"]
    assert refused["deletedObjectKey"] is None
    assert refused["userErrors"][0]["code"] == "OBJECT_IN_USE"
    assert started["image"]["id"] in refused["userErrors"][0]["message"]


def test_objects_never_imported_expire_and_their_bytes_are_reconciled(
    quota: tuple[TestClient, Path], factory: Factory, engine: Engine
) -> None:
    import os
    from datetime import timedelta

    from app.clock import Clock
    from app.database import write_session
    from app.storage.store import LocalObjectStore
    from app.workflows.objects import ObjectHousekeeping

    client, data_dir = quota
    tenant = factory.account()
    key = _upload(client, tenant, b"x" * 100).json()["data"]["uploadObject"]["object"]["key"]
    path = data_dir / "objects" / "bj" / key
    job = ObjectHousekeeping(LocalObjectStore(data_dir), expiry_days=7, every_seconds=0)
    now = Clock(simulated=False).now()
    with write_session(engine) as session:
        job(session, now + timedelta(days=6))
    assert path.exists()  # not yet expired; and its row protects the file
    with write_session(engine) as session:
        job(session, now + timedelta(days=8))
    assert path.exists()  # the row is gone, but the file is younger than ten minutes
    old = LocalObjectStore(data_dir).now() - 3600  # by the filesystem's clock, as the job reads
    os.utime(path, (old, old))
    with write_session(engine) as session:
        job(session, now + timedelta(days=8))
    assert not path.exists()
    gone = gql(client, DELETE, {"k": key}, tenant)["data"]["deleteObject"]
    assert gone["userErrors"][0]["code"] == "OBJECT_NOT_FOUND"


def test_start_up_removes_stale_partial_uploads_and_unrecorded_files(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    import os

    from app.server import housekeeping
    from app.storage.store import LocalObjectStore

    data_dir = tmp_path / "data"
    (data_dir / "tmp").mkdir(parents=True)
    (data_dir / "objects" / "bj").mkdir(parents=True)
    stale = data_dir / "tmp" / "upload-stale"
    fresh = data_dir / "tmp" / "upload-fresh"
    orphan = data_dir / "objects" / "bj" / "obj-orphan00000000"
    young = data_dir / "objects" / "bj" / "obj-young000000000"
    for path in (stale, fresh, orphan, young):
        path.write_bytes(b"partial")
    old = LocalObjectStore(data_dir).now() - 3600  # the filesystem's clock, which ages files
    os.utime(stale, (old, old))
    os.utime(orphan, (old, old))
    housekeeping(settings.model_copy(update={"data_dir": data_dir}), engine)
    assert sorted(p.name for p in _files(data_dir)) == ["obj-young000000000", "upload-fresh"]


def test_stored_files_are_not_world_readable(
    small: tuple[TestClient, Path], factory: Factory
) -> None:
    client, data_dir = small
    key = _upload(client, factory.account(), b"x").json()["data"]["uploadObject"]["object"]["key"]
    assert (data_dir / "objects" / "bj" / key).stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("value", ["x", 1, {"a": 1}])
def test_a_file_that_is_not_a_file_part_is_invalid_input(
    app_client: TestClient, factory: Factory, value: object
) -> None:
    body = gql(
        app_client,
        'mutation($f: Upload!) { uploadObject(input: {region: "bj", file: $f}) '
        "{ object { key } userErrors { code field } } }",
        {"f": value},
        factory.account(),
    )
    assert body["data"]["uploadObject"] == {
        "object": None,
        "userErrors": [{"code": "INVALID_INPUT", "field": ["input", "file"]}],
    }
