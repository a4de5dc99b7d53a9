"""Where object bytes live. The service only uses the small ObjectStore interface, so an
S3-compatible store can replace the local one (see README).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class UploadedFile:
    """An uploaded file the store now holds, to be recorded for its owner."""

    region: str
    key: str
    size_bytes: int
    sha256: str
    filename: str  # as the client named it


@dataclass(frozen=True)
class StoredFile:
    """An object's bytes as the store holds them."""

    region: str
    key: str
    modified: float  # seconds since the epoch


#: permissions of stored files: the service's user reads and writes, its group reads
FILE_MODE = 0o640
DIRECTORY_MODE = 0o750


class ObjectStore(Protocol):
    """A regional object store: write once, read by key."""

    def writer(self, region: str, limit: int) -> ObjectWriter:
        """Start a new object in a region, refusing more than ``limit`` bytes."""

    def open(self, region: str, key: str) -> BinaryIO:
        """Read an object's bytes."""

    def delete(self, region: str, key: str) -> None:
        """Remove an object's bytes (no error if absent)."""

    def files(self) -> Iterator[StoredFile]:
        """Every object the store holds."""

    def clean_temporary(self, older_than_seconds: float) -> int:
        """Remove partial uploads older than this; returns how many."""

    def now(self) -> float:
        """The time by the clock that stamps the store's files (seconds since the epoch):
        files' ages are measured against it, not against this process's clock.
        """

    def check(self) -> None:
        """Raise if objects cannot be written and read back (for the readiness check)."""

    @property
    def temporary_grace_seconds(self) -> float:
        """How old a partial upload must be before start-up cleans it away (a store shared by
        several machines may hold another machine's upload in progress).
        """


class Tally:
    """What a writer has taken so far: its size, its SHA-256, and the limit it must not pass."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.hash = hashlib.sha256()

    def add(self, chunk: bytes, abort: Callable[[], None]) -> None:
        """Count a chunk; past the limit, ``abort`` the writer and raise TooLarge."""
        self.size += len(chunk)
        if self.size > self.limit:
            abort()
            raise TooLarge(self.limit)
        self.hash.update(chunk)


class LocalWriter:
    """Streams an upload to a temporary file while hashing; renamed into place on commit."""

    def __init__(self, temp: Path, final_dir: Path, limit: int) -> None:
        self._temp = temp
        self._final_dir = final_dir
        self._tally = Tally(limit)
        self._file: BinaryIO | None = os.fdopen(
            os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb"
        )

    def write(self, chunk: bytes) -> None:
        """Append a chunk; past the limit the partial file is removed and TooLarge raised."""
        if self._file is None:
            raise RuntimeError("writer is closed")
        self._tally.add(chunk, self.abort)
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
        self._final_dir.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        self._temp.rename(self._final_dir / key)
        return key, self._tally.size, self._tally.hash.hexdigest()

    def abort(self) -> None:
        """Close and delete the partial file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._temp.unlink(missing_ok=True)


class LocalObjectStore:
    """Objects as files under ``<data dir>/objects/<region>/<key>``."""

    #: the supervisor cleans before its workers start: anything a minute old is abandoned
    temporary_grace_seconds = 60.0

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "objects"
        self.temp = data_dir / "tmp"

    def writer(self, region: str, limit: int) -> LocalWriter:
        """Start an upload into a region."""
        self.temp.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        temp = self.temp / f"upload-{secrets.token_hex(16)}"
        return LocalWriter(temp, self._region_dir(region), limit)

    def open(self, region: str, key: str) -> BinaryIO:
        """Open an object for reading."""
        return (self._region_dir(region) / _safe(key)).open("rb")

    def delete(self, region: str, key: str) -> None:
        """Remove an object."""
        (self._region_dir(region) / _safe(key)).unlink(missing_ok=True)

    def files(self) -> Iterator[StoredFile]:
        """Every object file, by region."""
        if not self.root.is_dir():
            return
        for region_dir in sorted(self.root.iterdir()):
            if not region_dir.is_dir():
                continue
            for path in region_dir.iterdir():
                if path.is_file():
                    yield StoredFile(region_dir.name, path.name, path.stat().st_mtime)

    def clean_temporary(self, older_than_seconds: float) -> int:
        """Remove partial uploads left by a process that stopped mid-upload."""
        if not self.temp.is_dir():
            return 0
        cutoff = self.now() - older_than_seconds
        removed = 0
        for path in self.temp.iterdir():
            try:
                stale = path.is_file() and path.stat().st_mtime < cutoff
            except FileNotFoundError:  # an upload finished (moved into place) meanwhile
                continue
            if stale:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def now(self) -> float:
        """The filesystem's time: the modification time of a file written now (a network
        filesystem stamps files by its server's clock, which may differ from this host's).
        """
        self.temp.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        probe = self.temp / f"clock-{secrets.token_hex(8)}"
        try:
            probe.write_bytes(b"")
            return probe.stat().st_mtime
        finally:
            probe.unlink(missing_ok=True)

    def check(self) -> None:
        """Write, read back and remove a probe file where uploads are written."""
        self.temp.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        self.root.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        probe = self.temp / f"ready-{secrets.token_hex(8)}"
        try:
            probe.write_bytes(b"ok")
            if probe.read_bytes() != b"ok":
                raise OSError(f"{probe} did not read back what was written")
        finally:
            probe.unlink(missing_ok=True)

    def _region_dir(self, region: str) -> Path:
        return self.root / _safe(region)


def _safe(name: str) -> str:
    """Refuse anything but a plain file name (defence in depth: keys are ours)."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise ValueError(f"not a valid object name: {name!r}")
    return name
