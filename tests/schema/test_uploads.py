"""Uploads (R49): streamed to the store, size-limited without leftovers, owner-only."""

from __future__ import annotations

import dataclasses
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
from tests.factories import Factory, Tenant

UPLOAD = """mutation($f: Upload!, $r: ID!) { uploadObject(input: {region: $r, file: $f}) {
  object { key region sizeBytes sha256 filename } userErrors { code field message } } }"""
LIMIT = 64 * 1024


@pytest.fixture
def small(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    data_dir = tmp_path / "data"
    tight = dataclasses.replace(settings, max_upload_bytes=LIMIT, data_dir=data_dir)
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
    assert (stored["region"], stored["sizeBytes"], stored["filename"]) == (
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
