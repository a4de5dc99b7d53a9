"""Changes as events: what a committed transaction changed (images, operations) wakes the
subscriptions that follow those rows, in this process and in every other one. Which keys a
changed row publishes is told by ``install`` (the rows' own modules sit above this one).

Committing publishes the changed rows' keys (``image:m-…``, ``operation:op-…``): to this
process's waiters at once, and on PostgreSQL also through ``NOTIFY``, which a listener
thread in every process (``LISTEN``) hands to its own waiters. A subscription waits for
its key instead of polling; it also looks again after ``fallback_seconds`` in case an event
was missed (a listener reconnecting, or several processes on one SQLite file, which has no
NOTIFY).

On a SQLite file the listener thread instead polls ``PRAGMA data_version`` (it moves when
another connection commits) and reports every move as a change of ``ANYTHING``. Code that
keeps what it read until something changes (the versions board) registers a callback with
``on``, and trusts its copy only while ``watching`` names its database: while the listener
is not connected, a change could go unseen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlmodel import Session

log = logging.getLogger("bcc_images.events")
CHANNEL = "bcc_images"
KEYS = "events.keys"
#: the key of "some commit happened" (every commit reported by SQLite's data_version, and
#: every commit that moved cached answers' versions, which publishes it)
ANYTHING = "*"
#: how often a SQLite database is looked at for commits of other connections
POLL_SECONDS = 0.02
#: NOTIFY payloads are at most 8000 bytes; keys are sent in batches well below that
BATCH = 200


class ChangeFeed:
    """This process's waiters, by key; woken from any thread."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self._listener: threading.Thread | None = None
        self._users = 0  # apps of this process that asked to listen and have not closed
        self._stop = threading.Event()
        #: the database whose every commit this process hears of, while it does
        self.watching: str | None = None

    def on(self, key: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from any thread) whenever ``key`` changes, and whenever the
        listener (re)connects, since changes may have been missed; returns how to stop.
        """
        with self._lock:
            self._callbacks.setdefault(key, []).append(callback)

        def stop() -> None:
            with self._lock:
                callbacks = self._callbacks.get(key, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return stop

    def notify(self, keys: Iterable[str]) -> None:
        """Wake everyone waiting for one of these keys."""
        keys = list(keys)
        with self._lock:
            woken = [w for key in keys for w in self._waiters.get(key, ())]
            called = [c for key in keys for c in self._callbacks.get(key, ())]
        for callback in called:
            callback()
        for loop, happened in woken:
            if not loop.is_closed():
                loop.call_soon_threadsafe(happened.set)

    async def wait(self, key: str, timeout: float) -> bool:
        """Wait until ``key`` changes (True) or ``timeout`` passes (False)."""
        happened = asyncio.Event()
        waiter = (asyncio.get_running_loop(), happened)
        with self._lock:
            self._waiters.setdefault(key, set()).add(waiter)
        try:
            await asyncio.wait_for(happened.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiters.get(key)
                if waiting is not None:
                    waiting.discard(waiter)
                    if not waiting:
                        del self._waiters[key]

    def waiting(self) -> int:
        """How many waiters there are (for tests and metrics)."""
        with self._lock:
            return sum(len(w) for w in self._waiters.values())

    def listen(self, engine: Engine) -> None:
        """Hear of every other process's commits: on PostgreSQL their changes, handed to
        this process's waiters (a daemon thread with its own connection; it reconnects when
        the connection drops); on a SQLite file, that something changed. One listener per
        process, started by the first call; each call is matched by a ``close``.
        """
        self._users += 1
        if self._listener is not None:
            return
        url = engine.url
        if url.get_backend_name() == "postgresql":
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            target: Callable[..., None] = self._listen
            args: tuple[Any, ...] = (dsn, str(url))
        elif url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            target, args = self._poll, (url.database, str(url))
        else:
            return
        self._stop.clear()
        self._listener = threading.Thread(
            target=target, args=args, name="bcc-images-listen", daemon=True
        )
        self._listener.start()

    def close(self) -> None:
        """Stop listening, once everything that asked to listen has closed."""
        self._users = max(0, self._users - 1)
        if self._users:
            return
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
            self._listener = None
        self.watching = None

    def _connected(self, url: str) -> None:
        self.watching = url
        self.notify([ANYTHING])  # what changed while nobody listened is not known

    def _listen(self, dsn: str, url: str) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._connected(url)
                    while not self._stop.is_set():
                        for message in connection.notifies(timeout=1.0):
                            self.notify(json.loads(message.payload))
            except Exception as exc:
                self.watching = None
                log.warning("listening for changes failed (%s); trying again", exc)
                self._stop.wait(1.0)
        self.watching = None

    def _poll(self, path: str, url: str) -> None:
        import sqlite3

        while not self._stop.is_set():
            try:
                connection = sqlite3.connect(path, timeout=1.0)
                try:
                    seen = connection.execute("PRAGMA data_version").fetchone()[0]
                    self._connected(url)
                    while not self._stop.wait(POLL_SECONDS):
                        now = connection.execute("PRAGMA data_version").fetchone()[0]
                        if now != seen:
                            seen = now
                            self.notify([ANYTHING])
                finally:
                    connection.close()
            except Exception as exc:
                self.watching = None
                log.warning("watching the database for changes failed (%s); trying again", exc)
                self._stop.wait(1.0)
        self.watching = None


#: the one feed of this process
FEED = ChangeFeed()


#: what keys a changed row publishes (the rows' modules are above this one: see install)
KeysOf = Callable[[object], Iterable[str]]
_keys_of: KeysOf | None = None


def _note(session: Session, _context: Any) -> None:
    if _keys_of is None:
        return
    keys: set[str] = session.info.setdefault(KEYS, set())
    for row in (*session.new, *session.dirty, *session.deleted):
        keys.update(_keys_of(row))


def publish(session: Session, key: str) -> None:
    """Publish ``key`` when this session's transaction commits."""
    session.info.setdefault(KEYS, set()).add(key)


def _publish(session: Session) -> None:
    session.flush()  # the final flush of the commit comes after this hook: note it now
    keys = sorted(session.info.get(KEYS, ()))
    connection = session.connection()
    if keys and connection.dialect.name == "postgresql":
        for start in range(0, len(keys), BATCH):
            payload = json.dumps(keys[start : start + BATCH])
            connection.execute(select(func.pg_notify(CHANNEL, payload)))


def _committed(session: Session) -> None:
    keys = session.info.pop(KEYS, None)
    if keys:
        FEED.notify(keys)


def _forget(session: Session, *_: Any) -> None:
    session.info.pop(KEYS, None)


def install(keys_of: KeysOf) -> None:
    """Publish, on every commit of every session, the keys of the rows it changed (once per
    process: later calls change nothing).
    """
    global _keys_of
    if _keys_of is not None:
        return
    _keys_of = keys_of
    event.listen(Session, "after_flush", _note)
    event.listen(Session, "before_commit", _publish)
    event.listen(Session, "after_commit", _committed)
    event.listen(Session, "after_rollback", _forget)
