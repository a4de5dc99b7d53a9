"""The Redis-backed rate limiter: the same semantics as the in-process one (every behaviour
test runs against both), atomic under threads, one bucket shared by two OS processes, and
per-process buckets while Redis is unreachable.

Needs Redis at BCC_IMAGES_TEST_REDIS_URL (default redis://127.0.0.1:6379/0): the Redis tests
skip when it is unreachable, and fail when CI is set. Keys of a run carry its own random
prefix and are deleted afterwards.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Protocol

import pytest
import redis

from schema.limits.rate_limit import RateLimiter
from schema.limits.redis_limiter import NAMESPACE, RedisRateLimiter
from tests.fixtures import real_clock_env

pytestmark = pytest.mark.once  # needs no database at all

REDIS_URL = os.environ.get("BCC_IMAGES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN = secrets.token_hex(4)
#: the namespace of this run's buckets
TEST_NAMESPACE = f"bcc-images-test-{RUN}:bucket:"
#: so slow that a test's few seconds refill under 0.01 points, yet refilling
SLOW = 0.001


class Limiter(Protocol):
    def take(self, key: str, points: int) -> tuple[bool, float, float]: ...

    def give_back(self, key: str, points: int) -> float: ...


MakeLimiter = Callable[[int, float], Limiter]


def answered(
    answer: tuple[bool, float, float], granted: bool, remaining: float, wait: float = 0.0
) -> bool:
    """Whether a take answered so (points within 0.01, seconds within 1%)."""
    return (
        answer[0] is granted
        and answer[1] == pytest.approx(remaining, abs=0.01)
        and answer[2] == pytest.approx(wait, rel=0.01, abs=1e-9)
    )


@pytest.fixture(scope="module")
def redis_client() -> Iterator[redis.Redis]:
    """A client of the test Redis; skips (fails under CI) when it is unreachable."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        message = f"Redis at {REDIS_URL} is unreachable: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield client
    patterns = (TEST_NAMESPACE + "*", f"{NAMESPACE}token:tok-test-{RUN}-*")
    keys = [key for pattern in patterns for key in client.scan_iter(match=pattern)]
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def key() -> str:
    """A client key no other test uses."""
    return f"token:tok-test-{RUN}-{secrets.token_hex(4)}"


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> Iterator[MakeLimiter]:
    """Makes limiters of one implementation: in-process, or in Redis."""
    made: list[RedisRateLimiter] = []
    if request.param == "redis":
        request.getfixturevalue("redis_client")

    def make(capacity: int, refill: float) -> Limiter:
        if request.param == "memory":
            return RateLimiter(capacity, refill)
        limiter = RedisRateLimiter(REDIS_URL, capacity, refill, namespace=TEST_NAMESPACE)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


@contextmanager
def redis_limiter(capacity: int, refill: float, **options: float) -> Iterator[RedisRateLimiter]:
    """A Redis limiter in this run's namespace, closed afterwards."""
    limiter = RedisRateLimiter(REDIS_URL, capacity, refill, namespace=TEST_NAMESPACE, **options)
    yield limiter
    limiter.close()


# -- the same semantics as the in-process limiter ----------------------------------------------


def test_a_new_bucket_starts_full_and_takes_until_empty(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(10, SLOW)
    assert answered(limiter.take("ip:10.0.0.1", 3), True, 7)
    assert answered(limiter.take("ip:10.0.0.1", 3), True, 4)
    assert answered(limiter.take("ip:10.0.0.1", 3), True, 1)
    granted, remaining, wait = limiter.take("ip:10.0.0.1", 3)
    assert not granted
    assert remaining == pytest.approx(1, abs=0.01)
    assert wait == pytest.approx((3 - remaining) / SLOW, rel=1e-6)  # 2 points at 0.001/s
    assert limiter.take("ip:10.0.0.1", 1)[0]
    granted, remaining, wait = limiter.take("ip:10.0.0.1", 1)
    assert not granted
    assert remaining == pytest.approx(0, abs=0.01)
    assert wait == pytest.approx(1000, abs=10)


def test_buckets_are_per_key(make_limiter: MakeLimiter, key: str) -> None:
    limiter = make_limiter(10, SLOW)
    assert limiter.take(key, 10)[0]
    assert not limiter.take(key, 1)[0]
    assert answered(limiter.take(key + "-other", 10), True, 0)


def test_more_than_the_capacity_is_never_granted(make_limiter: MakeLimiter, key: str) -> None:
    limiter = make_limiter(10, 2.0)
    assert limiter.take(key, 15) == (False, 10.0, 2.5)
    assert limiter.take(key, 0) == (True, 10.0, 0.0)


def test_no_refill_waits_an_hour(make_limiter: MakeLimiter, key: str) -> None:
    limiter = make_limiter(5, 0.0)
    assert limiter.take(key, 5) == (True, 0.0, 0.0)
    assert limiter.take(key, 1) == (False, 0.0, 3600.0)
    assert limiter.give_back(key, 2) == 2.0
    assert limiter.take(key, 2) == (True, 0.0, 0.0)


def test_points_refill_continuously_up_to_the_capacity(make_limiter: MakeLimiter, key: str) -> None:
    limiter = make_limiter(10, 20.0)
    granted, remaining, _ = limiter.take(key, 10)
    assert granted
    assert remaining == pytest.approx(0, abs=0.5)
    granted, remaining, wait = limiter.take(key, 5)
    assert not granted
    assert wait == pytest.approx((5 - remaining) / 20.0)
    assert 0.2 < wait <= 0.25
    time.sleep(wait + 0.05)
    assert limiter.take(key, 5)[0]  # 5 points came back in a quarter of a second
    time.sleep(1.0)  # 20 points' worth of refill, but a bucket holds 10
    granted, remaining, _ = limiter.take(key, 1)
    assert granted
    assert remaining == pytest.approx(9, abs=0.5)
    assert not limiter.take(key, 10)[0]


def test_give_back_is_capped_at_the_capacity(make_limiter: MakeLimiter, key: str) -> None:
    limiter = make_limiter(10, SLOW)
    assert limiter.take(key, 6)[1] == pytest.approx(4, abs=0.01)
    assert limiter.give_back(key, 2) == pytest.approx(6, abs=0.01)
    assert limiter.give_back(key, -3) == pytest.approx(6, abs=0.01)  # never takes
    assert limiter.give_back(key, 100) == 10.0
    assert limiter.give_back(key, 0) == 10.0
    assert limiter.take(key, 10) == (True, 0.0, 0.0)
    assert limiter.give_back(key + "-new", 5) == 10.0  # a new bucket is full already


def test_many_threads_never_get_more_than_the_capacity(make_limiter: MakeLimiter, key: str) -> None:
    limiter = make_limiter(200, SLOW)
    threads, attempts = 16, 40
    start = threading.Barrier(threads)
    granted: list[int] = []

    def hammer() -> None:
        start.wait()
        granted.append(sum(limiter.take(key, 1)[0] for _ in range(attempts)))

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(granted) == 200  # of 640 asked; 0.001 points refill in the meantime
    assert limiter.take(key, 1)[0] is False


def test_both_limiters_answer_a_random_sequence_alike(redis_client: redis.Redis, key: str) -> None:
    memory = RateLimiter(20, SLOW)
    with redis_limiter(20, SLOW) as shared:
        generator = random.Random(20240601)
        for step in range(300):
            client = f"{key}-{generator.randrange(3)}"
            points = generator.randrange(-3, 16)
            if generator.random() < 0.7:
                points = abs(points)
                expected = memory.take(client, points)
                assert answered(shared.take(client, points), *expected), step
            else:
                assert shared.give_back(client, points) == pytest.approx(
                    memory.give_back(client, points), abs=0.01
                ), step


# -- Redis: keys, expiry, server time ----------------------------------------------------------


def test_buckets_live_under_the_namespace_until_full(redis_client: redis.Redis, key: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, 100, 10.0)
    try:
        assert redis_client.exists(NAMESPACE + key) == 0  # full: no key at all
        limiter.take(key, 30)
        points = redis_client.hget(NAMESPACE + key, "points")
        assert points is not None
        assert float(points) == pytest.approx(70, abs=0.5)
        # expires when it would be full again: 30 points at 10 a second (less what passed
        # since the take: up to half a second on a loaded machine)
        assert 2500 <= int(redis_client.pttl(NAMESPACE + key)) <= 3000
        limiter.give_back(key, 1000)
        assert redis_client.exists(NAMESPACE + key) == 0
    finally:
        limiter.close()


def test_a_bucket_expires_once_refilled(redis_client: redis.Redis, key: str) -> None:
    with redis_limiter(10, 100.0) as limiter:
        limiter.take(key, 5)
        assert 0 < int(redis_client.pttl(TEST_NAMESPACE + key)) <= 50
        time.sleep(0.15)
        assert redis_client.exists(TEST_NAMESPACE + key) == 0
        assert limiter.take(key, 10) == (True, 0.0, 0.0)


def test_refill_follows_the_redis_clock_not_this_one(
    redis_client: redis.Redis, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with redis_limiter(10, 1.0) as limiter:
        assert limiter.take(key, 10)[0]
        later = time.time() + 86_400, time.monotonic() + 86_400  # a day ahead here
        monkeypatch.setattr(time, "time", lambda: later[0])
        monkeypatch.setattr(time, "monotonic", lambda: later[1])
        granted, remaining, _ = limiter.take(key, 5)
        assert not granted
        assert remaining < 1


# -- two processes, one bucket -----------------------------------------------------------------


def _drain(
    namespace: str,
    key: str,
    ready: Event,
    go: dict[str, Event],
    results: Queue[tuple[str, int]],
) -> None:
    """In a process of its own, for each backend once told to go: take 1 point at a time for
    a second and report how many were granted. (The namespace is passed in: this module,
    imported again there, draws another RUN.)
    """
    limiters: dict[str, Limiter] = {
        "redis": RedisRateLimiter(REDIS_URL, 300, 100.0, namespace=namespace),
        "memory": RateLimiter(300, 100.0),
    }
    limiters["redis"].give_back(key, 0)  # connected, scripts loaded: ready to start together
    ready.set()
    for backend, limiter in limiters.items():
        go[backend].wait()
        deadline = time.monotonic() + 1.0
        granted = 0
        while time.monotonic() < deadline:
            granted += limiter.take(key, 1)[0]
        results.put((backend, granted))


def test_two_processes_share_one_bucket(redis_client: redis.Redis, key: str) -> None:
    """Two spawned processes drain one key: with Redis, together never more than the capacity
    plus the refill meanwhile. The control, the in-process limiter in the same two processes,
    gives each its own bucket: about twice that.
    """
    context = multiprocessing.get_context("spawn")
    results: Queue[tuple[str, int]] = context.Queue()
    go = {"redis": context.Event(), "memory": context.Event()}
    readies = [context.Event(), context.Event()]
    processes = [
        context.Process(target=_drain, args=(TEST_NAMESPACE, key, ready, go, results))
        for ready in readies
    ]
    for process in processes:
        process.start()
    try:
        for ready in readies:
            assert ready.wait(60), "a process did not start"
        granted: dict[str, list[int]] = {}
        elapsed: dict[str, float] = {}
        for backend in ("redis", "memory"):
            started = time.monotonic()
            go[backend].set()
            answers = [results.get(timeout=60), results.get(timeout=60)]
            elapsed[backend] = time.monotonic() - started
            assert [name for name, _ in answers] == [backend, backend]
            granted[backend] = [count for _, count in answers]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    bounds = {backend: 300 + 100.0 * elapsed[backend] + 1 for backend in elapsed}
    assert min(granted["redis"]) > 0, granted  # both took from the shared bucket
    assert 300 <= sum(granted["redis"]) <= bounds["redis"], (granted, elapsed)
    assert sum(granted["memory"]) > bounds["memory"], (granted, elapsed)


# -- Redis unreachable: per-process buckets, one warning, then Redis again ---------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_unreachable_redis_falls_back_to_per_process_buckets(
    caplog: pytest.LogCaptureFixture, key: str
) -> None:
    caplog.set_level(logging.WARNING, "bcc_images.ratelimit")
    url = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens
    limiter = RedisRateLimiter(url, 10, SLOW)
    try:
        started = time.monotonic()
        assert answered(limiter.take(key, 4), True, 6)
        assert limiter.take(key, 7)[0] is False  # still limited, per process
        assert limiter.give_back(key, 100) == 10.0
        assert limiter.take(key, 10)[0]
        assert time.monotonic() - started < 1.0
    finally:
        limiter.close()
    warnings = [r for r in caplog.records if r.name == "bcc_images.ratelimit"]
    assert len(warnings) == 1  # once per outage, not once per request
    assert "per-process buckets" in warnings[0].getMessage()


def test_a_redis_that_hangs_costs_one_timeout(key: str) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", 10, SLOW, timeout=0.2)
        try:
            started = time.monotonic()
            assert limiter.take(key, 4)[0]
            first = time.monotonic() - started
            assert 0.15 < first < 1.0  # waited for the timeout, once
            started = time.monotonic()
            assert limiter.take(key, 4)[1] == pytest.approx(2, abs=0.01)
            assert time.monotonic() - started < 0.05  # not again until retry_after
        finally:
            limiter.close()


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=real_clock_env(),
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        for _ in range(100):
            try:
                client.ping()
                return server
            except redis.ConnectionError:
                time.sleep(0.05)
    finally:
        client.close()
    server.kill()
    raise RuntimeError("redis-server did not start")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_an_outage_uses_local_buckets_then_redis_again(
    caplog: pytest.LogCaptureFixture, key: str
) -> None:
    caplog.set_level(logging.WARNING, "bcc_images.ratelimit")
    port = _free_port()
    server = _start_redis(port)
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", 10, SLOW, retry_after=0.3)
    try:
        assert limiter.take(key, 4)[1] == pytest.approx(6, abs=0.01)  # in Redis
        _stop(server)
        assert limiter.take(key, 1)[1] == pytest.approx(9, abs=0.01)  # a local, full bucket
        server = _start_redis(port)  # a new server: no buckets, no scripts loaded
        assert limiter.take(key, 2)[1] == pytest.approx(7, abs=0.01)  # still local
        time.sleep(0.35)
        assert limiter.take(key, 2)[1] == pytest.approx(8, abs=0.01)  # Redis's new bucket
        check = redis.Redis(port=port)
        assert check.exists(NAMESPACE + key) == 1
        check.close()
    finally:
        limiter.close()
        _stop(server)
    messages = [r.getMessage() for r in caplog.records if r.name == "bcc_images.ratelimit"]
    assert len(messages) == 2
    assert "Redis failed" in messages[0]
    assert "Redis is back" in messages[1]
