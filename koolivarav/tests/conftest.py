"""Fixtures of the tests that start real processes (test_faults, test_scale_out)."""

import os

import pytest

from koolivarav.tests.processes import Site


@pytest.fixture
def site(smtp_server, request):
    """Start processes with site.start_server() / site.start_worker(); stopped afterwards."""
    sites: list[Site] = []

    def make(**environment: str) -> Site:
        new = Site(smtp_port=smtp_server.port, cache_url=redis_cache_url(), **environment)
        sites.append(new)
        return new

    yield make
    for each in sites:
        each.stop()
    for each in sites:
        assert not each.server_errors(), each.server_errors()


def redis_cache_url() -> str:
    """A Redis database of its own, emptied: the cache the processes share."""
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, db=14, socket_timeout=2).flushdb()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/14"
