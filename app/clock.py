"""The one clock every time-dependent rule reads (SPEC R63)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from threading import Lock


class Clock:
    """Real UTC time plus an offset; the offset moves only when the clock is simulated.

    The offset is the service's shared state: it is persisted (see app.accounts... clock
    service) so that every process agrees; this object holds the last value read.
    """

    def __init__(self, *, simulated: bool, offset_seconds: float = 0.0) -> None:
        self.simulated = simulated
        self._offset = timedelta(seconds=offset_seconds if simulated else 0.0)
        self._lock = Lock()

    def now(self) -> datetime:
        """Return the service's current time (aware, UTC)."""
        return datetime.now(UTC) + self._offset

    @property
    def offset_seconds(self) -> float:
        """The simulated offset from real time, in seconds."""
        return self._offset.total_seconds()

    def set_offset(self, seconds: float) -> None:
        """Adopt an offset read from the shared store (no-op for a real clock)."""
        if not self.simulated:
            return
        with self._lock:
            self._offset = timedelta(seconds=seconds)
