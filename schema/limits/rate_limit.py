"""Buckets of cost points per caller: in this process, or shared by every process through
Redis (``schema.limits.redis_limiter``); what a response reports of them; the RATE_LIMITED error.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import GraphQLError

from app.observability import RATE_LIMITED, current_request


@dataclass
class Bucket:
    """A leaky bucket of cost points."""

    points: float
    updated: float


class Limiter(Protocol):
    """Buckets of cost points per client (in process, or shared through Redis)."""

    def take(self, key: str, points: int) -> tuple[bool, float, float]:
        """Take points if available: (granted, remaining, seconds until enough are back)."""

    def give_back(self, key: str, points: int) -> float:
        """Return unused points; returns what remains."""

    def check(self) -> None:
        """Raise if the buckets cannot be used (for the readiness check)."""


class RateLimiter:
    """Per-client buckets of cost points, refilled continuously (in-process)."""

    def __init__(self, capacity: int, refill_per_second: float) -> None:
        self.capacity = capacity
        self.refill = refill_per_second
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: str, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            bucket = self._buckets[key] = Bucket(float(self.capacity), now)
        bucket.points = min(self.capacity, bucket.points + (now - bucket.updated) * self.refill)
        bucket.updated = now
        return bucket

    def take(self, key: str, points: int) -> tuple[bool, float, float]:
        """Take points if available: (granted, remaining, seconds until enough are back)."""
        now = time.monotonic()
        with self._lock:
            bucket = self._bucket(key, now)
            if bucket.points >= points:
                bucket.points -= points
                return True, bucket.points, 0.0
            wait = (points - bucket.points) / self.refill if self.refill > 0 else 3600.0
            return False, bucket.points, wait

    def give_back(self, key: str, points: int) -> float:
        """Return unused points (requested minus actual); returns what remains."""
        with self._lock:
            bucket = self._bucket(key, time.monotonic())
            bucket.points = min(self.capacity, bucket.points + max(0, points))
            return bucket.points

    def check(self) -> None:
        """In process: always usable."""


def cost_report(requested: int, actual: int, limit: int, remaining: float | None) -> dict[str, Any]:
    """The ``extensions.cost`` object of a response (also what the request's log line shows)."""
    report = {
        "requested": requested,
        "actual": actual,
        "limit": limit,
        "remaining": None if remaining is None else int(remaining),
    }
    info = current_request()
    if info is not None:
        info.cost = report
    return report


def rate_limited_error(requested: int, remaining: float, retry: int) -> GraphQLError:
    """The RATE_LIMITED error, with how long to wait."""
    RATE_LIMITED.inc()
    return GraphQLError(
        f"Rate limited: this request costs {requested} points and "
        f"{int(remaining)} are available; retry in {retry} s.",
        extensions={"code": "RATE_LIMITED", "retryAfter": retry},
    )


def retry_seconds(wait: float) -> int:
    """Whole seconds to wait before enough points are back (at least 1)."""
    return max(1, int(wait + 0.999))
