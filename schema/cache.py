"""A response cache for anonymous queries (P7): only the public catalogue is visible without
a token, so such answers are the same for everyone until the catalogue version moves."""

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
