"""The code directory may be read-only (a container's root filesystem): importing the settings
writes nothing, and every writable path comes from the configuration."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)

# Run inside the child process before Django: every attempt to create a folder or open a file
# for writing below the code directory fails loudly (an audit hook sees it even for root, whom
# a read-only mode does not stop).
GUARD = """
import os, sys
code = os.path.realpath(sys.argv[1])
def guard(event, args):
    if event in ("os.mkdir", "os.makedirs", "os.rename", "os.remove", "shutil.rmtree"):
        path = args[0]
    elif event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path, mode, flags = args
        writing = (mode and any(c in str(mode) for c in "wax+")) or (
            flags and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if not writing:
            return
    else:
        return
    if isinstance(path, int):
        return
    if os.path.realpath(os.fsdecode(path)).startswith(code + os.sep):
        raise PermissionError(f"written at import: {event} {os.fsdecode(path)}")
sys.addaudithook(guard)
sys.path.insert(0, code)
os.chdir(code)
sys.argv = [os.path.join(code, "manage.py"), *sys.argv[2:]]
import runpy
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def read_only_code(tmp_path_factory) -> Path:
    """A copy of the code (no var/, no .env), every file and folder made read-only."""
    copy = tmp_path_factory.mktemp("readonly") / "app"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "var", ".env", "__pycache__", "*.pyc", ".*cache"
        ),
    )
    for folder, _dirs, files in os.walk(copy):
        for name in files:
            os.chmod(Path(folder) / name, stat.S_IRUSR)
        os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
    yield copy
    for folder, _dirs, _files in os.walk(copy):
        os.chmod(folder, stat.S_IRWXU)


def _run(code: Path, *command: str, **environment: str) -> subprocess.CompletedProcess[str]:
    own = ("DJANGO_", "DEBUG", "SECRET", "SECURE_", "CACHE_URL", "ALLOWED_HOSTS", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.pop("STATIC_ROOT", None)
    env.update(PYTHONDONTWRITEBYTECODE="1", **environment)
    return subprocess.run(
        [sys.executable, "-c", GUARD, str(code), *command],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_guard_catches_a_folder_made_in_the_code_directory(read_only_code):
    result = _run(read_only_code, "shell", "-c", "import os; os.mkdir('var')", DEBUG="true")
    assert result.returncode != 0
    assert "written at import: os.mkdir" in result.stderr


def test_development_settings_write_nothing_when_imported(read_only_code):
    result = _run(read_only_code, "check", DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert not (read_only_code / "var").exists()


def test_production_runs_from_a_read_only_code_directory(read_only_code, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    environment = {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "jpk.ope.ee",
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
        "STATIC_ROOT": str(data / "static"),
    }
    check = _run(read_only_code, "check", "--deploy", "--fail-level", "ERROR", **environment)
    assert check.returncode == 0, check.stderr
    collected = _run(read_only_code, "collectstatic", "--no-input", "-v", "0", **environment)
    assert collected.returncode == 0, collected.stderr
    assert (data / "static" / "staticfiles.json").exists()
    migrated = _run(read_only_code, "migrate", "--no-input", "-v", "0", **environment)
    assert migrated.returncode == 0, migrated.stderr
    assert (data / "db.sqlite3").exists()
    assert not (read_only_code / "var").exists()


def test_the_writable_paths_come_from_the_environment():
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.STATIC_ROOT); print(settings.DATABASES['default']['NAME'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "true",
            "STATIC_ROOT": "/srv/koolivarav/static",
            "DATABASE_URL": "sqlite:////srv/koolivarav/demo.sqlite3",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/srv/koolivarav/static", "/srv/koolivarav/demo.sqlite3"]
