"""The restore drill, proved: the database dumped with pg_dump, restored into a new database,
migrated, and a parent logs in to an app server that runs on the restored copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from django.db import connection

from koolivarav.accounts.models import User
from koolivarav.conftest import free_port
from koolivarav.tests.processes import PYTHON, ROOT, Browser, Site, give_production_password

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "Varukoopia-proov-2031"


def _client_tools() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("backups are dumped with pg_dump: this run is on SQLite (set DATABASE_URL)")
    missing = [t for t in ("pg_dump", "pg_restore", "createdb", "dropdb") if not shutil.which(t)]
    if missing:
        if os.environ.get("CI"):
            raise AssertionError(f"PostgreSQL's client tools are missing: {missing}")
        pytest.skip(f"PostgreSQL's client tools are missing (postgresql-client): {missing}")


def _pg(tool: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    db = connection.settings_dict
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return subprocess.run(
        [
            tool,
            "--host", db.get("HOST") or "127.0.0.1",
            "--port", str(db.get("PORT") or 5432),
            "--username", db.get("USER") or "postgres",
            *arguments,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )  # fmt: skip


def _url(name: str) -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{name}"


def test_a_dump_restored_into_a_new_database_lets_a_parent_log_in(school, parent, tmp_path):
    _client_tools()
    give_production_password(parent, PASSWORD)
    dump = tmp_path / "koolivarav.dump"
    _pg(
        "pg_dump",
        "--format=custom",
        "--no-owner",
        "--file",
        str(dump),
        connection.settings_dict["NAME"],
    )
    # After the backup the parent leaves the live database: whatever logs them in now can
    # only be the restored copy.
    User.objects.filter(pk=parent.pk).delete()

    restored = f"koolivarav_restored_{uuid.uuid4().hex[:8]}"
    _pg("createdb", restored)
    site = None
    try:
        _pg("pg_restore", "--no-owner", "--exit-on-error", "--dbname", restored, str(dump))
        site = Site(smtp_port=free_port(), cache_url="locmemcache://")
        site.env["DATABASE_URL"] = _url(restored)
        migrated = subprocess.run(
            [PYTHON, str(Path(ROOT) / "manage.py"), "migrate", "--no-input"],
            env=site.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stderr
        assert "No migrations to apply" in migrated.stdout

        port = site.start_server()
        browser = Browser()
        browser.log_in(port, parent.email, PASSWORD)
        status, page, _headers = browser.get(port, "/")
        assert status == 200
        assert parent.first_name in page
        assert not User.objects.filter(pk=parent.pk).exists()  # and the live one has them not
    finally:
        if site is not None:
            site.stop()
        _pg("dropdb", "--if-exists", "--force", restored)
    assert site.server_errors() == ""
