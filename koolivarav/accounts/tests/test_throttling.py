"""Rate limits hold on every cache the product runs on: the database cache, Redis and memory.

The database cache is the default, Redis the choice of larger installations, the in-memory
cache the test settings' default: a counter must keep its window, never live without an
expiry, and count exactly under concurrent requests on each of them.
"""

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import redis
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections

from koolivarav.accounts import throttling

REDIS_URL = "redis://127.0.0.1:6379/3"  # db 3 is this suite's; cache.clear() empties it
CACHE_TABLE = "koolivarav_cache"
BACKENDS = {
    "database": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": CACHE_TABLE,
    },
    "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    "memory": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}
HOUR = 3600


def _redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


@pytest.fixture(params=list(BACKENDS))
def backend(request, settings, transactional_db) -> str:
    """Each test runs on the database cache, on Redis and on the in-memory cache.

    transactional_db: the concurrency tests' threads each open their own connection, which
    sees only what is committed.
    """
    name = request.param
    if name == "redis" and not _redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL}, and CI must test on it.")
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (with CI=true this fails).")
    settings.CACHES = {"default": BACKENDS[name]}
    if name == "database":
        call_command("createcachetable", verbosity=0)
    cache.clear()
    yield name
    cache.clear()


def _window_start(seconds: int) -> float:
    """The start of the next window of this length, a little in the future."""
    return (time.time() // seconds + 1) * seconds


def _expiries(backend: str) -> list[float]:
    """When every entry in the cache expires (Unix time; inf for never)."""
    if backend == "database":
        with connections["default"].cursor() as cursor:
            cursor.execute(f"SELECT expires FROM {CACHE_TABLE}")  # noqa: S608 - a constant
            rows = [row[0] for row in cursor.fetchall()]
        return [_as_timestamp(value) for value in rows]
    if backend == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        # -1: the key has no expiry (it would live for ever).
        return [
            float("inf") if ttl == -1 else time.time() + ttl
            for ttl in (client.ttl(key) for key in client.scan_iter())
        ]
    return [float("inf") if at is None else at for at in cache._expire_info.values()]


def _as_timestamp(value) -> float:
    if isinstance(value, str):  # SQLite returns the column as text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def test_a_window_keeps_its_count_for_its_whole_length(backend):
    # Django's database cache rewrote the counter with its default timeout (five minutes) at
    # every increment, so hits ten minutes apart never added up.
    limit = throttling.Limit(scope="test", count=5, seconds=HOUR)
    start = _window_start(HOUR)
    with time_machine.travel(start + 1, tick=False) as traveller:
        for n in range(limit.count):
            assert throttling.hit(limit, "203.0.113.7"), f"hit {n + 1} of {limit.count}"
            traveller.shift(600)
        assert throttling.is_over(limit, "203.0.113.7")
        assert not throttling.hit(limit, "203.0.113.7")


def test_the_next_window_starts_from_zero(backend):
    limit = throttling.Limit(scope="test", count=2, seconds=HOUR)
    with time_machine.travel(_window_start(HOUR) + 1, tick=False) as traveller:
        assert throttling.hit(limit, "203.0.113.7")
        assert throttling.hit(limit, "203.0.113.7")
        assert not throttling.hit(limit, "203.0.113.7")
        traveller.shift(HOUR)
        assert not throttling.is_over(limit, "203.0.113.7")
        assert throttling.hit(limit, "203.0.113.7")


def test_is_over_counts_nothing(backend):
    limit = throttling.Limit(scope="test", count=1, seconds=HOUR)
    for _ in range(3):
        assert not throttling.is_over(limit, "203.0.113.7")
    assert throttling.hit(limit, "203.0.113.7")
    assert throttling.is_over(limit, "203.0.113.7")


def test_identifiers_count_separately(backend):
    limit = throttling.Limit(scope="test", count=1, seconds=HOUR)
    assert throttling.hit(limit, "203.0.113.7")
    assert throttling.hit(limit, "203.0.113.8")
    assert not throttling.hit(limit, "203.0.113.7")


def test_no_counter_lives_beyond_its_window(backend):
    limit = throttling.Limit(scope="test", count=100, seconds=HOUR)
    for n in range(5):
        throttling.hit(limit, f"203.0.113.{n}")
        throttling.hit(limit, f"203.0.113.{n}")
        throttling.hit_distinct(limit, f"203.0.113.{n}", ["a", "b"])
    window_end = (time.time() // HOUR + 1) * HOUR
    expiries = _expiries(backend)
    assert expiries
    assert all(at <= window_end + 2 for at in expiries), (expiries, window_end)


def test_an_item_counted_once_costs_nothing_when_it_comes_again(backend):
    limit = throttling.Limit(scope="test", count=2, seconds=HOUR)
    for _ in range(5):
        assert throttling.hit_distinct(limit, "203.0.113.7", ["39001010008"])
    assert throttling.hit_distinct(limit, "203.0.113.7", ["49001010009", "39001010008"])
    assert not throttling.hit_distinct(limit, "203.0.113.7", ["59001010000"])
    # The items counted within the limit are still free; the one after it is not.
    assert throttling.hit_distinct(limit, "203.0.113.7", ["39001010008", "49001010009"])
    assert not throttling.hit_distinct(limit, "203.0.113.7", ["59001010000"])
    assert throttling.hit_distinct(limit, "203.0.113.8", ["59001010000"])


def test_distinct_items_are_counted_per_window(backend):
    limit = throttling.Limit(scope="test", count=1, seconds=HOUR)
    with time_machine.travel(_window_start(HOUR) + 1, tick=False) as traveller:
        assert throttling.hit_distinct(limit, "203.0.113.7", ["a"])
        assert not throttling.hit_distinct(limit, "203.0.113.7", ["b"])
        traveller.shift(HOUR)
        assert throttling.hit_distinct(limit, "203.0.113.7", ["b"])


def test_no_identifier_or_item_is_kept_in_clear(backend):
    limit = throttling.Limit(scope="test", count=5, seconds=HOUR)
    throttling.hit_distinct(limit, "mari@example.ee", ["39001010008"])
    throttling.hit(limit, "mari@example.ee")
    keys = _keys(backend)
    assert keys
    assert not any("mari" in key or "39001010008" in key for key in keys)


def _keys(backend: str) -> list[str]:
    if backend == "database":
        with connections["default"].cursor() as cursor:
            cursor.execute(f"SELECT cache_key FROM {CACHE_TABLE}")  # noqa: S608 - a constant
            return [row[0] for row in cursor.fetchall()]
    if backend == "redis":
        return [key.decode() for key in redis.Redis.from_url(REDIS_URL).scan_iter()]
    return list(cache._cache)


def _all_at_once(count: int, workers: int, action: Callable[[], bool]) -> list[bool]:
    """Run `action` `count` times on `workers` threads that start together.

    Each thread uses its own database connection and closes it when done.
    """
    barrier = threading.Barrier(workers)

    def run(n: int) -> bool:
        try:
            if n < workers:
                barrier.wait(timeout=30)
            return action()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(count)))


def test_200_parallel_hits_let_exactly_the_limit_through(backend):
    limit = throttling.Limit(scope="test", count=30, seconds=HOUR)
    # 40 threads, not 200: PostgreSQL allows 100 connections in all, shared with others.
    results = _all_at_once(200, 40, lambda: throttling.hit(limit, "203.0.113.7"))
    assert results.count(True) == 30
    assert throttling.is_over(limit, "203.0.113.7")


@pytest.mark.parametrize(("max_entries", "survives"), [(300, False), (100_000, True)])
def test_a_counter_outlives_a_flood_of_other_cache_entries_only_with_room(
    settings, transactional_db, max_entries, survives
):
    """The database cache culls a third of its rows once it holds more than MAX_ENTRIES:
    with Django's default of 300, a stranger who makes a few hundred sessions resets the
    limits. The production settings give it room (test_settings.py checks they do)."""
    settings.CACHES = {"default": {**BACKENDS["database"], "OPTIONS": {"MAX_ENTRIES": max_entries}}}
    call_command("createcachetable", verbosity=0)
    cache.clear()
    limit = throttling.Limit(scope="a-login", count=3, seconds=HOUR)
    for _ in range(3):
        assert throttling.hit(limit, "203.0.113.7")
    # 400 other clients each leave a counter and a remembered item (as step 1's count of
    # unknown codes does); every add() lets the cache cull.
    others = throttling.Limit(scope="b-codes", count=5, seconds=HOUR)
    for n in range(400):
        throttling.hit_distinct(others, f"198.51.100.{n}", ["38001085718"])
    assert throttling.hit(limit, "203.0.113.7") is (not survives)
    cache.clear()
