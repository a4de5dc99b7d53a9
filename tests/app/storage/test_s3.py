"""The S3 object store against a real S3 API: moto's server, in a subprocess on a free port."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import time_machine
from botocore.exceptions import ClientError

from app.errors import ErrorCode
from app.ids import is_id
from app.images.inspection import ImportRefused, inspect
from app.operations.models import Operation
from app.storage.store import ObjectStore, StoredFile, TooLarge
from app.workflows.importing import ImportHandler
from schema.images.imports import CHUNK
from tests import diskimages
from tests.acceptance.conftest import stop_server

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

pytestmark = pytest.mark.once

MiB = 1024 * 1024
BUCKET = "bcc-images-test"
NEEDED = ("boto3", "moto", "flask", "flask_cors")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
if MISSING:
    REASON = f"the S3 store tests need {', '.join(MISSING)} (pip install -e '.[dev]')"
    if os.environ.get("CI"):
        pytest.fail(REASON, pytrace=False)
    pytest.skip(REASON, allow_module_level=True)

from app.storage.s3 import S3ObjectStore  # noqa: E402 - needs boto3, checked above


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a free localhost port, and fake credentials for boto3."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    port = _free_port()
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", str(log.parent / "no-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(log.parent / "no-credentials"))
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for(process, port, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_server(process)


@pytest.fixture(scope="module")
def client(endpoint: str) -> S3Client:
    """A plain client of the test bucket (created here)."""
    client = S3ObjectStore.from_url(f"s3://{BUCKET}", endpoint).client
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def store(endpoint: str, client: S3Client) -> S3ObjectStore:
    """A store under a prefix of its own, so that tests do not see each other's objects."""
    return S3ObjectStore.from_url(f"s3://{BUCKET}/t-{secrets.token_hex(4)}/objects", endpoint)


def _data(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def _write(store: S3ObjectStore, data: bytes, region: str = "bj") -> tuple[str, int, str]:
    writer = store.writer(region, 4 * 1024 * MiB)
    for start in range(0, len(data), CHUNK):
        writer.write(data[start : start + CHUNK])
    return writer.commit()


def _keys(store: S3ObjectStore) -> list[str]:
    pages = store.client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=f"{store.prefix}/"
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _uploads(store: S3ObjectStore, prefix: str | None = None) -> list[str]:
    found = store.client.list_multipart_uploads(
        Bucket=store.bucket, Prefix=f"{store.prefix}/" if prefix is None else prefix
    )
    return [upload["Key"] for upload in found.get("Uploads", [])]


def _record(store: S3ObjectStore, operation: str) -> list[dict[str, Any]]:
    """The parameters of every call of an operation the store's client makes from now on."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    store.client.meta.events.register(f"before-parameter-build.s3.{operation}", record)
    return calls


def _span(header: str | None) -> int:
    """How many bytes a Range header asks for (it must be one)."""
    assert header is not None
    first, last = header.removeprefix("bytes=").split("-")
    return int(last) - int(first) + 1


def test_a_small_object_round_trips_with_seeks(store: S3ObjectStore) -> None:
    data = _data(3 * MiB + 5)
    key, size, sha256 = _write(store, data)
    assert is_id(key, "obj")
    assert (size, sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert _keys(store) == [f"{store.prefix}/bj/{key}"]
    assert _uploads(store) == []
    with store.open("bj", key) as stream:
        assert stream.seekable()
        assert stream.read(10) == data[:10]
        assert stream.seek(2 * MiB + 3) == 2 * MiB + 3
        assert stream.read(100) == data[2 * MiB + 3 : 2 * MiB + 103]
        assert stream.tell() == 2 * MiB + 103
        assert stream.seek(-7, io.SEEK_END) == len(data) - 7
        assert stream.read() == data[-7:]
        assert stream.read(10) == b""
        stream.seek(0)
        assert stream.read() == data


def test_the_reader_seeks_like_a_file_and_closes(store: S3ObjectStore) -> None:
    key = _write(store, b"0123456789")[0]
    stream = store.open("bj", key)
    assert isinstance(stream, io.BufferedReader)
    raw = stream.raw
    assert (raw.seek(3), raw.seek(2, io.SEEK_CUR), raw.read(2)) == (3, 5, b"56")
    assert raw.seek(20) == 20
    assert raw.read(5) == b""
    with pytest.raises(ValueError, match="negative"):
        raw.seek(-1)
    with pytest.raises(ValueError, match="whence"):
        raw.seek(0, 7)
    stream.close()
    with pytest.raises(ValueError, match="closed"):
        raw.tell()


def test_a_reader_notices_its_object_deleted_or_replaced(store: S3ObjectStore) -> None:
    key = _write(store, b"first")[0]
    name = f"{store.prefix}/bj/{key}"
    with store.open("bj", key) as stream:
        store.client.put_object(Bucket=store.bucket, Key=name, Body=b"second")
        with pytest.raises(OSError, match="changed"):
            stream.read()
    with store.open("bj", key) as stream:
        store.delete("bj", key)
        with pytest.raises(FileNotFoundError):
            stream.read()


def test_an_empty_object_is_stored(store: S3ObjectStore) -> None:
    key, size, sha256 = store.writer("bj", 10).commit()
    assert (size, sha256) == (0, hashlib.sha256(b"").hexdigest())
    with store.open("bj", key) as stream:
        assert stream.read() == b""


def test_a_large_object_is_a_multipart_upload_read_by_ranges(store: S3ObjectStore) -> None:
    data = _data(2 * store.part_size + MiB + 123)
    key, size, sha256 = _write(store, data)
    assert (size, sha256) == (len(data), hashlib.sha256(data).hexdigest())
    head = store.client.head_object(Bucket=store.bucket, Key=f"{store.prefix}/bj/{key}")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert _uploads(store) == []
    gets = _record(store, "GetObject")
    with store.open("bj", key) as stream:
        stream.seek(store.part_size - 10)
        assert stream.read(20) == data[store.part_size - 10 : store.part_size + 10]
        stream.seek(0)
        assert hashlib.sha256(stream.read()).hexdigest() == sha256
    assert gets
    assert max(_span(get.get("Range")) for get in gets) <= store.readahead


def test_too_large_keeps_nothing(store: S3ObjectStore) -> None:
    writer = store.writer("bj", store.part_size + MiB)
    for _ in range(store.part_size // CHUNK):
        writer.write(b"x" * CHUNK)
    assert len(_uploads(store)) == 1  # a part was sent
    writer.write(b"x" * CHUNK)
    with pytest.raises(TooLarge):
        writer.write(b"x")
    assert _uploads(store) == []
    assert _keys(store) == []
    with pytest.raises(RuntimeError):
        writer.write(b"x")
    writer.abort()  # what the upload mutation's handlers may still call


def test_too_large_before_any_part_keeps_nothing(store: S3ObjectStore) -> None:
    writer = store.writer("bj", 10)
    writer.write(b"0123456789")
    with pytest.raises(TooLarge):
        writer.write(b"!")
    assert (_uploads(store), _keys(store)) == ([], [])


def test_abort_keeps_nothing(store: S3ObjectStore) -> None:
    writer = store.writer("bj", 1024 * MiB)
    for _ in range(store.part_size // CHUNK + 1):
        writer.write(b"y" * CHUNK)
    assert len(_uploads(store)) == 1
    writer.abort()
    writer.abort()
    assert (_uploads(store), _keys(store)) == ([], [])
    with pytest.raises(RuntimeError):
        writer.commit()


def test_a_commit_that_fails_keeps_nothing(store: S3ObjectStore) -> None:
    writer = store.writer("bj", 1024 * MiB)
    for _ in range(store.part_size // CHUNK + 1):
        writer.write(b"w" * CHUNK)

    def fail(**_: Any) -> None:
        raise ConnectionError("the network went away")

    store.client.meta.events.register("before-call.s3.CompleteMultipartUpload", fail)
    with pytest.raises(ConnectionError):
        writer.commit()
    assert (_uploads(store), _keys(store)) == ([], [])


def test_a_part_that_fails_aborts_the_writer(store: S3ObjectStore) -> None:
    writer = store.writer("bj", 1024 * MiB)
    for _ in range(2 * store.part_size // CHUNK - 1):
        writer.write(b"u" * CHUNK)

    def fail(**_: Any) -> None:
        raise ConnectionError("the network went away")

    store.client.meta.events.register("before-call.s3.UploadPart", fail)
    with pytest.raises(ConnectionError):
        writer.write(b"u" * CHUNK)  # the second part is full: it is sent
    assert (_uploads(store), _keys(store)) == ([], [])
    with pytest.raises(RuntimeError):
        writer.commit()


def test_aborting_an_upload_cleaned_away_is_no_error(store: S3ObjectStore) -> None:
    writer = store.writer("bj", 1024 * MiB)
    for _ in range(store.part_size // CHUNK):
        writer.write(b"v" * CHUNK)
    server_now = _server_clock(store)
    later = S3ObjectStore(
        store.client, store.bucket, store.prefix, clock=lambda: server_now() + 3600
    )
    assert later.clean_temporary(600) == 1
    writer.abort()
    assert later.clean_temporary(600) == 0


def test_parts_are_at_least_s3s_minimum(client: S3Client) -> None:
    with pytest.raises(ValueError, match="parts are at least"):
        S3ObjectStore(client, BUCKET, part_size=MiB)
    store = S3ObjectStore(client, BUCKET)
    assert store.writer("bj", 4 * 1024 * MiB).part_size == 8 * MiB
    assert store.writer("bj", 1024 * 1024 * MiB).part_size == 105 * MiB  # 10,000 parts at most


def _server_clock(store: S3ObjectStore) -> Callable[[], float]:
    """The S3 server's clock, read through the timestamp it gives a probe object (to the
    second). The endpoint's clock need not agree with this process's: under libfaketime's
    fixed dates moto_server, started later, runs behind the tests, as a real endpoint may drift.
    """
    key = f"{store.prefix}/clock-probe"
    sent = time.time()
    store.client.put_object(Bucket=store.bucket, Key=key, Body=b"")
    stamped = store.client.head_object(Bucket=store.bucket, Key=key)["LastModified"]
    store.client.delete_object(Bucket=store.bucket, Key=key)
    skew = sent - stamped.timestamp()
    return lambda: time.time() - skew


def test_files_lists_every_object_by_region(store: S3ObjectStore) -> None:
    store.page_size = 2  # several ListObjectsV2 pages
    written = {
        (region, _write(store, region.encode() * n, region)[0])
        for region in ("bj", "gz")
        for n in (1, 2, 3)
    }
    store.client.put_object(Bucket=store.bucket, Key=f"{store.prefix}/stray", Body=b"")
    store.client.put_object(Bucket=store.bucket, Key=f"{store.prefix}-other/bj/obj-x", Body=b"")
    files = list(store.files())
    assert {(f.region, f.key) for f in files} == written
    assert [f.region for f in files] == ["bj"] * 3 + ["gz"] * 3
    now = _server_clock(store)()
    assert all(abs(f.modified - now) < 300 for f in files)
    assert all(isinstance(f, StoredFile) for f in files)


def test_delete_removes_and_ignores_absent_objects(store: S3ObjectStore) -> None:
    key = _write(store, b"bytes")[0]
    store.delete("bj", key)
    store.delete("bj", key)
    store.delete("gz", "obj-absent00000")
    assert _keys(store) == []
    with pytest.raises(FileNotFoundError):
        store.open("bj", key)


def test_names_that_are_not_plain_are_refused(store: S3ObjectStore) -> None:
    for region, key in [("bj", "../x"), ("", "obj-x"), ("bj", "a/b"), ("..", "obj-x")]:
        with pytest.raises(ValueError, match="not a valid object name"):
            store.open(region, key)


def test_clean_temporary_aborts_stale_multipart_uploads(store: S3ObjectStore) -> None:
    stopped = store.writer("bj", 1024 * MiB)  # a process that stopped after one part
    for _ in range(store.part_size // CHUNK):
        stopped.write(b"z" * CHUNK)
    assert store.clean_temporary(600) == 0  # its last part is young
    # moto reports every upload as initiated in 2010, so one without parts is always stale here
    store.client.create_multipart_upload(
        Bucket=store.bucket, Key=f"{store.prefix}/gz/obj-noparts0000"
    )
    outside = f"{store.prefix}-other/bj/obj-outside0000"
    other = store.client.create_multipart_upload(Bucket=store.bucket, Key=outside)["UploadId"]
    before = S3ObjectStore(store.client, store.bucket, store.prefix, clock=lambda: 1e9)
    assert before.clean_temporary(0) == 0  # in 2001, moto's 2010 uploads were not started yet
    server_now = _server_clock(store)
    later = S3ObjectStore(
        store.client, store.bucket, store.prefix, clock=lambda: server_now() + 3600
    )
    assert later.clean_temporary(600) == 2
    assert _uploads(store) == []
    assert _uploads(store, outside) == [outside]
    store.client.abort_multipart_upload(Bucket=store.bucket, Key=outside, UploadId=other)


def test_clean_temporary_keeps_an_upload_still_sending_parts(store: S3ObjectStore) -> None:
    store.clock = _server_clock(store)
    writer = store.writer("bj", 1024 * MiB)
    writer.write(b"a" * CHUNK)
    time.sleep(2.5)  # started long ago (at this scale): only its recent part keeps it
    for _ in range(store.part_size // CHUNK):
        writer.write(b"a" * CHUNK)
    assert len(_uploads(store)) == 1
    assert store.clean_temporary(1.5) == 0
    writer.write(b"a" * CHUNK)
    assert writer.commit()[1] == store.part_size + 2 * CHUNK


def test_the_import_inspector_reads_a_qcow2_through_ranged_gets(endpoint: str) -> None:
    store = S3ObjectStore.from_url(f"s3://{BUCKET}/inspect-{secrets.token_hex(4)}", endpoint)
    store.readahead = 64 * 1024
    image = diskimages.qcow2(500 * diskimages.GiB)
    key, size, sha256 = _write(store, image)
    gets = _record(store, "GetObject")
    with store.open("bj", key) as stream:
        verdict = inspect(stream, "QCOW2")
    assert (verdict.disk_format, verdict.virtual_size_bytes) == ("QCOW2", 500 * diskimages.GiB)
    assert (verdict.size_bytes, verdict.sha256) == (size, sha256)
    assert len(gets) > 1
    assert max(_span(get.get("Range")) for get in gets) <= store.readahead


def test_a_large_raw_image_is_inspected_without_one_whole_download(store: S3ObjectStore) -> None:
    image = diskimages.raw(2 * store.part_size + MiB)
    key, _, sha256 = _write(store, image)
    gets = _record(store, "GetObject")
    with store.open("bj", key) as stream:
        verdict = inspect(stream, "RAW")
    assert (verdict.disk_format, verdict.virtual_size_bytes, verdict.sha256) == (
        "RAW",
        len(image),
        sha256,
    )
    assert len(gets) >= 3
    assert max(_span(get.get("Range")) for get in gets) <= store.readahead


def test_the_readiness_check_writes_reads_and_removes_a_probe(store: S3ObjectStore) -> None:
    puts = _record(store, "PutObject")
    store.check()
    assert len(puts) == 1
    assert _keys(store) == []
    broken = S3ObjectStore(store.client, "no-such-bucket", store.prefix)
    with pytest.raises(ClientError, match="NoSuchBucket"):
        broken.check()


def test_the_import_job_reads_its_object_from_s3(store: S3ObjectStore) -> None:
    as_protocol: ObjectStore = store  # mypy checks the protocol here
    key = _write(store, diskimages.qcow2())[0]
    verdict = ImportHandler(as_protocol).prepare(_import_operation(key))
    assert (verdict.disk_format, verdict.virtual_size_bytes) == ("QCOW2", diskimages.GiB)
    store.delete("bj", key)
    with pytest.raises(ImportRefused) as refused:
        ImportHandler(as_protocol).prepare(_import_operation(key))
    assert refused.value.code is ErrorCode.OBJECT_NOT_FOUND


def _import_operation(key: str) -> Operation:
    now = datetime.now(UTC)
    payload = json.dumps({"object": key, "region": "bj", "format": "QCOW2"})
    return Operation(
        id="op-test000000",
        kind="IMPORT_IMAGE",
        status="RUNNING",
        owner_id="acc-test0000",
        target_ids="[]",
        payload=payload,
        created_at=now,
        due_at=now,
    )


def test_from_url_reads_bucket_and_prefix(endpoint: str) -> None:
    store = S3ObjectStore.from_url("s3://bucket/some/prefix/", endpoint)
    assert (store.bucket, store.prefix) == ("bucket", "some/prefix")
    assert S3ObjectStore.from_url("s3://bucket", endpoint).prefix == ""
    for url in ("https://bucket/x", "s3:///x", "s3://bucket/a//b", "s3://bucket/x?y=1"):
        with pytest.raises(ValueError, match=r"s3://bucket|prefix"):
            S3ObjectStore.from_url(url, endpoint)


def test_ages_are_measured_by_the_buckets_clock_not_this_hosts(store: S3ObjectStore) -> None:
    """This host's clock an hour ahead of the endpoint's (as under libfaketime, where
    moto_server started later runs behind the tests): a young partial upload is not stale."""
    stopped = store.writer("bj", 1024 * MiB)
    for _ in range(store.part_size // CHUNK):
        stopped.write(b"z" * CHUNK)
    bucket_now = store.now()
    with time_machine.travel(time.time() + 3600, tick=True):
        assert abs(store.now() - bucket_now) < 60
        assert store.clean_temporary(600) == 0
    assert len(_uploads(store)) == 1
    later = S3ObjectStore(store.client, store.bucket, store.prefix, clock=lambda: bucket_now + 3600)
    assert later.clean_temporary(600) == 1
