"""Real processes for the fault and scale-out tests.

App servers (gunicorn) and e-mail workers (manage.py run_worker) run with the production
settings module on the test database, so what they do is exactly what production does;
the test talks to them over HTTP like a browser and reads the database and the SMTP sink to
judge the outcome.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path

from django.conf import settings
from django.db import connection

from koolivarav.conftest import free_port

ROOT = Path(settings.BASE_DIR)
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
HOST = "jpk.example.ee"
SECRET_KEY = "process-tests-only-" + "k" * 40  # shared by every server: one session signer


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        user = db.get("USER") or "postgres"
        return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


_static_collected = False


def collect_static(env: dict[str, str]) -> None:
    """The production settings serve hashed static files: collect them once per test run."""
    global _static_collected
    if not _static_collected:
        subprocess.run(
            [PYTHON, str(ROOT / "manage.py"), "collectstatic", "--no-input", "-v", "0"],
            env=env,
            cwd=ROOT,
            check=True,
        )
        _static_collected = True


class Site:
    """N app servers and M workers against the test database, a cache and an SMTP port."""

    def __init__(self, *, smtp_port: int, cache_url: str, **environment: str) -> None:
        own = ("DJANGO_", "DEBUG", "SECRET", "SECURE_", "CACHE_URL", "ALLOWED_HOSTS")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
        self.env.update(
            DJANGO_SETTINGS_MODULE="config.settings.base",
            DEBUG="false",
            SECRET_KEY=SECRET_KEY,
            ALLOWED_HOSTS="*",
            SECURE_SSL_REDIRECT="false",
            SECURE_COOKIES="false",
            DATABASE_URL=database_url(),
            CACHE_URL=cache_url,
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp_port),
            EMAIL_TIMEOUT="5",
            LOG_LEVEL="WARNING",
            **environment,
        )
        self.servers: list[tuple[subprocess.Popen[bytes], int]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        collect_static(self.env)

    def _spawn(self, command: list[str], name: str) -> subprocess.Popen[bytes]:
        log = ROOT / "var" / f"process-test-{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as output:
            return subprocess.Popen(
                command, env=self.env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
            )

    def start_server(self, *, workers: int = 1) -> int:
        port = free_port()
        process = self._spawn(
            [GUNICORN, "config.wsgi", "--workers", str(workers), "--threads", "4", "--bind",
             f"127.0.0.1:{port}", "--timeout", "60", "--log-level", "warning"],
            "server",
        )  # fmt: skip
        self.servers.append((process, port))
        wait_until(lambda: _answers(port), 30, f"app server on port {port} starts")
        return port

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = self._spawn(
            [PYTHON, str(ROOT / "manage.py"), "run_worker", "--interval", "0.1"], "worker"
        )
        self.workers.append(worker)
        return worker

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in [p for p, _port in self.servers] + self.workers:
            if process.poll() is None:
                process.terminate()
        for process in [p for p, _port in self.servers] + self.workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def server_errors(self) -> str:
        """Tracebacks the processes wrote (a test fails on any it did not expect)."""
        return "\n".join(
            log.read_text(errors="replace")
            for log in self.logs
            if log.exists() and "Traceback" in log.read_text(errors="replace")
        )


def _answers(port: int) -> bool:
    try:
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        # The liveness probe: it answers as soon as the process does, database or not.
        connection_.request("GET", "/health/live", headers={"Host": HOST})
        return connection_.getresponse().status == 200
    except OSError:
        return False


class Browser:
    """One person's browser: cookies kept across requests, to whichever server is named."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.lock = threading.Lock()

    def request(
        self, port: int, method: str, path: str, form: dict[str, object] | None = None
    ) -> tuple[int, str, dict[str, str]]:
        headers = {"Host": HOST}
        body = None
        if form is not None:
            form = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **form}
            body = urllib.parse.urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        with self.lock:
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection_.request(method, path, body=body, headers=headers)
        response = connection_.getresponse()
        text = response.read().decode("utf-8", errors="replace")
        with self.lock:
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    if morsel.value and morsel["max-age"] != "0":
                        self.cookies[name] = morsel.value
                    else:
                        self.cookies.pop(name, None)
        return response.status, text, dict(response.headers)

    def get(self, port: int, path: str) -> tuple[int, str, dict[str, str]]:
        return self.request(port, "GET", path)

    def post(
        self, port: int, path: str, form: dict[str, object]
    ) -> tuple[int, str, dict[str, str]]:
        return self.request(port, "POST", path, form)

    def log_in(self, port: int, username: str, password: str, path: str = "/") -> None:
        self.get(port, path)
        status, text, _headers = self.post(
            port, path, {"username": username, "password": password, "next": "/"}
        )
        assert status == 302, f"login as {username} answered {status}: {_error_of(text)}"

    def log_in_administrator(self, port: int, user, password: str) -> None:
        """Password, then the authenticator app's code, as the admin demands."""
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from koolivarav.accounts.tests.factories import totp_code

        give_production_password(user, password)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        self.log_in(port, user.email, password, "/admin/login/")
        status, _text, _headers = self.post(
            port, "/admin/second-factor/", {"code": totp_code(device), "next": "/admin/"}
        )
        assert status == 302, f"second factor answered {status}"


def give_production_password(user, password: str) -> None:
    """The test settings hash with MD5 for speed; the servers know only production's hashers."""
    from django.contrib.auth.hashers import make_password

    from koolivarav.accounts.hashers import Argon2idHasher

    user.password = make_password(password, hasher=Argon2idHasher())
    user.save(update_fields=["password"])


def _error_of(text: str) -> str:
    found = re.search(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', text, re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip() if found else text[:300]
