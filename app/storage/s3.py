"""Objects in an S3 bucket (or any store speaking the S3 API), behind the ObjectStore interface.

An object lives at ``<prefix>/<region>/<key>`` in the bucket. Uploads stream as multipart
uploads (a single PutObject when the object is smaller than one part) and are hashed on the
way; reads are ranged GETs, so the import inspector can seek through a large object without
downloading it.
"""

from __future__ import annotations

import base64
import io
import math
import secrets
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, BinaryIO, ClassVar
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as EndpointError

from app.ids import new_id
from app.storage.s3_reader import S3Reader, status_of
from app.storage.store import StoredFile, Tally

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MiB = 1024 * 1024
#: S3 refuses parts (but the last) under 5 MiB
MIN_PART_SIZE = 5 * MiB
#: the part size uploads start with; grown when the limit would need more than MAX_PARTS parts
PART_SIZE = 8 * MiB
MAX_PARTS = 10_000
#: bytes one ranged GET asks for when a reader reads less (the reader's buffer), and the most
#: one GET asks for when it reads more
READAHEAD = 8 * MiB
#: S3's largest ListObjectsV2 / ListMultipartUploads page
PAGE_SIZE = 1000
#: how long start-up waits for the store's answer: one attempt (boto's defaults, 60 s reads
#: and 5 attempts, would hold start-up for minutes)
STARTUP_SECONDS = 3


class S3Writer:
    """Streams an upload to S3 while hashing: parts are buffered and sent as they fill; the
    multipart upload starts with the first full part, so a small object is one PutObject.
    """

    def __init__(
        self, client: S3Client, bucket: str, prefix: str, region: str, limit: int, part_size: int
    ) -> None:
        self.key = new_id("obj")
        self._client = client
        self._bucket = bucket
        self._name = _object_name(prefix, region, self.key)
        self.part_size = part_size
        self._tally = Tally(limit)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._closed = False

    def write(self, chunk: bytes) -> None:
        """Append a chunk, sending a part whenever one is full.

        Raises:
            TooLarge: past the limit, after the multipart upload (if any) was aborted.
            RuntimeError: the writer was committed or aborted.
            botocore.exceptions.ClientError: S3 refused a part (the writer is then aborted).
        """
        if self._closed:
            raise RuntimeError("writer is closed")
        self._tally.add(chunk, self.abort)
        self._buffer.append(bytes(chunk))
        self._buffered += len(chunk)
        if self._buffered >= self.part_size:
            try:
                self._send_part()
            except BaseException:
                self.abort()  # the part's bytes are gone: the object could never be whole
                raise

    def commit(self) -> tuple[str, int, str]:
        """Store the object (complete the multipart upload, or put the small object whole).

        Returns:
            The object's key, size in bytes and sha256 (hex).

        Raises:
            RuntimeError: the writer was already committed or aborted.
        """
        if self._closed:
            raise RuntimeError("writer is closed")
        self._closed = True
        try:
            if self._upload_id is None:
                self._client.put_object(
                    Bucket=self._bucket,
                    Key=self._name,
                    Body=self._take(),
                    ChecksumSHA256=base64.b64encode(self._tally.hash.digest()).decode("ascii"),
                )
            else:
                if self._buffered:
                    self._send_part()
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._name,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
                self._upload_id = None
        except BaseException:
            self._abort_upload()
            raise
        return self.key, self._tally.size, self._tally.hash.hexdigest()

    def abort(self) -> None:
        """Drop the buffer and abort the multipart upload, so that S3 keeps no part."""
        self._closed = True
        self._buffer = []
        self._buffered = 0
        self._abort_upload()

    def _take(self) -> bytes:
        data = b"".join(self._buffer)
        self._buffer = []
        self._buffered = 0
        return data

    def _send_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._name, ChecksumAlgorithm="CRC32"
            )["UploadId"]
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._name,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=self._take(),
            ChecksumAlgorithm="CRC32",
        )
        part: CompletedPartTypeDef = {"ETag": response["ETag"], "PartNumber": number}
        if "ChecksumCRC32" in response:
            part["ChecksumCRC32"] = response["ChecksumCRC32"]
        self._parts.append(part)

    def _abort_upload(self) -> None:
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            _abort(self._client, self._bucket, self._name, upload_id)


@dataclass
class S3ObjectStore:
    """Objects at ``<prefix>/<region>/<key>`` in an S3 bucket."""

    #: other machines may be uploading into the same bucket: only day-old partial uploads
    #: are abandoned (a bucket lifecycle rule is the usual second net)
    temporary_grace_seconds: ClassVar[float] = 24 * 3600.0

    client: S3Client
    bucket: str
    prefix: str = ""
    _: KW_ONLY
    part_size: int = PART_SIZE
    readahead: int = READAHEAD
    page_size: int = PAGE_SIZE
    #: what ``now`` reads instead of the bucket's clock (tests); None: the bucket's clock
    clock: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise ValueError(f"parts are at least {MIN_PART_SIZE} bytes")
        if self.prefix and any(part in ("", ".", "..") for part in self.prefix.split("/")):
            raise ValueError(f"not a valid key prefix: {self.prefix!r}")

    @classmethod
    def from_url(
        cls, url: str, endpoint_url: str | None = None, config: Config | None = None
    ) -> S3ObjectStore:
        """A store for ``s3://bucket[/prefix]``, with boto3's credentials and region (the AWS
        environment variables, shared config files, instance roles...).

        Args:
            url: ``s3://`` and the bucket, optionally followed by a key prefix.
            endpoint_url: another S3-compatible service than AWS's.
            config: boto's timeouts and retries (by default 10 s to connect, 60 s to read, 5
                attempts).

        Raises:
            ValueError: the URL is not ``s3://bucket[/prefix]``.
        """
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"not an s3://bucket[/prefix] URL: {url!r}")
        config = config or Config(
            connect_timeout=10, read_timeout=60, retries={"mode": "standard", "max_attempts": 5}
        )
        client = boto3.client("s3", endpoint_url=endpoint_url, config=config)
        return cls(client, parts.netloc, parts.path.strip("/"))

    def writer(self, region: str, limit: int) -> S3Writer:
        """Start an upload into a region; its part size keeps ``limit`` within S3's parts."""
        part_size = max(self.part_size, math.ceil(limit / MAX_PARTS / MiB) * MiB)
        return S3Writer(self.client, self.bucket, self.prefix, region, limit, part_size)

    def open(self, region: str, key: str) -> BinaryIO:
        """A buffered, seekable reader of an object (ranged GETs, ``readahead`` at a time).

        Raises:
            FileNotFoundError: there is no such object.
        """
        name = _object_name(self.prefix, region, key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if status_of(exc) == 404:
                raise FileNotFoundError(f"no object s3://{self.bucket}/{name}") from exc
            raise
        size, etag = head["ContentLength"], head["ETag"]
        raw = S3Reader(self.client, self.bucket, name, size, etag, self.readahead)
        return io.BufferedReader(raw, buffer_size=self.readahead)

    def delete(self, region: str, key: str) -> None:
        """Remove an object (S3 answers the same whether it existed or not)."""
        self.client.delete_object(Bucket=self.bucket, Key=_object_name(self.prefix, region, key))

    def files(self) -> Iterator[StoredFile]:
        """Every object under the prefix shaped ``<region>/<key>``, by region (S3 lists in key
        order); modified is S3's LastModified.
        """
        root = self._root()
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=root, PaginationConfig={"PageSize": self.page_size}
        )
        for page in pages:
            for item in page.get("Contents", []):
                names = item["Key"][len(root) :].split("/")
                if len(names) == 2 and all(names):
                    yield StoredFile(names[0], names[1], item["LastModified"].timestamp())

    def now(self) -> float:
        """The bucket's time: the ``Date`` the S3 endpoint answers with (to the second). Its
        uploads and parts are stamped by that clock, so their ages are measured by it even
        when this host's clock differs from the endpoint's.
        """
        if self.clock is not None:
            return self.clock()
        answer = self.client.head_bucket(Bucket=self.bucket)
        return parsedate_to_datetime(answer["ResponseMetadata"]["HTTPHeaders"]["date"]).timestamp()

    def clean_temporary(self, older_than_seconds: float) -> int:
        """Abort multipart uploads under the prefix that were started and last sent a part
        more than ``older_than_seconds`` ago (left by a process that stopped mid-upload).

        Returns:
            How many uploads were aborted.
        """
        cutoff = self.now() - older_than_seconds
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self._root(), PaginationConfig={"PageSize": self.page_size}
        )
        removed = 0
        for page in pages:
            for upload in page.get("Uploads", []):
                key, upload_id = upload["Key"], upload["UploadId"]
                if upload["Initiated"].timestamp() >= cutoff:
                    continue
                if self._last_part_sent(key, upload_id) >= cutoff:
                    continue
                if _abort(self.client, self.bucket, key, upload_id):
                    removed += 1
        return removed

    def check(self) -> None:
        """Write, read back and remove a probe object under the prefix (not shaped
        ``<region>/<key>``, so files() never lists it).

        Raises:
            OSError: the probe did not read back what was written.
            botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError: S3 refused or
                could not be reached.
        """
        name = f"{self._root()}ready-{secrets.token_hex(8)}"
        self.client.put_object(Bucket=self.bucket, Key=name, Body=b"ok")
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
            try:
                data = body.read()
            finally:
                body.close()
            if data != b"ok":
                raise OSError(f"s3://{self.bucket}/{name} did not read back what was written")
        finally:
            self.client.delete_object(Bucket=self.bucket, Key=name)

    def _last_part_sent(self, key: str, upload_id: str) -> float:
        """When the upload last received a part (0 if none)."""
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=key, UploadId=upload_id
        )
        return max(
            (part["LastModified"].timestamp() for page in pages for part in page.get("Parts", [])),
            default=0.0,
        )

    def _root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""


def bucket_problem(url: str, endpoint_url: str | None) -> tuple[str, str] | None:
    """Why the bucket of ``url`` cannot be used, as (the setting to blame, the reason), or
    None: HeadBucket asked once, waiting at most STARTUP_SECONDS to connect and to read.
    """
    quick = Config(
        connect_timeout=STARTUP_SECONDS,
        read_timeout=STARTUP_SECONDS,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    endpoint = endpoint_url or "AWS"
    try:
        store = S3ObjectStore.from_url(url, endpoint_url, config=quick)
        store.client.head_bucket(Bucket=store.bucket)
    except (EndpointError, HTTPClientError) as exc:
        return "s3_endpoint_url", f"no answer from {endpoint}: {_first_line(exc)}"
    except NoCredentialsError:
        return "object_store_url", (
            "no S3 credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile "
            "or an instance role)"
        )
    except ClientError as exc:
        status, bucket = status_of(exc), urlsplit(url).netloc
        if status == 404:
            return "object_store_url", f"there is no bucket {bucket!r} at {endpoint}"
        if status == 403:
            return "object_store_url", f"these credentials may not use the bucket {bucket!r}"
        return "object_store_url", f"{endpoint} refused HeadBucket: {_first_line(exc)}"
    except (BotoCoreError, ValueError) as exc:
        return "object_store_url", _first_line(exc)
    return None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _object_name(prefix: str, region: str, key: str) -> str:
    """The S3 key of an object, refusing region or key names that are not plain names."""
    names = [_plain(region), _plain(key)]
    return "/".join([prefix, *names] if prefix else names)


def _plain(name: str) -> str:
    """Refuse anything but a plain name (defence in depth: keys are ours)."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise ValueError(f"not a valid object name: {name!r}")
    return name


def _abort(client: S3Client, bucket: str, key: str, upload_id: str) -> bool:
    """Abort a multipart upload; False if S3 no longer knows it."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if _code(exc) == "NoSuchUpload" or status_of(exc) == 404:
            return False
        raise
    return True


def _code(exc: ClientError) -> str | None:
    return exc.response.get("Error", {}).get("Code")
