"""Test overrides only: everything else comes from base, wired the same way as production."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("CACHE_URL", "locmemcache://")

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, STATIC_ROOT, STORAGES

# Hashing speed is not under test here; tests that are about the hasher say so explicitly.
# (Argon2 second: users the process tests give a production hash can log in here too.)
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "koolivarav.accounts.hashers.Argon2idHasher",
]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The browser journeys run over plain HTTP, where a browser refuses __Host- cookies.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_NAME = "csrftoken"
LANGUAGE_COOKIE_SECURE = False
TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
# A test that runs run_worker in-process sees only its own tasks; the daily housekeeping the
# worker queues is tested with real worker processes (koolivarav/operations/tests).
WORKER_STARTUP_HOOKS = []

# A file, not memory, so that the processes the fault and scale-out tests start (app servers,
# workers) open the same test database as the tests themselves.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # TEST_SQLITE_NAME lets several test runs share one checkout without sharing a database.
    name = os.environ.get("TEST_SQLITE_NAME", "test-db")
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"{name}.sqlite3")}
# The production settings create no folders; the tests keep their files (the SQLite test
# database, the logs of the processes they start, collected static files) in var/.
(BASE_DIR / "var").mkdir(exist_ok=True)
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without it
