"""Fixed-window counters in the shared cache: how often one client or one address may act.

The cache is shared by every server process (the database cache by default, Redis in larger
installations), so a limit holds however many processes serve the site. Identifiers are
hashed before they become cache keys: an e-mail address never sits in the cache in clear.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


@dataclass(frozen=True)
class Limit:
    scope: str
    count: int
    seconds: int


def limit(name: str) -> Limit:
    count, seconds = settings.KOOLIVARAV["RATE_LIMITS"][name]
    return Limit(scope=name, count=count, seconds=seconds)


def _key(limit: Limit, identifier: str) -> str:
    digest = hashlib.sha256(f"{limit.scope}:{identifier}".encode()).hexdigest()[:32]
    return f"throttle:{limit.scope}:{digest}"


def hit(limit: Limit, identifier: str) -> bool:
    """Count one attempt; False when this one goes over the limit."""
    key = _key(limit, identifier)
    # add() starts the window only if it is not running; incr() then counts in the cache
    # itself (atomically on Redis), so concurrent processes do not overwrite each other.
    cache.add(key, 0, timeout=limit.seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # the window ended between add() and incr()
        cache.add(key, 1, timeout=limit.seconds)
        count = 1
    return count <= limit.count


def is_over(limit: Limit, identifier: str) -> bool:
    """Whether the limit is already used up, without counting an attempt."""
    return (cache.get(_key(limit, identifier)) or 0) >= limit.count


def client_address(request: HttpRequest) -> str:
    """The client's address as the server sees it.

    Behind a reverse proxy, the proxy must set REMOTE_ADDR (e.g. gunicorn's
    --forwarded-allow-ips with the proxy's X-Forwarded-For), or every visitor counts as one.
    """
    return request.META.get("REMOTE_ADDR", "") or "unknown"
