"""Per-client buckets of cost points kept in Redis, so that every worker process and every
machine sharing one Redis shares one bucket per client (the in-process
:class:`RateLimiter` gives each process its own).

Each operation is one Lua script run atomically by Redis (EVALSHA, loaded once per server),
refilled by the Redis server's own clock (``TIME``), so the clocks of the API machines do not
matter. A bucket is a hash at ``bcc-images:bucket:<key>`` holding its points and when they
were counted; a full bucket has no key, and a key expires when its bucket would be full again.
Needs Redis 5 or newer (scripts replicated by their effects).
"""

from __future__ import annotations

import logging
import threading
import time

from redis import Redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from app.config import Settings
from schema.limits.rate_limit import Limiter, RateLimiter

log = logging.getLogger("bcc_images.ratelimit")

#: the prefix of every bucket's key
NAMESPACE = "bcc-images:bucket:"

# KEYS[1]: the bucket; ARGV: capacity, refill per second, points. Leaves `level` (the points in
# the bucket now, refilled) and `store(value)` (write it back, or delete a full bucket).
_BUCKET = """
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local points = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local level = capacity
local state = redis.call('HMGET', KEYS[1], 'points', 'updated')
if state[1] and state[2] then
  local elapsed = math.max(0, now - tonumber(state[2])) / 1000000
  level = math.min(capacity, tonumber(state[1]) + elapsed * refill)
end
local function store(value)
  if value >= capacity then
    redis.call('DEL', KEYS[1])
    return
  end
  redis.call('HSET', KEYS[1], 'points', string.format('%.17g', value),
    'updated', string.format('%.17g', now))
  if refill > 0 then
    local ms = math.min(math.ceil((capacity - value) / refill * 1000), 1e13)
    redis.call('PEXPIRE', KEYS[1], string.format('%d', ms))
  else
    redis.call('PERSIST', KEYS[1])
  end
end
"""

# A denied take writes nothing: refilling is linear, so counting later gives the same level.
_TAKE = (
    _BUCKET
    + """
local granted = 0
local wait = 0
if level >= points then
  level = level - points
  granted = 1
  store(level)
elseif refill > 0 then
  wait = (points - level) / refill
else
  wait = 3600
end
return {granted, string.format('%.17g', level), string.format('%.17g', wait)}
"""
)

_GIVE_BACK = (
    _BUCKET
    + """
level = math.min(capacity, level + math.max(0, points))
store(level)
return string.format('%.17g', level)
"""
)


def _number(reply: object) -> float:
    """A number from a script's reply (integers, or floats sent as text)."""
    if isinstance(reply, bytes | str | int | float):
        return float(reply)
    raise TypeError(f"unexpected reply from the rate limit script: {reply!r}")


class RedisRateLimiter:
    """Per-client buckets of cost points, refilled continuously, shared through Redis.

    The same interface and semantics as :class:`RateLimiter`: a bucket holds
    at most ``capacity`` points, refills at ``refill_per_second``, and one never seen starts
    full.

    When Redis cannot be reached (or answers with an error) the limiter fails *open to
    per-process buckets*: it logs one warning, answers from an in-process
    :class:`RateLimiter` with the same capacity and refill, and tries Redis
    again after ``retry_after`` seconds (logging when it is back). A rate limiter protects the
    service; it must not become the outage itself. Failing closed would turn a Redis failure
    into every request refused as RATE_LIMITED, with clients retrying on top; failing fully
    open would drop all protection exactly when the platform is under stress. Per-process
    buckets keep every client within ``capacity`` per process (at most N times the budget
    with N workers) until Redis is back. Points taken from Redis and given back during an
    outage go to the local bucket. Calls block on Redis for at most about ``timeout``
    seconds (one immediate retry on a dropped connection).

    Args:
        url: Redis's URL, e.g. ``redis://127.0.0.1:6379/0``.
        capacity: The most points a bucket holds.
        refill_per_second: Points added back per second.
        namespace: The prefix of the buckets' keys.
        timeout: Seconds to wait for Redis to connect or answer.
        retry_after: Seconds to use the in-process buckets after Redis failed.
    """

    def __init__(
        self,
        url: str,
        capacity: int,
        refill_per_second: float,
        *,
        namespace: str = NAMESPACE,
        timeout: float = 0.25,
        retry_after: float = 5.0,
    ) -> None:
        self.capacity = capacity
        self.refill = refill_per_second
        self.namespace = namespace
        self.retry_after = retry_after
        self._client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._take: Script = self._client.register_script(_TAKE)
        self._give_back: Script = self._client.register_script(_GIVE_BACK)
        self._fallback = RateLimiter(capacity, refill_per_second)
        self._lock = threading.Lock()
        self._down = False
        self._down_until = 0.0

    def take(self, key: str, points: int) -> tuple[bool, float, float]:
        """Take points if available.

        Args:
            key: The client, e.g. ``token:tok-...`` or ``ip:1.2.3.4``.
            points: How many points to take.

        Returns:
            Whether they were taken, the points left, and the seconds until enough are back
            (0 when taken).
        """
        reply = self._run(self._take, key, points)
        if reply is None:
            return self._fallback.take(key, points)
        if not isinstance(reply, list) or len(reply) != 3:
            raise TypeError(f"unexpected reply from the rate limit script: {reply!r}")
        granted, remaining, wait = reply
        return _number(granted) == 1, _number(remaining), _number(wait)

    def give_back(self, key: str, points: int) -> float:
        """Return unused points (requested minus actual), up to the bucket's capacity.

        Args:
            key: The client, as given to :meth:`take`.
            points: How many points to return (negative counts as none).

        Returns:
            The points in the bucket now.
        """
        reply = self._run(self._give_back, key, points)
        if reply is None:
            return self._fallback.give_back(key, points)
        return _number(reply)

    def check(self) -> None:
        """Raise if Redis does not answer (for the readiness check)."""
        self._client.ping()

    def close(self) -> None:
        """Close the connections to Redis."""
        self._client.close()

    def _run(self, script: Script, key: str, points: int) -> object:
        """Run a script on the key's bucket; None while Redis is failing."""
        if self._down and time.monotonic() < self._down_until:
            return None
        try:
            reply: object = script(
                keys=[self.namespace + key], args=[self.capacity, self.refill, points]
            )
        except RedisError as error:
            self._failed(error)
            return None
        if self._down:
            self._recovered()
        return reply

    def _failed(self, error: RedisError) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self.retry_after
            if not self._down:
                self._down = True
                log.warning(
                    "rate limiting: Redis failed (%s); using per-process buckets, "
                    "retrying Redis every %.0f s",
                    error,
                    self.retry_after,
                )

    def _recovered(self) -> None:
        with self._lock:
            if self._down:
                self._down = False
                log.warning("rate limiting: Redis is back; buckets are shared again")


def make_rate_limiter(settings: Settings) -> Limiter:
    """Buckets shared by every process through Redis when BCC_IMAGES_REDIS_URL is set, else
    this process's own.
    """
    if settings.redis_url:
        return RedisRateLimiter(
            settings.redis_url, settings.rate_limit_points, settings.rate_limit_refill_per_second
        )
    return RateLimiter(settings.rate_limit_points, settings.rate_limit_refill_per_second)
