"""The response cache, bounded by bytes (see ``schema.limits.memory``).

Answers are kept as the JSON bytes of their ``data``: the anonymous catalogue (the same for
everyone until the catalogue version moves) and, per signed-in account, the queries it
repeats (valid while both the catalogue's and the account's version stay where they were).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from schema.limits.memory import ByteBudgetLRU


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
