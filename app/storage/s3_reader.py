"""Reading an S3 object as a seekable file: ranged GETs of the object as it was when opened."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from mypy_boto3_s3.client import S3Client


class S3Reader(io.RawIOBase):
    """A read-only, seekable view of one object: every read is a ranged GET (of at most
    ``most`` bytes) of that object as it was when opened (If-Match on its ETag). Wrap it in a
    BufferedReader for readahead.
    """

    def __init__(
        self, client: S3Client, bucket: str, name: str, size: int, etag: str, most: int
    ) -> None:
        super().__init__()
        self.name = f"s3://{bucket}/{name}"
        self._client = client
        self._bucket = bucket
        self._key = name
        self._size = size
        self._etag = etag
        self._most = most
        self._position = 0

    def readable(self) -> bool:
        """Always: the object can be read."""
        return True

    def seekable(self) -> bool:
        """Always: any offset can be read with a ranged GET."""
        return True

    def tell(self) -> int:
        """The offset the next read starts at."""
        self._check_open()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to an offset (past the end is allowed: reads there return nothing).

        Raises:
            ValueError: a negative position, an unknown whence, or a closed reader.
        """
        self._check_open()
        if whence == io.SEEK_SET:
            base = 0
        elif whence == io.SEEK_CUR:
            base = self._position
        elif whence == io.SEEK_END:
            base = self._size
        else:
            raise ValueError(f"invalid whence: {whence}")
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Fill ``buffer`` from the current offset with one ranged GET of at most ``most``
        bytes; 0 at the end.
        """
        self._check_open()
        view = memoryview(buffer).cast("B")
        end = min(self._position + len(view), self._position + self._most, self._size)
        if end <= self._position:
            return 0
        data = self._get(self._position, end)
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    def readall(self) -> bytes:
        """The rest of the object, in ranged GETs of at most ``most`` bytes."""
        self._check_open()
        parts = []
        while self._position < self._size:
            data = self._get(self._position, min(self._position + self._most, self._size))
            self._position += len(data)
            parts.append(data)
        return b"".join(parts)

    def _get(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the object.

        Raises:
            FileNotFoundError: the object was deleted meanwhile.
            OSError: the object changed since it was opened, or S3 sent fewer bytes.
        """
        try:
            response = self._client.get_object(
                Bucket=self._bucket,
                Key=self._key,
                Range=f"bytes={start}-{end - 1}",
                IfMatch=self._etag,
            )
        except ClientError as exc:
            if status_of(exc) == 404:
                raise FileNotFoundError(f"{self.name} is no longer in the store") from exc
            if status_of(exc) == 412:
                raise OSError(f"{self.name} changed while it was read") from exc
            raise
        body = response["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        if not data:
            raise OSError(f"{self.name}: no bytes at offset {start} of {self._size}")
        return data

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")


def status_of(exc: ClientError) -> int | None:
    """The HTTP status S3 answered a refused request with."""
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
