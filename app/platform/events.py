"""Changes as events: what a committed transaction changed (images, operations) wakes the
subscriptions that follow those rows, in this process and in every other one. Which keys a
changed row publishes is told by ``install`` (the rows' own modules sit above this one).

Committing publishes the changed rows' keys (``image:m-…``, ``operation:op-…``): to this
process's waiters at once, and on PostgreSQL also through ``NOTIFY``, which a listener
thread in every process (``LISTEN``) hands to its own waiters. A subscription waits for
its key instead of polling; it also looks again after ``fallback_seconds`` in case an event
was missed (a listener reconnecting, or several processes on one SQLite file, which has no
NOTIFY).
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
#: NOTIFY payloads are at most 8000 bytes; keys are sent in batches well below that
BATCH = 200


class ChangeFeed:
    """This process's waiters, by key; woken from any thread."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    def notify(self, keys: Iterable[str]) -> None:
        """Wake everyone waiting for one of these keys."""
        with self._lock:
            woken = [w for key in keys for w in self._waiters.get(key, ())]
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
        """On PostgreSQL, hand every other process's changes to this process's waiters (a
        daemon thread with its own connection; it reconnects when the connection drops).
        """
        if engine.dialect.name != "postgresql" or self._listener is not None:
            return
        self._stop.clear()
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._listener = threading.Thread(
            target=self._listen, args=(dsn,), name="bcc-images-listen", daemon=True
        )
        self._listener.start()

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
            self._listener = None

    def _listen(self, dsn: str) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for message in connection.notifies(timeout=1.0):
                            self.notify(json.loads(message.payload))
            except Exception as exc:
                log.warning("listening for changes failed (%s); trying again", exc)
                self._stop.wait(1.0)


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
