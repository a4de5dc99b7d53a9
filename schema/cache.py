"""Caches bounded by bytes (never by entries), and the response cache built on them.

Answers are kept as the JSON bytes of their ``data``: the anonymous catalogue (the same for
everyone until the catalogue version moves) and, per signed-in account, the queries it
repeats (valid while both the catalogue's and the account's version stay where they were).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

K = TypeVar("K")
V = TypeVar("V")

#: no single entry of any cache may be larger than this
MAX_ENTRY_BYTES = 1024 * 1024


class ByteBudgetLRU(Generic[K, V]):
    """A thread-safe LRU whose entries' sizes (given by the caller) stay within a budget."""

    def __init__(self, budget_bytes: int, most_per_entry: int = MAX_ENTRY_BYTES) -> None:
        self.budget = budget_bytes
        self.most = min(most_per_entry, budget_bytes)
        self.used = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value under ``key``, if kept."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep a value of ``size`` bytes (a larger one than allowed is not kept); the least
        recently used go first when the budget is exceeded.
        """
        if size > self.most:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used -= old[1]
            self._entries[key] = (value, size)
            self.used += size
            while self.used > self.budget and self._entries:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.used -= evicted

    def discard(self, key: K) -> None:
        """Forget ``key``."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used -= old[1]

    def __len__(self) -> int:
        return len(self._entries)


class BoundedCache(ByteBudgetLRU[str, str]):
    """Strings by key, bounded by their total UTF-8 size."""

    def put(self, key: str, value: str, size: int | None = None) -> None:
        """Keep a string (its size is measured)."""
        super().put(key, value, len(value.encode()) if size is None else size)


@dataclass(frozen=True)
class Entry:
    """A cached answer: the JSON bytes of its data, the versions it was computed at, and
    what it cost (charged again when it is served).
    """

    catalogue: int
    account: int
    data: bytes
    requested: int
    actual: int
    #: the next scheduled deprecation when it was computed (it is stale once that passes)
    transition: int = 0
    #: the name of the operation it answered (logged and counted like a fresh answer's)
    operation: str | None = None


def cache_key(
    query: str, variables: dict[str, Any] | None, operation_name: str | None, who: str = ""
) -> str:
    """Normalized key: whose answer it is, the document with runs of white space folded, and
    the variables as sorted JSON.
    """
    normalized = " ".join(query.split())
    payload = orjson.dumps(
        [who, normalized, variables or {}, operation_name or ""], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(payload).hexdigest()


class ResponseCache:
    """Answers by key, within a byte budget; an entry is served only at its versions."""

    def __init__(self, budget_bytes: int) -> None:
        self.entries: ByteBudgetLRU[str, Entry] = ByteBudgetLRU(budget_bytes)

    def get(self, key: str, catalogue: int, account: int = 0, transition: int = 0) -> Entry | None:
        """The entry for a key if it was computed at these versions, before the same next
        scheduled transition.
        """
        entry = self.entries.get(key)
        if entry is None:
            return None
        if (entry.catalogue, entry.account, entry.transition) != (catalogue, account, transition):
            self.entries.discard(key)
            return None
        return entry

    def put(self, key: str, entry: Entry) -> None:
        """Remember an answer (its size is its bytes plus a little bookkeeping)."""
        self.entries.put(key, entry, len(entry.data) + 200)

    def __len__(self) -> int:
        return len(self.entries)
