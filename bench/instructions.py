"""Instructions per request of the product's pages, in-process, under valgrind's callgrind.

    .venv/bin/python bench/instructions.py [PAGE ...]      (needs valgrind and PostgreSQL)

Unlike `make bench` this does not depend on how busy the machine is: the count of executed
instructions is the same to a few tenths of a per cent from run to run, so two commits can be
compared on a shared machine (check each out and run this in it). A page is requested N = 10
and N = 60 times after five warm-up requests, each run in a process of its own under callgrind;
the difference of the two totals divided by 50 is the page's instructions per request, without
the start-up. The database (`koolivarav_instructions` on the local PostgreSQL) holds the demo
school and the benchmark's parent with two children (bench/run.py's), made afresh by each run.
Pages: health, home, step1 (anonymous) and parent-home, profile (the parent, logged in).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DATABASE = "koolivarav_instructions"
PAGES = {
    "health": ("/health/", False),
    "home": ("/", False),
    "step1": ("/apply/", False),
    "parent-home": ("/", True),
    "profile": ("/profile/", True),
}
PARENT_EMAIL = "bench.parent@example.ee"
PARENT_PASSWORD = "pikk-parool-Bench-2026"  # noqa: S105 - the benchmark's own parent

# Run inside the measured process: N requests of one page after five warm-up requests.
REQUESTS = """
import sys
import django
django.setup()
from django.test import Client
path, count, logged_in = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
client = Client(HTTP_HOST="127.0.0.1")
if logged_in:
    client.get("/")
    answer = client.post("/", {"username": %r, "password": %r, "next": "/"})
    assert answer.status_code == 302, answer.status_code
for _ in range(5):
    assert client.get(path).status_code == 200
for _ in range(count):
    client.get(path)
"""

MAKE_PARENT = """
from datetime import date
from koolivarav.accounts.models import User
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.models import School, Student
school = School.objects.get(short_name="jpk")
user = User(school=school, email=%r, first_name="Bench", last_name="Parent",
            id_code=make_id_code(birth=date(1984, 5, 17), female=True, serial=333))
user.set_password(%r)
user.save()
user.children.add(*Student.objects.filter(school=school, is_active=True).order_by("pk")[:2])
"""


def environment(static_root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": "instructions-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "CACHE_URL": "redis://127.0.0.1:6379/14",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
        "STATIC_ROOT": str(static_root),
        "LOGIN_FAILURE_LIMIT": "100000000",
        "PYTHONPATH": str(ROOT),
        "PYTHONHASHSEED": "0",  # the same dict and set orders in every run
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def prepare(env: dict[str, str], work: Path) -> None:
    for command in ("dropdb", "createdb"):
        extra = ["--if-exists"] if command == "dropdb" else []
        subprocess.run([command, "-h", "127.0.0.1", "-U", "postgres", *extra, DATABASE], check=True)
    subprocess.run(["redis-cli", "-n", "14", "flushdb"], capture_output=True, check=False)
    manage(env, "migrate", "--no-input")
    manage(env, "collectstatic", "--no-input")
    manage(env, "load_demo", "--password-file", str(work / "admin-password.txt"))
    manage(env, "shell", "--no-imports", "-c", MAKE_PARENT % (PARENT_EMAIL, PARENT_PASSWORD))


def instructions(env: dict[str, str], path: str, count: int, logged_in: bool, out: Path) -> int:
    script = REQUESTS % (PARENT_EMAIL, PARENT_PASSWORD)
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            PYTHON,
            "-c",
            script,
            path,
            str(count),
            "1" if logged_in else "0",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    assert match, f"no total in {out}"
    return int(match.group(1))


def main(names: list[str]) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    unknown = set(names) - set(PAGES)
    if unknown:
        sys.exit(f"unknown pages {sorted(unknown)}; choose from {sorted(PAGES)}")
    with tempfile.TemporaryDirectory() as work:
        env = environment(Path(work) / "static")
        prepare(env, Path(work))
        for name in names or list(PAGES):
            path, logged_in = PAGES[name]
            few, many = (
                instructions(env, path, n, logged_in, Path(work) / f"{name}.{n}.out")
                for n in (10, 60)
            )
            print(f"{name:12} {path:10} {(many - few) / 50 / 1e6:7.2f} M instructions a request")


if __name__ == "__main__":
    main(sys.argv[1:])
