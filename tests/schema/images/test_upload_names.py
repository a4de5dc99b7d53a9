"""Upload file names in process (R159): stored only after the R129 name rules, refused with an
INVALID_INPUT userError otherwise, before any byte is stored or any quota taken.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from starlette.testclient import TestClient

from app.config import Settings
from app.database import read_session
from app.main import create_app
from app.storage.models import StoredObject
from tests.factories import Factory, Tenant

UPLOAD = """mutation($f: Upload!, $r: ID!) { uploadObject(input: {region: $r, file: $f}) {
  object { key filename } userErrors { code field message } } }"""


@pytest.fixture
def client(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    data_dir = tmp_path / "data"
    with TestClient(create_app(settings.model_copy(update={"data_dir": data_dir}))) as client:
        yield client, data_dir


def _upload(client: TestClient, tenant: Tenant, filename: str) -> Any:
    """A multipart upload written out by hand, so the file name's bytes are exactly these
    (HTTP clients percent-encode some characters, such as tab, and not others)."""
    boundary = "b0undary"
    operations = json.dumps({"query": UPLOAD, "variables": {"f": None, "r": "bj"}})
    parts = [
        ('name="operations"', operations),
        ('name="map"', json.dumps({"0": ["variables.f"]})),
    ]
    head = "".join(
        f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n{value}\r\n"
        for disposition, value in parts
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + b"x" * 1024 + f"\r\n--{boundary}--\r\n".encode()
    response = client.post(
        "/graphql",
        headers={**tenant.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["uploadObject"]


def _files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def _refused(character: str) -> dict[str, Any]:
    return {
        "object": None,
        "userErrors": [
            {
                "code": "INVALID_INPUT",
                "field": ["input", "file"],
                "message": (
                    "input.file has a file name with the control character "
                    f"U+{ord(character):04X}, which file names must not contain."
                ),
            }
        ],
    }


@pytest.mark.parametrize(
    ("filename", "character"),
    [
        ("disk\u202egpj.qcow2", "\u202e"),  # RIGHT-TO-LEFT OVERRIDE
        ("\x1b[31mdisk.qcow2", "\x1b"),  # an ANSI escape sequence
        ("disk\u2066.qcow2", "\u2066"),  # LEFT-TO-RIGHT ISOLATE
        ("disk\u200f.qcow2", "\u200f"),  # RIGHT-TO-LEFT MARK
        ("disk\x85.qcow2", "\x85"),  # a C1 control
        ("disk\x7f.qcow2", "\x7f"),  # DEL
        ("disk\t.qcow2", "\t"),  # tab: refused in names
        ("disk\x00.qcow2", "\x00"),  # NUL
    ],
)
def test_a_file_name_with_a_control_character_is_refused_and_nothing_is_kept(
    client: tuple[TestClient, Path],
    factory: Factory,
    engine: Engine,
    filename: str,
    character: str,
) -> None:
    app_client, data_dir = client
    tenant = factory.account()
    assert _upload(app_client, tenant, filename) == _refused(character)
    assert _files(data_dir) == []  # the bytes were not kept
    with read_session(engine) as session:  # nothing recorded, so no quota taken
        mine = select(StoredObject).where(col(StoredObject.owner_id) == tenant.id)
        assert list(session.exec(mine)) == []


def test_a_plain_file_name_is_stored_as_given(
    client: tuple[TestClient, Path], factory: Factory
) -> None:
    app_client, data_dir = client
    stored = _upload(app_client, factory.account(), "ubuntu 22.04 (最小) v2.qcow2")
    assert stored["userErrors"] == []
    assert stored["object"]["filename"] == "ubuntu 22.04 (最小) v2.qcow2"
    assert _files(data_dir) == [data_dir / "objects" / "bj" / stored["object"]["key"]]
