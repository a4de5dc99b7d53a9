"""The versions board: the versions this process last read, per account (and for anonymous
callers), kept until a commit anywhere may have moved them, so a cached answer is checked
without a database round trip.

The change feed tells every process of every commit that moved versions (PostgreSQL:
NOTIFY; a SQLite file: ``PRAGMA data_version``, polled by one thread), and this process's
own commits at once; each such change empties the board. The board is trusted only while
the feed is listening to this database: otherwise every read goes to the database, as
before. Versions read while a change arrived are not kept (they may be from before it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from app.platform.events import ANYTHING, FEED, ChangeFeed
from app.platform.versions import Versions

#: at most this many accounts' versions are kept (then the board starts again, empty)
MAX_ACCOUNTS = 50_000


class Board:
    """Versions by account id ("" for anonymous callers), for one database."""

    def __init__(self, database_url: str, feed: ChangeFeed = FEED) -> None:
        self.database_url = database_url
        self.feed = feed
        self._known: dict[str, Versions] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._stop = feed.on(ANYTHING, self.changed)

    def changed(self) -> None:
        """Something may have moved: forget everything."""
        with self._lock:
            self._generation += 1
            self._known = {}

    def close(self) -> None:
        """Stop hearing of changes (and keep nothing from now on)."""
        self._stop()
        self.database_url = ""
        self.changed()

    def versions(self, account_id: str, now: datetime, read: Callable[[], Versions]) -> Versions:
        """An account's versions: kept ones while still good, else ``read()`` (and kept)."""
        trusted = self.feed.watching == self.database_url
        if trusted:
            known = self._known.get(account_id)
            if known is not None and (not known.transition or now.timestamp() < known.transition):
                return known
        generation = self._generation
        current = read()
        if trusted:
            self.keep(account_id, current, generation)
        return current

    def generation(self) -> int:
        """Which state of the board a read starts from (see ``keep``)."""
        return self._generation

    def keep(self, account_id: str, versions: Versions, generation: int) -> None:
        """Keep versions read since ``generation``, unless a change arrived meanwhile."""
        with self._lock:
            if generation != self._generation or self.feed.watching != self.database_url:
                return
            if len(self._known) >= MAX_ACCOUNTS:
                self._known = {}
            self._known[account_id] = versions
