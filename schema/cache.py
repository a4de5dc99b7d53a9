"""A response cache for anonymous queries (P7): only the public catalogue is visible without
a token, so such answers are the same for everyone until the catalogue version moves.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class Entry:
    """A cached answer, the catalogue version it was computed at, and what it cost."""

    version: int
    data: dict[str, Any]
    requested: int
    actual: int


def cache_key(query: str, variables: dict[str, Any] | None, operation_name: str | None) -> str:
    """Normalized key: the document with runs of white space folded, variables as sorted JSON."""
    normalized = " ".join(query.split())
    payload = orjson.dumps(
        [normalized, variables or {}, operation_name or ""], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(payload).hexdigest()


class ResponseCache:
    """A bounded, thread-safe LRU of anonymous query results."""

    def __init__(self, max_entries: int = 2048, max_bytes_per_entry: int = 512 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes_per_entry
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, version: int) -> Entry | None:
        """The entry for a key if it was computed at this catalogue version."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.version != version:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: Entry) -> None:
        """Remember an answer (too large ones are not kept)."""
        if len(orjson.dumps(entry.data)) > self.max_bytes:
            return
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class BoundedCache:
    """A thread-safe LRU of strings, bounded by their total size in bytes."""

    def __init__(self, budget_bytes: int, most_per_entry: int = 1024 * 1024) -> None:
        self.budget = budget_bytes
        self.most = most_per_entry
        self.used = 0
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The value under ``key``, if kept."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: str) -> None:
        """Keep a value (one over the per-entry limit is not kept); the oldest go first."""
        size = len(value.encode())
        if size > self.most:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used -= len(old.encode())
            self._entries[key] = value
            self.used += size
            while self.used > self.budget and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self.used -= len(evicted.encode())
