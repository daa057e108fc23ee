"""Sessions read together with their user, the user's school and children: one query.

A logged-in page used to wait on three round trips before it could start: the session (from
the cache), the user (SELECT), the children (SELECT). Here the session row carries the id of
the user it logs in (the `user_id` column, see migration 0007), so one SELECT joins the
session, the user, the user's school and the children at that school. Nothing is cached:
every request reads the current rows, so whatever ends or changes a login — logging out, a
deactivated account, a new password (the session's password hash no longer matches), a new
school — counts on the very next request, as it did before.

Django's own `auth.get_user()` still decides who is logged in and checks the session against
the password hash: the user read here is only handed to the authentication backend in place of
its own query (`preloaded_user`). Whenever something is unusual (a session from elsewhere
without the column filled in, one naming another user than the column, a backend of
another app), the ordinary path runs instead.

The store is Django's database store otherwise, with two savings at login: the new session
key (`cycle_key`) is written once, when the session is saved, instead of inserted empty and
updated at the end of the request; and saving again without a change writes nothing.
"""

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.db import IntegrityError, connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.expressions import Col
from django.db.models.sql import Query
from django.utils import timezone
from django.utils.crypto import get_random_string

from koolivarav.schools.models import School, Student

from .models import User

SESSION_TABLE = "django_session"
USER_COLUMN = "user_id"

# The user the current request's session named, read with it; see `preloaded`.
_preloaded: ContextVar[User | None] = ContextVar("koolivarav_preloaded_user", default=None)


@contextmanager
def preloaded(user: User | None) -> Iterator[None]:
    """Within the block, `preloaded_user(user.pk)` is this user (an authentication backend
    asks for it instead of querying)."""
    token = _preloaded.set(user)
    try:
        yield
    finally:
        _preloaded.reset(token)


def preloaded_user(user_id: Any) -> User | None:
    user = _preloaded.get()
    return user if user is not None and user.pk == user_id else None


class SessionStore(db.SessionStore):
    """Django's database sessions, with the logged-in user's id in a column of its own."""

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._insert_pending = False
        self._written: tuple[str, str] | None = None  # (key, data) this store last wrote

    # --- reading -------------------------------------------------------------------------------

    def load_with_user(self) -> User | None:
        """Load the session and, in the same query, the user it logs in (with their school and
        their children at it, `loaded_children`). None when no user was read this way: no
        session, nobody logged in, or a session this store cannot vouch for."""
        if self.session_key is None or hasattr(self, "_session_cache"):
            return None
        using = router.db_for_read(self.model)
        rows = _joined_rows(using=using, session_key=self.session_key, now=timezone.now())
        self.accessed = True
        if not rows:  # no such session, or expired: as Django's load() does
            self._session_key = None
            self._session_cache = {}
            return None
        self._session_cache = data = self.decode(rows[0][0])
        user = _user_from(using=using, rows=rows)
        if user is None or data.get(SESSION_KEY) != str(user.pk):
            return None
        return user

    # --- writing -------------------------------------------------------------------------------

    def cycle_key(self) -> None:
        """A new key for the same data (at login): written when the session is saved."""
        data = self._session  # type: ignore[attr-defined]
        old_key = self.session_key
        self._session_key = get_random_string(32, VALID_KEY_CHARS)
        self._session_cache = data
        self._insert_pending = True
        self.modified = True
        if old_key:
            self.delete(old_key)

    def create(self) -> None:
        """A new session with a new key. Django's store first asks whether a random key exists;
        the insert itself refuses a clash (one in 2^165), so the question is left out."""
        while True:
            self._session_key = get_random_string(32, VALID_KEY_CHARS)
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]
        encoded = self.encode(data)
        if not (must_create or self._insert_pending) and self._written == (
            self.session_key,
            encoded,
        ):
            return  # this request wrote exactly this a moment ago
        user_id = User._meta.pk.to_python(data[SESSION_KEY]) if SESSION_KEY in data else None  # type: ignore[union-attr]
        using = router.db_for_write(self.model)
        connection = connections[using]
        expires = connection.ops.adapt_datetimefield_value(self.get_expiry_date())
        if not (must_create or self._insert_pending):
            with connection.cursor() as cursor:
                cursor.execute(
                    _write_sql(connection.vendor, "update"),
                    [encoded, expires, user_id, self.session_key],
                )
                if cursor.rowcount != 1:  # ended meanwhile (a logout elsewhere)
                    raise UpdateError
        else:
            while True:
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            _write_sql(connection.vendor, "insert"),
                            [self.session_key, encoded, expires, user_id],
                        )
                except IntegrityError:
                    # A key that exists already (one in 2^165): take another, unless in a
                    # transaction, which the clash has spoilt (no savepoint: a round trip
                    # on every login for what never happens).
                    if must_create or connection.in_atomic_block:
                        raise CreateError from None
                    self._session_key = get_random_string(32, VALID_KEY_CHARS)
                    continue
                break
        self._insert_pending = False
        self._written = (self.session_key, encoded)

    async def asave(self, must_create: bool = False) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self.save)(must_create)

    async def acycle_key(self) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self.cycle_key)()

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        # One DELETE (Django's store reads the row first, then deletes it).
        self.model.objects.filter(session_key=session_key).delete()
        if self._written is not None and self._written[0] == session_key:
            self._written = None


# --- the SQL --------------------------------------------------------------------------------------


_MODELS: tuple[tuple[str, type[Model]], ...] = (("u", User), ("sc", School), ("c", Student))


def _fields(model: type[Model]) -> list[Any]:
    return list(model._meta.concrete_fields)


def _quote(vendor: str) -> Any:
    return next(c for c in connections.all() if c.vendor == vendor).ops.quote_name


@functools.cache
def _write_sql(vendor: str, kind: str) -> str:
    """The session's INSERT or UPDATE, with the user's id in its column."""
    table, user = _quote(vendor)(SESSION_TABLE), _quote(vendor)(USER_COLUMN)
    if kind == "insert":
        return (
            f"INSERT INTO {table} (session_key, session_data, expire_date, {user})"  # noqa: S608  # nosec B608 - names only
            " VALUES (%s, %s, %s, %s)"
        )
    values = f"session_data = %s, expire_date = %s, {user} = %s"
    return f"UPDATE {table} SET {values} WHERE session_key = %s"  # noqa: S608  # nosec B608 - names only


@functools.cache
def _joined_sql(vendor: str) -> str:
    """SELECT the session, its user, the user's school and children (one row per child)."""
    quote = _quote(vendor)
    through = User.children.through._meta

    def column(model: type[Model], name: str) -> str:
        return quote(model._meta.get_field(name).column)  # type: ignore[union-attr]

    def columns(alias: str, model: type[Model]) -> str:
        return ", ".join(f"{alias}.{quote(field.column)}" for field in _fields(model))

    user_id, school_id = column(User, "id"), column(School, "id")
    select = ", ".join(["s.session_data", *(columns(alias, model) for alias, model in _MODELS)])
    joins = (
        f"{quote(SESSION_TABLE)} s"
        f" LEFT JOIN {quote(User._meta.db_table)} u ON u.{user_id} = s.{quote(USER_COLUMN)}"
        f" LEFT JOIN {quote(School._meta.db_table)} sc"
        f" ON sc.{school_id} = u.{column(User, 'school')}"
        f" LEFT JOIN {quote(through.db_table)} uc"
        f" ON uc.{quote(through.get_field('user').column)} = u.{user_id}"
        f" LEFT JOIN {quote(Student._meta.db_table)} c"
        f" ON c.{column(Student, 'id')} = uc.{quote(through.get_field('student').column)}"
        f" AND c.{column(Student, 'school')} = u.{column(User, 'school')}"
    )
    # The children in the order of accounts.selectors.children_of.
    order = f"c.{column(Student, 'last_name')}, c.{column(Student, 'first_name')}"
    where = "s.session_key = %s AND s.expire_date > %s"
    return f"SELECT {select} FROM {joins} WHERE {where} ORDER BY {order}"  # noqa: S608  # nosec B608 - names from the models only


@functools.lru_cache(maxsize=64)
def _converters(connection: BaseDatabaseWrapper) -> list[tuple[int, list[Any], Col]]:
    """The ORM's own conversions of the selected columns (dates on SQLite, JSON, booleans),
    as SQLCompiler.get_converters finds them; kept per connection (they are bound to it)."""
    columns: list[Any] = [None]  # session_data
    for alias, model in _MODELS:
        columns += [Col(alias, field) for field in _fields(model)]
    compiler = Query(User).get_compiler(connection=connection)
    return [
        (position, functions, column)
        for position, (functions, column) in compiler.get_converters(columns).items()
    ]


def _joined_rows(*, using: str, session_key: str, now: datetime) -> list[list[Any]]:
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            _joined_sql(connection.vendor),
            [session_key, connection.ops.adapt_datetimefield_value(now)],
        )
        rows = [list(row) for row in cursor.fetchall()]
    converters = _converters(connection)
    for row in rows:
        for position, functions, column in converters:
            value = row[position]
            for function in functions:
                value = function(value, column, connection)
            row[position] = value
    return rows


def _user_from(*, using: str, rows: list[list[Any]]) -> User | None:
    """The user of the rows, with `user.school` and `user.loaded_children` (the children at
    that school) set; None when the session has no user in its column."""
    values: list[list[Any]] = []
    start = 1
    for _alias, model in _MODELS:
        width = len(_fields(model))
        values.append([row[start : start + width] for row in rows])
        start += width
    user_rows, school_rows, child_rows = values
    if user_rows[0][0] is None:
        return None
    user = User.from_db(using, [f.attname for f in _fields(User)], user_rows[0])
    school = None
    if school_rows[0][0] is not None:
        school = School.from_db(using, [f.attname for f in _fields(School)], school_rows[0])
        user.school = school
    children = []
    for child_values in child_rows:
        if child_values[0] is None:  # no children, or one at another school
            continue
        child = Student.from_db(using, [f.attname for f in _fields(Student)], child_values)
        if school is not None:
            child.school = school
        children.append(child)
    user.loaded_children = children  # type: ignore[attr-defined]
    return user
