"""Where object bytes live. The service only uses the small ObjectStore interface, so an
S3-compatible store can replace the local one (see README)."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Protocol

from app.ids import new_id


class TooLarge(Exception):
    """The upload passed the size limit; nothing was kept."""


class ObjectWriter(Protocol):
    """Receives an upload chunk by chunk."""

    def write(self, chunk: bytes) -> None:
        """Append a chunk (raises TooLarge past the limit, after discarding everything)."""

    def commit(self) -> tuple[str, int, str]:
        """Keep the object: returns (key, size in bytes, sha256 hex)."""

    def abort(self) -> None:
        """Discard what was written."""


class ObjectStore(Protocol):
    """A regional object store: write once, read by key."""

    def writer(self, region: str, limit: int) -> ObjectWriter:
        """Start a new object in a region, refusing more than ``limit`` bytes."""

    def open(self, region: str, key: str) -> BinaryIO:
        """Read an object's bytes."""

    def delete(self, region: str, key: str) -> None:
        """Remove an object's bytes (no error if absent)."""


class LocalWriter:
    """Streams an upload to a temporary file while hashing; renamed into place on commit."""

    def __init__(self, temp: Path, final_dir: Path, limit: int) -> None:
        self._temp = temp
        self._final_dir = final_dir
        self._limit = limit
        self._size = 0
        self._hash = hashlib.sha256()
        self._file: BinaryIO | None = temp.open("xb")

    def write(self, chunk: bytes) -> None:
        """Append a chunk; past the limit the partial file is removed and TooLarge raised."""
        if self._file is None:
            raise RuntimeError("writer is closed")
        self._size += len(chunk)
        if self._size > self._limit:
            self.abort()
            raise TooLarge(self._limit)
        self._hash.update(chunk)
        self._file.write(chunk)

    def commit(self) -> tuple[str, int, str]:
        """Flush to disk and move the file under its key."""
        if self._file is None:
            raise RuntimeError("writer is closed")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        key = new_id("obj")
        self._final_dir.mkdir(parents=True, exist_ok=True)
        self._temp.rename(self._final_dir / key)
        return key, self._size, self._hash.hexdigest()

    def abort(self) -> None:
        """Close and delete the partial file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._temp.unlink(missing_ok=True)


class LocalObjectStore:
    """Objects as files under ``<data dir>/objects/<region>/<key>``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "objects"
        self.temp = data_dir / "tmp"

    def writer(self, region: str, limit: int) -> LocalWriter:
        """Start an upload into a region."""
        self.temp.mkdir(parents=True, exist_ok=True)
        temp = self.temp / f"upload-{secrets.token_hex(16)}"
        return LocalWriter(temp, self._region_dir(region), limit)

    def open(self, region: str, key: str) -> BinaryIO:
        """Open an object for reading."""
        return (self._region_dir(region) / _safe(key)).open("rb")

    def delete(self, region: str, key: str) -> None:
        """Remove an object."""
        (self._region_dir(region) / _safe(key)).unlink(missing_ok=True)

    def _region_dir(self, region: str) -> Path:
        return self.root / _safe(region)


def _safe(name: str) -> str:
    """Refuse anything but a plain file name (defence in depth: keys are ours)."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise ValueError(f"not a valid object name: {name!r}")
    return name
