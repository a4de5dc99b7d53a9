"""What the service repeats and keeps of a client's text, and replacement chains, over real
HTTP (R124, R129, R159): the IMAGE_DEPRECATED warning names the replacement only to viewers who
may see it; a deprecation cycle is refused even when its first link is only scheduled; an
upload whose file name holds a bidi override or an escape sequence is refused and not kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import QUICK, Server, make_image, own_server, running_instance
from tests.factories import Tenant
from tests.fixtures import SHARE, launch

DEPRECATE = """mutation($i: DeprecateImageInput!) { deprecateImage(input: $i) {
  image { deprecation { state deprecateAt replacement { id } } }
  userErrors { code field message } } }"""
GET = "query($id: ID!) { image(id: $id) { deprecation { state replacement { id } } } }"
QUOTE = """query($i: CreateInstancesInput!) { priceQuote(input: $i) {
  warnings { code message } userErrors { code field message } } }"""
LAUNCH = """mutation($i: CreateInstancesInput!) { createInstances(input: $i) {
  warnings { code message } userErrors { code field message } } }"""
UPLOAD = """mutation($f: Upload!, $r: ID!) { uploadObject(input: {region: $r, file: $f}) {
  object { key filename sizeBytes } userErrors { code field message } } }"""


def _captured(server: Server, owner: Tenant, instance_id: str) -> str:
    """A new AVAILABLE custom image of the instance."""
    payload = make_image(server, owner, instanceId=instance_id)
    server.wait_operation(payload["operation"]["id"], owner)
    image_id: str = payload["image"]["id"]
    return image_id


def _do(server: Server, document: str, value: dict[str, Any], tenant: Tenant) -> Any:
    body = server.gql(document, {"i": value}, tenant)["data"]
    return next(iter(body.values()))


def _later(server: Server) -> str:
    """A month after the service's (simulated) now."""
    now = datetime.fromisoformat(server.advance(1).replace("Z", "+00:00"))
    return (now + timedelta(days=30)).isoformat()


@pytest.fixture(scope="module")
def owner_with_images(server: Server) -> tuple[Tenant, list[str]]:
    """An owner with three AVAILABLE custom images of one instance."""
    owner = server.account(balance="5000")
    instance_id = running_instance(server, owner)
    return owner, [_captured(server, owner, instance_id) for _ in range(3)]


def test_the_deprecation_warning_names_the_replacement_only_to_viewers_who_see_it(
    server: Server, owner_with_images: tuple[Tenant, list[str]]
) -> None:
    owner, (old, new, _) = owner_with_images
    friend = server.account(balance="5000")
    assert (
        _do(server, SHARE, {"imageId": old, "accountIds": [friend.id]}, owner)["userErrors"] == []
    )
    payload = _do(server, DEPRECATE, {"imageId": old, "replacementImageId": new}, owner)
    assert payload["userErrors"] == []
    deprecate_at = payload["image"]["deprecation"]["deprecateAt"]
    since = datetime.fromisoformat(deprecate_at.replace("Z", "+00:00")).isoformat(
        timespec="seconds"
    )
    # the recipient may not see the replacement: the field reads null ...
    seen = server.gql(GET, {"id": old}, friend)["data"]["image"]["deprecation"]
    assert seen == {"state": "DEPRECATED", "replacement": None}
    # ... and neither the quote nor the launch names it
    hidden = [{"code": "IMAGE_DEPRECATED", "message": f"Image {old} is deprecated since {since}."}]
    for document in (QUOTE, LAUNCH):
        answer = _do(server, document, launch(old), friend)
        assert answer == {"warnings": hidden, "userErrors": []}
    # the owner sees it, and is told to use it
    quoted = _do(server, QUOTE, launch(old), owner)
    assert quoted["warnings"] == [
        {
            "code": "IMAGE_DEPRECATED",
            "message": f"Image {old} is deprecated since {since}; use {new} instead.",
        }
    ]


def test_a_deprecation_cycle_is_refused_even_when_its_links_are_only_scheduled(
    server: Server, owner_with_images: tuple[Tenant, list[str]]
) -> None:
    owner, images = owner_with_images
    a, b, c = images
    later = _later(server)

    def deprecate(image_id: str, replacement: str) -> list[dict[str, Any]]:
        value = {"imageId": image_id, "replacementImageId": replacement, "deprecateAt": later}
        errors: list[dict[str, Any]] = _do(server, DEPRECATE, value, owner)["userErrors"]
        return errors

    def cycle(replacement: str, image_id: str) -> list[dict[str, Any]]:
        return [
            {
                "code": "INVALID_INPUT",
                "field": ["input", "replacementImageId"],
                "message": (
                    f"Image {replacement} already leads to {image_id} through its replacements "
                    "(scheduled or in force); a replacement chain may not form a cycle."
                ),
            }
        ]

    # earlier tests of the module may have deprecated these images: start from none
    undo = "mutation($id: ID!) { undeprecateImage(input: {imageId: $id}) { userErrors { code } } }"
    for image_id in images:
        assert server.gql(undo, {"id": image_id}, owner)["data"]["undeprecateImage"] == {
            "userErrors": []
        }
    assert deprecate(a, b) == []  # A -> B, scheduled a month ahead
    assert deprecate(b, a) == cycle(a, b)  # A -> B -> A
    assert deprecate(b, c) == []  # A -> B -> C
    assert deprecate(c, a) == cycle(a, c)  # A -> B -> C -> A
    assert server.gql(GET, {"id": c}, owner)["data"]["image"]["deprecation"] is None
    assert server.gql(GET, {"id": b}, owner)["data"]["image"]["deprecation"] == {
        "state": "SCHEDULED",
        "replacement": {"id": c},
    }


#: a file name that reverses what follows it on screen and turns a terminal's text red
HOSTILE_NAME = "invoice\u202egpj.qcow2\x1b[31m"
QUOTA = 12 * 1024


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own whose storage quota holds one 8 KiB upload, not two."""
    with own_server(
        tmp_path_factory, "names-data", {**QUICK, "storage_quota_bytes": QUOTA}, admin=None
    ) as server:
        yield server


def _upload(server: Server, tenant: Tenant, name: str, data: bytes) -> httpx.Response:
    return httpx.post(
        f"{server.url}/graphql",
        headers=tenant.headers,
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": {"f": None, "r": "bj"}}),
            "map": json.dumps({"0": ["variables.f"]}),
        },
        files={"0": (name, data, "application/octet-stream")},
        timeout=60,
    )


def _stored_files(server: Server) -> list[Path]:
    objects = Path(server.env["BCC_IMAGES_DATA_DIR"]) / "objects"
    return sorted(p for p in objects.rglob("*") if p.is_file())


def test_an_upload_named_with_a_bidi_override_and_an_escape_is_refused_and_not_kept(
    small_store: Server,
) -> None:
    tenant = small_store.account()
    data = b"\0" * (8 * 1024)
    response = _upload(small_store, tenant, HOSTILE_NAME, data)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["uploadObject"] == {
        "object": None,
        "userErrors": [
            {
                "code": "INVALID_INPUT",
                "field": ["input", "file"],
                "message": (
                    "input.file has a file name with the control character U+202E, which file "
                    "names must not contain."
                ),
            }
        ],
    }
    assert _stored_files(small_store) == []  # the bytes were not kept
    # no quota was taken: the same bytes under a plain name still fit the 12 KiB
    plain = _upload(small_store, tenant, "invoice.qcow2", data)
    assert plain.status_code == 200, plain.text
    stored = plain.json()["data"]["uploadObject"]
    assert stored["userErrors"] == []
    assert stored["object"]["filename"] == "invoice.qcow2"
    assert _stored_files(small_store) == [
        Path(small_store.env["BCC_IMAGES_DATA_DIR"]) / "objects" / "bj" / stored["object"]["key"]
    ]
