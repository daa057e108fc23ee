"""The floor and the peer: bare Django and django-allauth, served beside the product.

`../shared/bench-peer/` (BENCH_PEER_DIR) is a minimal Django project: `/hello` is a trivial
view through Django's default middleware — the floor every page is divided by — and allauth's
login, signup and e-mail pages are the peer a school could pick instead. It has its own virtual
environment (allauth is no dependency of the product). The folder is copied out first (the
shared one is read-only in CI); the environment is kept in var/bench-peer/ between runs and
made again when the peer's requirements change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(os.environ.get("BENCH_PEER_DIR", ROOT.parent / "shared" / "bench-peer"))
HOME = ROOT / "var" / "bench-peer"
DATABASE = "bench_floor"
PASSWORD = "Pikk-bench-salasõna"  # noqa: S105 - the benchmark's own made-up account
EMAIL = "peer@example.ee"

MAKE_USER = f"""
from django.contrib.auth.models import User
from allauth.account.models import EmailAddress
user = User.objects.create_user("peer", {EMAIL!r}, {PASSWORD!r})
EmailAddress.objects.create(user=user, email={EMAIL!r}, verified=True, primary=True)
"""

# Django's own Argon2 check, as the peer's login makes it (Django's default parameters).
HASH_TIMER = """
import statistics, sys, time
from django.contrib.auth.hashers import check_password, make_password
encoded = make_password({password!r})
check_password({password!r}, encoded)
for line in sys.stdin:
    times = []
    for _ in range(int(line)):
        start = time.perf_counter()
        check_password({password!r}, encoded)
        times.append(time.perf_counter() - start)
    print(statistics.median(times), flush=True)
"""


class Peer:
    """The peer's gunicorn (as many sync workers as the product's) on the shared PostgreSQL."""

    def __init__(self, *, port: int, workers: int) -> None:
        self.port = port
        self.workers = workers
        self.project = HOME / "floor"
        self.python = HOME / "venv" / "bin" / "python"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "floor.settings_pg",
            "FLOOR_PG_NAME": DATABASE,
            # allauth's rate limits stay on, far above one benchmark client (as the product's).
            "FLOOR_RATELIMITS": "high",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return (SOURCE / "requirements.txt").exists()

    def prepare(self) -> None:
        """Copy the project out, (re)make its virtual environment, make its database."""
        requirements = (SOURCE / "requirements.txt").read_bytes()
        stamp = HOME / "venv" / ".requirements-sha256"
        digest = hashlib.sha256(requirements).hexdigest()
        if not stamp.exists() or stamp.read_text() != digest:
            shutil.rmtree(HOME / "venv", ignore_errors=True)
            HOME.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(HOME / "venv")], check=True)
            subprocess.run(
                [
                    str(self.python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "-r",
                    str(SOURCE / "requirements.txt"),
                ],
                check=True,
            )
            stamp.write_text(digest)
        shutil.rmtree(self.project, ignore_errors=True)
        shutil.copytree(SOURCE / "floor", self.project)
        for command in (["dropdb", "--if-exists", DATABASE], ["createdb", DATABASE]):
            subprocess.run(
                [*command[:1], "-h", "127.0.0.1", "-U", "postgres", *command[1:]], check=True
            )
        self.manage("migrate", "-v0")
        self.shell(MAKE_USER)

    def manage(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(self.python), "manage.py", *args],
            cwd=self.project,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"peer manage.py {' '.join(args)} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "--no-imports", "-c", code)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(HOME / "venv" / "bin" / "gunicorn"),
                "floor.wsgi_dispatch:application",
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=self.project,
            env=self.env,
            stdout=subprocess.DEVNULL,
        )

    def hash_timer(self) -> subprocess.Popen[str]:
        """A process that answers "n" with the median time of n of the peer's hash checks."""
        return subprocess.Popen(
            [
                str(self.python),
                "-c",
                "import django; django.setup()\n" + HASH_TIMER.format(password=PASSWORD),
            ],
            cwd=self.project,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        output = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in output.stdout.split()]

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def wait_until_up(self, get: object) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get("/hello")[0] == 200:  # type: ignore[operator]
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the peer's gunicorn did not answer within 60 s")
