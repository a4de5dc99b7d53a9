"""Importing disk images over real HTTP: multipart upload, inspection, safety (R45-R49)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import diskimages
from tests.acceptance.conftest import Server, own_server
from tests.factories import Tenant
from tests.fixtures import IMAGE, IMPORT, UPLOAD, import_input, launch

GiB = 1024**3


def upload(
    server: Server, tenant: Tenant, data: bytes, region: str = "bj", name: str = "disk.img"
) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/graphql",
        headers=tenant.headers,
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": {"f": None, "r": region}}),
            "map": json.dumps({"0": ["variables.f"]}),
        },
        files={"0": (name, data, "application/octet-stream")},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["uploadObject"]
    return payload


def import_file(
    server: Server, tenant: Tenant, data: bytes, fmt: str, **overrides: Any
) -> dict[str, Any]:
    stored = upload(server, tenant, data)
    assert stored["userErrors"] == []
    body = server.gql(
        IMPORT, {"i": import_input(stored["object"]["key"], fmt, **overrides)}, tenant
    )
    started: dict[str, Any] = body["data"]["importImage"]
    assert started["userErrors"] == [], started["userErrors"]
    assert started["image"]["status"] == "CREATING"
    server.wait_operation(started["operation"]["id"], tenant)
    image: dict[str, Any] = server.gql(IMAGE, {"id": started["image"]["id"]}, tenant)["data"][
        "image"
    ]
    image["object"] = stored["object"]
    return image


@pytest.mark.parametrize(
    ("builder", "fmt", "virtual"),
    [
        (diskimages.qcow2, "QCOW2", GiB),
        (lambda: diskimages.raw(3 * 1024 * 1024), "RAW", 3 * 1024 * 1024),
        (diskimages.vmdk_stream_optimized, "VMDK", GiB),
        (diskimages.vhd, "VHD", GiB),
    ],
    ids=["qcow2", "raw", "vmdk-stream-optimized", "vhd"],
)
def test_valid_images_become_available(
    server: Server, builder: Callable[[], bytes], fmt: str, virtual: int
) -> None:
    tenant = server.account()
    data = builder()
    image = import_file(server, tenant, data, fmt)
    digest = hashlib.sha256(data).hexdigest()
    assert image["object"]["sha256"] == digest and image["object"]["sizeBytes"] == str(len(data))
    assert image["status"] == "AVAILABLE" and image["failure"] is None
    assert image["format"] == fmt and image["sha256"] == digest
    assert image["virtualSizeBytes"] == str(virtual)
    assert image["sizeGb"] == image["minDiskGb"] == max(1, -(-virtual // GiB))


@pytest.mark.parametrize(
    ("builder", "fmt", "code", "checks"),
    [
        (
            diskimages.qcow2_with_backing_file,
            "QCOW2",
            "IMPORT_UNSAFE_IMAGE",
            ["backing_file: Image has a backing file"],
        ),
        (
            diskimages.qcow2_with_data_file,
            "QCOW2",
            "IMPORT_UNSAFE_IMAGE",
            ["data_file: Image has data_file set"],
        ),
        (
            diskimages.qcow2_with_unknown_feature,
            "QCOW2",
            "IMPORT_UNSAFE_IMAGE",
            ["unknown_features: Unknown QCOW2 features found"],
        ),
        (
            diskimages.vmdk_flat_descriptor,
            "VMDK",
            "IMPORT_UNSAFE_IMAGE",
            ["descriptor: Unsupported subformat"],
        ),
        (
            diskimages.qcow2,
            "RAW",
            "IMPORT_FORMAT_MISMATCH",
            ["format: declared raw, content is qcow2"],
        ),
        (diskimages.iso, "RAW", "IMPORT_FORMAT_UNSUPPORTED", ["format: detected iso"]),
        (lambda: b"", "RAW", "IMPORT_UNSAFE_IMAGE", ["size: the file is empty"]),
        (
            lambda: b"\x00",
            "RAW",
            "IMPORT_UNSAFE_IMAGE",
            ["size: 1 bytes is not a whole number of 512-byte sectors"],
        ),
        (
            diskimages.qcow2_marked_corrupt,
            "QCOW2",
            "IMPORT_UNSAFE_IMAGE",
            ["corrupt: qemu marked the image corrupt (incompatible feature bit 1)"],
        ),
        (
            lambda: diskimages.qcow2(600 * GiB),
            "QCOW2",
            "IMPORT_TOO_LARGE",
            [f"virtual size: {600 * GiB} bytes is over {500 * GiB}"],
        ),
    ],
    ids=[
        "backing-file",
        "data-file",
        "unknown-feature",
        "vmdk-host-path",
        "qcow2-as-raw",
        "iso",
        "empty-raw",
        "one-byte-raw",
        "qcow2-marked-corrupt",
        "600-gb",
    ],
)
def test_refused_images_fail_naming_every_check(
    server: Server, builder: Callable[[], bytes], fmt: str, code: str, checks: list[str]
) -> None:
    tenant = server.account()
    image = import_file(server, tenant, builder(), fmt)
    assert image["status"] == "CREATE_FAILED"
    assert image["failure"]["code"] == code
    assert image["failure"]["checks"] == checks
    assert image["format"] is None and image["virtualSizeBytes"] is None


def test_nothing_outside_the_object_store_is_read_or_touched(
    server: Server, tmp_path: Path
) -> None:
    tenant = server.account()
    fifo = tmp_path / "host-secret.fifo"  # opening it for reading would block: nobody may
    os.mkfifo(fifo)
    canary = tmp_path / "host-secret.txt"
    canary.write_text("top secret")
    before = canary.stat()
    data_dir = Path(server.env["BCC_IMAGES_DATA_DIR"])
    files: list[tuple[bytes, str]] = [
        (diskimages.qcow2_with_backing_file(str(fifo)), "QCOW2"),
        (diskimages.qcow2_with_data_file(str(canary)), "QCOW2"),
        (diskimages.vmdk_flat_descriptor(str(fifo)), "VMDK"),
        (diskimages.vmdk_with_slash_extent(str(canary)), "VMDK"),
        (diskimages.qcow2_with_backing_file(str(fifo)), "RAW"),
    ]
    for data, fmt in files:
        image = import_file(server, tenant, data, fmt)
        assert image["status"] == "CREATE_FAILED"
        assert image["failure"]["code"] == "IMPORT_UNSAFE_IMAGE"
    with pytest.raises(OSError, match="No such device or address") as no_reader:
        os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    assert no_reader.value.errno == errno.ENXIO  # no process has the FIFO open for reading
    after = canary.stat()
    assert canary.read_text() == "top secret"
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == (
        before.st_mtime_ns,
        before.st_size,
        before.st_ino,
    )
    outside = [
        p
        for p in data_dir.rglob("*")
        if p.is_file() and p.parent.parent != data_dir / "objects" and p.name != "server.log"
    ]
    assert outside == []
    temporary = data_dir / "tmp"
    assert not temporary.exists() or list(temporary.iterdir()) == []
    if server.env["BCC_IMAGES_OBJECT_STORE_URL"]:  # the bytes went to the bucket, not here
        assert not (data_dir / "objects").exists() or not any(
            p.is_file() for p in (data_dir / "objects").rglob("*")
        )


def test_import_checks_that_answer_at_once(server: Server) -> None:
    owner, other = server.account(), server.account()
    stored = upload(server, owner, diskimages.qcow2())
    key = stored["object"]["key"]

    def errors(tenant: Tenant, **overrides: Any) -> list[tuple[str, list[str] | None]]:
        body = server.gql(IMPORT, {"i": import_input(key, "QCOW2", **overrides)}, tenant)
        return [(e["code"], e["field"]) for e in body["data"]["importImage"]["userErrors"]]

    assert errors(other) == [("OBJECT_NOT_FOUND", ["input", "objectKey"])]
    assert errors(owner, region="gz") == [("OBJECT_REGION_MISMATCH", ["input", "objectKey"])]
    assert errors(owner, name="bad name") == [("INVALID_NAME", ["input", "name"])]
    assert errors(
        owner, os={"type": "LINUX", "name": "Gentoo", "version": "2.14", "arch": "x86_64"}
    ) == [("IMPORT_OS_UNSUPPORTED", ["input", "os"])]
    windows = {"type": "WINDOWS", "name": "Windows Server", "version": "2019", "arch": "x86_64"}
    assert errors(owner, os=windows) == [("INVALID_INPUT", ["input", "licenseType"])]
    assert errors(owner, licenseType="BYOL") == [("INVALID_INPUT", ["input", "licenseType"])]
    listed = server.gql("{ images(filter: {types: [CUSTOM]}) { totalCount } }", tenant=owner)
    assert listed["data"]["images"]["totalCount"] == 0  # none of the refusals created anything


def test_windows_licence_types(server: Server) -> None:
    tenant = server.account(balance="1000")
    windows = {"type": "WINDOWS", "name": "Windows Server", "version": "2022", "arch": "x86_64"}
    charged = import_file(
        server, tenant, diskimages.vhd(40 * GiB), "VHD", os=windows, licenseType="PLATFORM"
    )
    byol = import_file(
        server,
        tenant,
        diskimages.vhd(40 * GiB),
        "VHD",
        os=windows,
        licenseType="BYOL",
        generation="EBC",
    )
    assert charged["chargeRoot"] == {"osLicense": "WINDOWS"} and charged["generation"] == "BCC"
    assert byol["chargeRoot"] == {"osLicense": "NONE"} and byol["generation"] == "EBC"


OPERATION = """query($id: ID!) { operation(id: $id) { status createdAt finishedAt } }"""
#: a file whose inspection (reading and hashing every byte) takes a noticeable while
BIG = 384 * 1024**2
#: imports of it started together: a worker that inspected on its own thread would be held for
#: all of them in a row
IMPORTS = 4
#: the clock runs in real time (not moved) and the worker ticks every 0.1 s
QUICK_INSPECTED = {
    "operation_seconds_per_gb": 0,
    "simulated_clock": 1,
    "worker_tick_seconds": 0.1,
}
PUBLIC_LINUX = (
    '{ images(first: 1, filter: {region: "bj", osType: LINUX, generation: BCC, types: [PUBLIC], '
    'flavor: "bcc.g5.c2m8"}) { nodes { id } } }'
)
LAUNCH = """mutation($i: CreateInstancesInput!) { createInstances(input: $i) {
  operation { id } userErrors { code message } } }"""


def upload_file(server: Server, tenant: Tenant, path: Path) -> str:
    """Upload a file from disk (streamed, as a client sends a large one); its object key."""
    with path.open("rb") as handle:
        response = httpx.post(
            f"{server.url}/graphql",
            headers=tenant.headers,
            data={
                "operations": json.dumps({"query": UPLOAD, "variables": {"f": None, "r": "bj"}}),
                "map": json.dumps({"0": ["variables.f"]}),
            },
            files={"0": (path.name, handle, "application/octet-stream")},
            timeout=120,
        )
    assert response.status_code == 200, response.text
    assert "data" in response.json(), response.text
    stored = response.json()["data"]["uploadObject"]
    assert stored["userErrors"] == [], stored["userErrors"]
    key: str = stored["object"]["key"]
    return key


def finished(server: Server, operation_id: str, tenant: Tenant) -> dict[str, Any] | None:
    """The operation once it has succeeded (None while it runs)."""
    found: dict[str, Any] = server.gql(OPERATION, {"id": operation_id}, tenant)["data"]["operation"]
    assert found["status"] not in ("FAILED", "CANCELLED"), found
    return found if found["status"] == "SUCCEEDED" else None


def wait_finished(server: Server, operation_id: str, tenant: Tenant) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while (found := finished(server, operation_id, tenant)) is None:
        assert time.monotonic() < deadline, f"operation {operation_id} did not finish"
        time.sleep(0.05)
    return found


def seconds(operation: dict[str, Any]) -> float:
    """How long an operation took on the service clock."""
    created = datetime.fromisoformat(operation["createdAt"])
    return (datetime.fromisoformat(operation["finishedAt"]) - created).total_seconds()


def test_a_long_inspection_does_not_hold_up_another_accounts_launch(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The probe of R153: a 1 GiB import was inspected on the worker's only thread, and
    another customer's 2 s launch took 4.7 s. Now inspections run beside the worker: a
    0.3 s launch made while four imports of a 384 MiB file are inspected takes about its own
    0.3 s and ends before the last of them (a worker inspecting on its own thread would have
    finished the launch only after all four, one after another).
    """
    settings = {**QUICK_INSPECTED, "operation_seconds": 0.3}
    with own_server(tmp_path_factory, "inspect-aside", settings) as server:
        importer = server.account()
        disk = tmp_path / "big.raw"
        with disk.open("wb") as handle:
            handle.truncate(BIG)  # sparse here; the server stores and reads it all
        with ThreadPoolExecutor(max_workers=1) as pool:
            uploading = pool.submit(upload_file, server, importer, disk)
            launcher = server.account(balance="1000")
            key = uploading.result()
        image_id = server.gql(PUBLIC_LINUX)["data"]["images"]["nodes"][0]["id"]
        imports = []
        for index in range(IMPORTS):
            value = {**import_input(key, "RAW"), "name": f"big-{index}"}
            started = server.gql(IMPORT, {"i": value}, importer)["data"]["importImage"]
            assert started["userErrors"] == []
            imports.append(started)
        launched = server.gql(LAUNCH, {"i": launch(image_id)}, launcher)["data"]["createInstances"]
        assert launched["userErrors"] == []
        launch_done = wait_finished(server, launched["operation"]["id"], launcher)
        imports_done = [wait_finished(server, i["operation"]["id"], importer) for i in imports]
        # the launch took about its own time, and did not wait for the inspections to end
        assert seconds(launch_done) < 0.3 + 1.0, f"a 0.3 s launch took {seconds(launch_done)} s"
        last_import = max(datetime.fromisoformat(i["finishedAt"]) for i in imports_done)
        assert datetime.fromisoformat(launch_done["finishedAt"]) < last_import
        image = server.gql(IMAGE, {"id": imports[0]["image"]["id"]}, importer)["data"]["image"]
        assert image["status"] == "AVAILABLE" and image["virtualSizeBytes"] == str(BIG)
