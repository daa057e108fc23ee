"""Fixed-window counters in the shared cache: how often one client or one address may act.

The cache is shared by every server process (the database cache by default, Redis in larger
installations), so a limit holds however many processes serve the site. Identifiers are
hashed (HMAC with the secret key) before they become cache keys: an e-mail address or an ID
code never sits in the cache in clear.

Each window is its own key, with the window's number in it, and every write sets the expiry
to the window's end: a counter can neither outlive its window nor have its window stretched
or shrunk by a later write. Counting is atomic on each cache the product runs on:

- Redis: INCR and EXPIREAT in one MULTI/EXEC transaction. (Django's RedisCache.incr checks
  that the key exists and then increments it; a key that expired in between came back from
  INCR without any expiry, a counter for ever.)
- The database cache: a read-modify-write of the row under a row lock in one transaction.
  (Django's DatabaseCache.incr is a get and a set: concurrent requests overwrote each other's
  counts, and the set gave the row the default five-minute timeout.)
- The in-memory cache and memcached: add() then incr(), which are atomic there and keep the
  expiry. (The in-memory cache is per process: for tests and a single process only.)
"""

import base64
import math
import pickle
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import IntegrityError, connections, router, transaction
from django.db.models.constants import OnConflict
from django.http import HttpRequest
from django.utils.crypto import salted_hmac


@dataclass(frozen=True)
class Limit:
    scope: str
    count: int
    seconds: int


def limit(name: str) -> Limit:
    count, seconds = settings.KOOLIVARAV["RATE_LIMITS"][name]
    return Limit(scope=name, count=count, seconds=seconds)


@dataclass(frozen=True)
class _Window:
    number: int
    ends_at: int  # Unix time

    @property
    def timeout(self) -> int:
        """Seconds from now to the window's end (at least one: zero means "never" to some)."""
        return max(1, math.ceil(self.ends_at - time.time()))


def _window(limit: Limit) -> _Window:
    number = int(time.time() // limit.seconds)
    return _Window(number=number, ends_at=(number + 1) * limit.seconds)


def _digest(value: str) -> str:
    return salted_hmac("koolivarav.throttling", value).hexdigest()[:32]


def _key(limit: Limit, identifier: str, window: _Window) -> str:
    return f"throttle:{limit.scope}:{window.number}:{_digest(identifier)}"


def hit(limit: Limit, identifier: str) -> bool:
    """Count one attempt; False when this one goes over the limit."""
    window = _window(limit)
    return _increment(_key(limit, identifier, window), window) <= limit.count


def is_over(limit: Limit, identifier: str) -> bool:
    """Whether the limit is already used up, without counting an attempt."""
    return (cache.get(_key(limit, identifier, _window(limit))) or 0) >= limit.count


def hit_distinct(limit: Limit, identifier: str, items: Iterable[str]) -> bool:
    """Count the items this identifier has not used yet in this window; False when over.

    An item counted once costs nothing when it comes again (a parent typing the same wrong
    code twice uses up one attempt, not two). The window remembers only the items counted
    within the limit, as hashes: an item that came after the limit was used up stays new.
    """
    window = _window(limit)
    counter = _key(limit, identifier, window)
    within = True
    for item in items:
        seen = f"{counter}:{_digest(item)}"
        if cache.get(seen) is not None:
            continue
        if _increment(counter, window) <= limit.count:
            cache.add(seen, 1, timeout=window.timeout)
        else:
            within = False
    return within


def client_address(request: HttpRequest) -> str:
    """The client's address as the server sees it.

    Behind a reverse proxy, the proxy must set REMOTE_ADDR (e.g. gunicorn's
    --forwarded-allow-ips with the proxy's X-Forwarded-For), or every visitor counts as one.
    """
    return request.META.get("REMOTE_ADDR", "") or "unknown"


# --- atomic increments, one per kind of cache -------------------------------------------------


def _increment(key: str, window: _Window) -> int:
    """Add one to the window's counter and return the new count, atomically."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _increment_redis(backend, key, window)
    if isinstance(backend, DatabaseCache):
        return _increment_database(backend, key, window)
    return _increment_add_incr(backend, key, window)


def _increment_redis(backend: RedisCache, key: str, window: _Window) -> int:
    key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(key, write=True)
    with client.pipeline(transaction=True) as pipeline:
        pipeline.incr(key)
        # An absolute time, so every increment sets the same end: the window's.
        pipeline.expireat(key, window.ends_at)
        count, _expiry_set = pipeline.execute()
    return int(count)


def _increment_database(backend: DatabaseCache, key: str, window: _Window) -> int:
    key = backend.make_and_validate_key(key)
    db = router.db_for_write(backend.cache_model_class)
    connection = connections[db]
    quote = connection.ops.quote_name
    table = quote(backend._table)  # type: ignore[attr-defined]
    cache_key, value_column, expires = quote("cache_key"), quote("value"), quote("expires")
    tz = UTC if settings.USE_TZ else None
    now = connection.ops.adapt_datetimefield_value(datetime.now(tz=tz).replace(microsecond=0))
    ends_at = connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(window.ends_at, tz))
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with transaction.atomic(using=db), connection.cursor() as cursor:
        # The statements below hold only table and column names of Django's cache table;
        # every value is a parameter.
        cursor.execute(
            f"DELETE FROM {table} WHERE {cache_key} = %s AND {expires} < %s",  # noqa: S608  # nosec B608 - names of the cache table only
            [key, now],
        )
        # The row must exist before it can be locked; of two requests that insert it at
        # once, the second's insert does nothing (or fails, on a database with no
        # ON CONFLICT) and it waits for the first's lock below.
        _insert_if_missing(connection, table, (cache_key, value_column, expires), key, ends_at)
        # On SQLite, whose transactions here take the write lock at BEGIN (IMMEDIATE),
        # the whole transaction is already serialised.
        cursor.execute(
            f"SELECT {value_column} FROM {table} WHERE {cache_key} = %s{lock}",  # noqa: S608  # nosec B608 - names of the cache table only
            [key],
        )
        (stored,) = cursor.fetchone()
        count = _decode(connection.ops.process_clob(stored)) + 1
        cursor.execute(
            f"UPDATE {table} SET {value_column} = %s, {expires} = %s "  # noqa: S608  # nosec B608 - names of the cache table only
            f"WHERE {cache_key} = %s",
            [_encode(backend, count), ends_at, key],
        )
    return count


def _insert_if_missing(
    connection: Any, table: str, columns: tuple[str, str, str], key: str, ends_at: Any
) -> None:
    encoded_zero = _encode(None, 0)
    values = f"({', '.join(columns)}) VALUES (%s, %s, %s)"
    if connection.features.supports_ignore_conflicts:
        statement = connection.ops.insert_statement(on_conflict=OnConflict.IGNORE)
        suffix = connection.ops.on_conflict_suffix_sql([], OnConflict.IGNORE, None, None)
        with connection.cursor() as cursor:
            cursor.execute(f"{statement} {table} {values} {suffix}", [key, encoded_zero, ends_at])
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table} {values}", [key, encoded_zero, ends_at])
    except IntegrityError:
        pass


def _encode(backend: DatabaseCache | None, count: int) -> str:
    """A value the way DatabaseCache stores it, so that cache.get() reads it too."""
    protocol = backend.pickle_protocol if backend is not None else pickle.HIGHEST_PROTOCOL
    return base64.b64encode(pickle.dumps(count, protocol)).decode("latin1")


def _decode(stored: str) -> int:
    # Only this module and DatabaseCache write these rows (the same pickling as cache.get).
    value = pickle.loads(base64.b64decode(stored.encode()))  # noqa: S301  # nosec B301 - written by this module and DatabaseCache only
    return value if isinstance(value, int) else 0


def _increment_add_incr(backend: Any, key: str, window: _Window) -> int:
    while True:
        # add() starts the window's counter only if it is not there; incr() keeps its expiry.
        if backend.add(key, 1, timeout=window.timeout):
            return 1
        try:
            return int(backend.incr(key))
        except ValueError:  # it expired between add() and incr(): start it again
            continue
