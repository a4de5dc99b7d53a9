"""Memory budgets: caches bounded by the bytes their entries hold, never by their number."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

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
