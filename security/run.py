"""make security: bandit on the code, wapiti and sqlmap against the running site.

The site runs as in production (production settings module, gunicorn, HTTPS with a
self-signed certificate on 127.0.0.1, a worker sending to a local SMTP sink), on a fresh
SQLite database with the demo school. Only the lock-out and the rate limits are raised: the
scanners send thousands of requests from one address and would otherwise spend the scan on
"429 Too many requests" (SECURITY.md §3 advises the same).

wapiti attacks the public forms anonymously; sqlmap attacks those and the forms behind a
login (application step 2, the parent's profile, the administrator's second factor, the
admin lists), each with the session a person would have there. Both run at the same time
(the site has four request slots; one scanner alone uses one), and wapiti's shellshock module
runs alone at the end: it sends its payload in every header, the Cookie too, so the site
sets a new CSRF cookie in wapiti's cookie jar and every module after it would post tokens
for the old one (three quarters of all attack requests were refused that way).

Every scanner request is counted from gunicorn's access log, per form: how many payload
requests reached the view and how many the CSRF check refused (403).

Writes docs/security-scan.md and exits 1 if any finding is above "low" and not among the
explained ones (EXPLAINED below, each with its reason), or if the CSRF check refused most of
the payloads sent to a form.
"""

from __future__ import annotations

import csv
import http.cookiejar
import json
import os
import platform
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
REPORT = ROOT / "docs" / "security-scan.md"
WAPITI_MODULES = (
    "sql,blindsql,xss,permanentxss,exec,file,crlf,redirect,csrf,csp,cookieflags,"
    "http_headers,methods,backup,xxe,htaccess"
)
# Alone and last: it replaces the CSRF cookie in wapiti's cookie jar (see the docstring).
WAPITI_LAST_MODULE = "shellshock"
WAPITI_SECONDS = int(os.environ.get("WAPITI_SECONDS", "600"))
SQLMAP_PARALLEL = int(os.environ.get("SQLMAP_PARALLEL", "2"))
SETUP_AGENT = "koolivarav-scan-setup"
SHELLSHOCK_AGENT = "() {"  # how the shellshock module's payload starts

# Findings that are not vulnerabilities of this site, each with the reason (checked by hand
# against the request wapiti quotes; see docs/security.md).
EXPLAINED = {
    "Cross Site Request Forgery": (
        "wapiti 3.0.4 does not know Django's token field name (csrfmiddlewaretoken); every "
        "form carries the token and the tests prove a POST without it gets 403 "
        "(koolivarav/tests/test_bad_input.py::test_every_form_refuses_a_post_without_the_csrf_token)"
    ),
    "HTTP Secure Headers": (
        "only X-XSS-Protection is reported: the header is obsolete (browsers removed the "
        "filter; OWASP advises against it) and the CSP replaces it"
    ),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Site:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}/"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.smtp_port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG"))},
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
            # The production default: one cache for both gunicorn workers. (A per-process
            # cache would split the sessions, read through it, between the two workers.)
            "CACHE_URL": "dbcache://koolivarav_cache",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp_port),
            "LOG_LEVEL": "WARNING",
            "LOGIN_FAILURE_LIMIT": "100000000",
            "APPLICATION_FORM_PER_ADDRESS_HOURLY": "100000000",
            "APPLICATIONS_PER_EMAIL_HOURLY": "100000000",
            "PASSWORD_RESETS_PER_ADDRESS_HOURLY": "100000000",
            "PASSWORD_RESETS_PER_ACCOUNT_HOURLY": "100000000",
        }

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [PYTHON, str(ROOT / "manage.py"), *args],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)}:\n{result.stderr[-2000:]}")
        return result.stdout

    def start(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Sink

        cert, key = self.work / "cert.pem", self.work / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.manage("migrate", "--no-input")
        self.manage("createcachetable")
        self.manage("collectstatic", "--no-input")
        self.manage("load_demo", "--port", str(self.port), "--password-file", str(self.work / "pw"))
        self.manage(
            "shell",
            "-c",
            "from koolivarav.schools.models import School; "
            f"School.objects.update(portal_url='{self.url}')",
        )
        self.smtp = Controller(Sink(), hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()
        log = (self.work / "server.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "config.wsgi",
                    "--workers",
                    "2",
                    "--threads",
                    "2",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--certfile",
                    str(cert),
                    "--keyfile",
                    str(key),
                    "--timeout",
                    "120",
                    "--access-logfile",
                    str(self.work / "access.log"),
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.processes.append(
            subprocess.Popen(
                [PYTHON, str(ROOT / "manage.py"), "run_worker"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        context = ssl._create_unverified_context()  # noqa: S323 - our own self-signed cert
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "health/", context=context) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the site did not start")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.smtp.stop()

    def tracebacks(self) -> Counter[str]:
        """The tracebacks the site logged, by the logger that logged them."""
        loggers: Counter[str] = Counter()
        logger = ""
        for line in (self.work / "server.log").read_text(errors="replace").splitlines():
            if record := _LOG_RECORD.match(line):
                logger = record["logger"]
            elif line.startswith("Traceback"):
                loggers[logger] += 1
        return loggers

    def refusals(self) -> Counter[str]:
        """Why requests were refused with 403, as Django logged it (CSRF reasons)."""
        reasons: Counter[str] = Counter()
        for line in (self.work / "server.log").read_text(errors="replace").splitlines():
            if "django.security.csrf" in line and "Forbidden (" in line:
                reasons[line.split("Forbidden (", 1)[1].split(")", 1)[0]] += 1
        return reasons

    def requests(self, start: int = 0, end: int | None = None) -> list[Request]:
        """The requests in gunicorn's access log from line `start` to line `end`."""
        lines = (self.work / "access.log").read_text(errors="replace").splitlines()[start:end]
        return [request for line in lines if (request := Request.parse(line))]

    def log_position(self) -> int:
        time.sleep(1)  # gunicorn writes a line after the answer has gone out
        return len((self.work / "access.log").read_text(errors="replace").splitlines())


_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ (?P<logger>\S+) ")
# Django logs a SuspiciousOperation (answered 400: a filter the admin does not offer, a
# forged host) with its traceback under django.security.*; any other traceback is an error.
SUSPICIOUS = "django.security."

_ACCESS_LINE = re.compile(
    r'^\S+ \S+ \S+ \[[^\]]*\] "(?P<line>.*)" (?P<status>\d{3}) \S+ "(?P<referer>.*)" "(?P<agent>.*)"$'
)


@dataclass(frozen=True)
class Request:
    """One line of gunicorn's access log."""

    method: str
    path: str
    query: str
    status: int
    agent: str

    @classmethod
    def parse(cls, line: str) -> Request | None:
        match = _ACCESS_LINE.match(line)
        if match is None:
            return None
        parts = match["line"].split(" ")
        target = urllib.parse.urlsplit(parts[1] if len(parts) > 1 else "")
        return cls(parts[0], target.path, target.query, int(match["status"]), match["agent"])

    @property
    def carries_input(self) -> bool:
        """A request with parameters: a form's POST, or a query string (an admin list)."""
        return self.method == "POST" or bool(self.query)


@dataclass
class Reach:
    """How the payload requests sent to one form were answered."""

    sent: int = 0
    refused: int = 0  # 403: the CSRF check stopped them before the view
    errors: int = 0  # 500 or more

    @property
    def reached(self) -> int:
        return self.sent - self.refused

    def count(self, request: Request) -> None:
        self.sent += 1
        self.refused += request.status == 403
        self.errors += request.status >= 500

    @property
    def share(self) -> str:
        return f"{self.reached / self.sent:.0%}" if self.sent else "-"


def reach_by_form(requests: list[Request]) -> dict[str, Reach]:
    forms: dict[str, Reach] = {}
    for request in requests:
        if request.carries_input:
            forms.setdefault(f"{request.method} {request.path}", Reach()).count(request)
    return forms


class Browser:
    """One visitor's cookies: logs in and fills forms the way a person does, so that a scan
    can start from that person's session (its cookies go to sqlmap)."""

    def __init__(self, site: Site) -> None:
        self.url = site.url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ssl._create_unverified_context()),  # noqa: S323
            urllib.request.HTTPCookieProcessor(self.jar),
            _NoRedirects(),
        )

    def open(self, path: str, fields: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Status, page and Location of a GET (or a POST of `fields`)."""
        request = urllib.request.Request(  # noqa: S310 - our own site over HTTPS
            self.url + path.lstrip("/"),
            data=urllib.parse.urlencode(fields).encode() if fields is not None else None,
            headers={"Referer": self.url, "User-Agent": SETUP_AGENT},
        )
        try:
            with self.opener.open(request, timeout=60) as answer:
                return answer.status, answer.read().decode(), answer.headers.get("Location", "")
        except urllib.error.HTTPError as answer:
            return (
                answer.code,
                answer.read().decode(errors="replace"),
                answer.headers.get("Location", ""),
            )

    def submit(self, path: str, fields: dict[str, str]) -> str:
        """Fills the form at `path` and sends it; where the site redirects to (it must)."""
        _status, page, _location = self.open(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token is None:
            raise RuntimeError(f"no form at {path}")
        status, _page, location = self.open(path, {**fields, "csrfmiddlewaretoken": token[1]})
        if status != 302:
            raise RuntimeError(f"the form at {path} answered {status}, not a redirect")
        return location

    @property
    def cookies(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the redirect comes back as an HTTPError with its Location


def run_bandit(work: Path) -> dict[str, object]:
    out = work / "bandit.json"
    subprocess.run(
        [str(BIN / "bandit"), "-r", "koolivarav", "config", "-x",
         "*/tests/*,*/migrations/*,*/conftest.py",
         "-f", "json", "-o", str(out), "-q"],
        cwd=ROOT, check=False,
    )  # fmt: skip
    data = json.loads(out.read_text())
    severities = Counter(r["issue_severity"] for r in data["results"])
    return {
        "files": len(data["metrics"]) - 1,
        "lines": data["metrics"]["_totals"]["loc"],
        "high": severities.get("HIGH", 0),
        "medium": severities.get("MEDIUM", 0),
        "low": severities.get("LOW", 0),
        "tests": Counter(r["test_id"] for r in data["results"]),
    }


@dataclass(frozen=True)
class WapitiRun:
    name: str
    path: str  # where the crawl starts
    scope: str  # "folder": the whole site; "page": that page's own forms only
    modules: str
    seconds: int


# wapiti attacks one form after another and gives each module a fixed time, so the login
# form on the home page would take most of it: the forms on their own pages get a run each.
WAPITI_RUNS = [
    WapitiRun("site", "", "folder", WAPITI_MODULES, WAPITI_SECONDS),
    WapitiRun("application form", "apply/", "page", WAPITI_MODULES, WAPITI_SECONDS * 3 // 4),
    WapitiRun("password reset", "password-reset/", "page", WAPITI_MODULES, WAPITI_SECONDS // 2),
]
WAPITI_LAST = WapitiRun("shellshock", "", "folder", WAPITI_LAST_MODULE, 120)


def run_wapiti(site: Site, work: Path, run: WapitiRun) -> dict[str, object]:
    out = work / f"wapiti-{run.name.replace(' ', '-')}.json"
    home = work / f"wapiti-home-{run.name.replace(' ', '-')}"
    home.mkdir()
    started = time.monotonic()
    completed = subprocess.run(
        # (No -x for the logout URL: wapiti 3.0.4's exclusion patterns crash on Python 3.11;
        # logout is POST-only and not on any page an anonymous crawl sees.)
        ["wapiti", "-u", site.url + run.path, "--scope", run.scope, "-m", run.modules,
         "--no-bugreport", "--flush-session", "--verify-ssl", "0",
         # Django refuses an HTTPS POST without a same-site Referer (CSRF); a browser sends
         # one, wapiti does not: without it every attack would end at the 403 page.
         "-H", f"Referer: {site.url}",
         # Attacking the CSRF token itself only ever meets the 403 page.
         "--skip", "csrfmiddlewaretoken",
         "--max-scan-time", str(run.seconds), "--max-attack-time", str(run.seconds // 6),
         "-f", "json", "-o", str(out), "--color", "-v", "0"],
        check=False, capture_output=True, text=True, env={**os.environ, "HOME": str(home)},
    )  # fmt: skip
    if not out.exists():
        output = completed.stdout[-2000:] + completed.stderr[-2000:]
        raise RuntimeError(f"wapiti ({run.name}) wrote no report:\n{output}")
    data = json.loads(out.read_text())
    return {
        "name": run.name,
        "seconds": time.monotonic() - started,
        "findings": {name: items for name, items in data["vulnerabilities"].items() if items},
        "anomalies": {name: items for name, items in data.get("anomalies", {}).items() if items},
    }


def merge_wapiti(runs: list[dict[str, object]]) -> dict[str, object]:
    """One report from several wapiti runs; a finding two runs made counts once."""
    merged: dict[str, dict[str, dict[str, object]]] = {"findings": {}, "anomalies": {}}
    for run in runs:
        for kind in merged:
            for name, items in run[kind].items():  # type: ignore[attr-defined]
                for item in items:
                    key = json.dumps(item, sort_keys=True)
                    merged[kind].setdefault(name, {})[key] = item
    return {kind: {name: list(items.values()) for name, items in found.items()}
            for kind, found in merged.items()}  # fmt: skip


@dataclass(frozen=True)
class SqlmapTarget:
    name: str
    path: str
    fields: str  # a form's POST data, or an admin list's query string (method GET)
    parameters: str  # the ones sqlmap attacks (not the session's cookies, not the token)
    session: str = ""  # whose: "" anonymous, or a key of the sessions prepare_sessions makes
    method: str = "POST"

    @property
    def tag(self) -> str:
        """sqlmap's User-Agent for this target, so that the access log tells targets apart."""
        return f"sqlmap/1.7.2 (koolivarav scan: {self.name})"


SQLMAP_TARGETS = [
    SqlmapTarget("login", "", "username=mari%40example.ee&password=salasona&next=%2F",
                 "username,password,next"),
    SqlmapTarget("application step 1", "apply/",
                 "child_id_codes={child}&parent_id_code={parent}&first_name=Mari"
                 "&last_name=Maasikas&email=mari%40example.ee&phone=55512345",
                 "child_id_codes,parent_id_code,first_name,last_name,email,phone"),
    # After step 1 (the session holds its data). The address typed again differs from step
    # 1's on purpose: a matching one would send the application at sqlmap's first request
    # and every later one would meet "already sent" instead of the form.
    SqlmapTarget("application step 2", "apply/confirm/", "email_again=mari%40example.org",
                 "email_again", session="step 2"),
    SqlmapTarget("password reset", "password-reset/", "email=mari%40example.ee", "email"),
    SqlmapTarget("profile (a logged-in parent)", "profile/",
                 "current_password=&password1=&password2=&phone=5551+2345"
                 "&address=Aia+tn+5-12%2C+J%C3%B5geva+linn",
                 "current_password,password1,password2,phone,address", session="parent"),
    SqlmapTarget("admin login", "admin/login/",
                 "username=admin%40jpk.example&password=salasona&next=%2Fadmin%2F",
                 "username,password,next"),
    # An administrator who passed the password; the code is one the app showed and the
    # administrator already used (a code works once), so every attempt meets the form.
    SqlmapTarget("admin second factor", "admin/second-factor/", "code={spent}&next=%2Fadmin%2F",
                 "code,next", session="admin, password only"),
    SqlmapTarget("admin list: applications", "admin/applications/application/",
                 "q=Maasikas&status__exact=pending&created_at__gte=2026-01-01&o=1&p=1",
                 "q,status__exact,created_at__gte,o,p", session="admin", method="GET"),
    SqlmapTarget("admin list: students", "admin/schools/student/",
                 "q=Tamm&is_active__exact=1&class_name=5A&o=2&p=1",
                 "q,is_active__exact,class_name,o,p", session="admin", method="GET"),
    SqlmapTarget("admin list: users", "admin/accounts/user/",
                 "q=Maasikas&role__exact=parent&is_active__exact=1&o=1&p=1",
                 "q,role__exact,is_active__exact,o,p", session="admin", method="GET"),
    SqlmapTarget("admin list: audit log", "admin/accounts/auditentry/",
                 "q=Maasikas&action__exact=approved&at__gte=2026-01-01&o=1&p=1",
                 "q,action__exact,at__gte,o,p", session="admin", method="GET"),
    SqlmapTarget("admin list: e-mails", "admin/notifications/email/",
                 "q=example&status__exact=sent&kind=accounts.login_details"
                 "&created_at__gte=2026-01-01&o=1&p=1",
                 "q,status__exact,kind,created_at__gte,o,p", session="admin", method="GET"),
]  # fmt: skip

# Made inside the site's own process: a parent with a password of their own, and an
# authenticator app for the demo administrator (its key comes back to make codes with).
SETUP_DATA = """
import json, os
from django_otp.plugins.otp_totp.models import TOTPDevice
from koolivarav.accounts.models import User
from koolivarav.schools.models import School, Student
from koolivarav.schools.demo import make_id_code
import datetime
school = School.objects.get()
parent = User(school=school, email="skanner@example.ee", first_name="Mari",
              last_name="Skanner", role=User.Role.PARENT)
parent.set_password(os.environ["SCAN_PARENT_PASSWORD"])
parent.save()
admin = User.objects.get(school=school, email="admin@jpk.example")
device = TOTPDevice.objects.create(user=admin, name="scan", confirmed=True)
print(json.dumps({
    "key": device.key,
    "child": Student.objects.filter(is_active=True).first().id_code,
    "parent": make_id_code(birth=datetime.date(1984, 5, 17), female=True, serial=271),
}))
"""


def totp_code(key: str) -> str:
    """The code the administrator's authenticator app shows now."""
    from django_otp.oath import TOTP

    return f"{TOTP(bytes.fromhex(key), step=30, t0=0, digits=6, drift=0).token():06d}"


def prepare_sessions(site: Site, work: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The sessions the scans start from (their cookies), and the values the forms need."""
    parent_password = secrets.token_urlsafe(12)
    made = json.loads(
        site.manage("shell", "-c", SETUP_DATA, env={"SCAN_PARENT_PASSWORD": parent_password})
        .strip()
        .splitlines()[-1]
    )
    values = {"child": made["child"], "parent": made["parent"]}
    admin_password = (work / "pw").read_text().strip()
    sessions = {}

    applicant = Browser(site)
    applicant.submit(
        "apply/",
        {"child_id_codes": made["child"], "parent_id_code": made["parent"],
         "first_name": "Mari", "last_name": "Maasikas", "email": "mari@example.ee",
         "phone": "55512345"},
    )  # fmt: skip
    sessions["step 2"] = applicant.cookies

    parent = Browser(site)
    parent.submit("", {"username": "skanner@example.ee", "password": parent_password})
    sessions["parent"] = parent.cookies

    admin = Browser(site)
    login = {"username": "admin@jpk.example", "password": admin_password, "next": "/admin/"}
    admin.submit("admin/login/?next=/admin/", login)
    code = totp_code(made["key"])
    admin.submit("admin/second-factor/?next=/admin/", {"code": code, "next": "/admin/"})
    if admin.open("admin/")[0] != 200:
        raise RuntimeError("the administrator did not get into the admin")
    sessions["admin"] = admin.cookies

    halfway = Browser(site)
    halfway.submit("admin/login/?next=/admin/", login)
    sessions["admin, password only"] = halfway.cookies
    values["spent"] = code
    return sessions, values


def run_sqlmap_target(
    site: Site, work: Path, target: SqlmapTarget, sessions: dict[str, str], values: dict[str, str]
) -> dict[str, object]:
    started = time.monotonic()
    fields = target.fields.format(**values)
    url = site.url + target.path
    folder = work / f"sqlmap-{SQLMAP_TARGETS.index(target)}"
    folder.mkdir()
    out = folder / "results.csv"
    command = ["sqlmap", "--batch", "--level", "2", "--risk", "1", "--technique", "BEU",
               # The scanned site runs on SQLite: other databases' payloads cannot work there.
               "--dbms", "SQLite", "-p", target.parameters, "-A", target.tag,
               "--referer", url, "--results-file", str(out), "--output-dir", str(folder),
               "--disable-coloring", "--flush-session"]  # fmt: skip
    if target.method == "GET":
        command += ["-u", f"{url}?{fields}"]
    else:
        # A fresh token before every request (a GET of the form, as a browser would); sqlmap
        # refreshes it only if the field is in the data. (No --method POST: it would make
        # that GET a POST too, which the CSRF check refuses.)
        command += ["-u", url, "--data", f"{fields}&csrfmiddlewaretoken=x",
                    "--csrf-token", "csrfmiddlewaretoken", "--csrf-url", url,
                    "--csrf-method", "GET"]  # fmt: skip
    if target.session:
        command += ["--cookie", sessions[target.session]]
    completed = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(folder)},
    )
    rows = []
    if out.exists():
        with out.open() as handle:
            rows = [row for row in csv.DictReader(handle) if row.get("Parameter")]
    # sqlmap lists a parameter it suspected even when its own checks then ruled it out;
    # the form answers valid and invalid input differently, which a boolean test notices.
    ruled_out = [row for row in rows if "false positive" in row.get("Note(s)", "")]
    rows = [row for row in rows if row not in ruled_out]
    return {
        "form": target.name,
        "target": target,
        "parameters": target.parameters.count(",") + 1,
        "injectable": len(rows),
        "ruled_out": len(ruled_out),
        "finished": "all tested parameters do not appear to be injectable" in completed.stdout
        or bool(rows or ruled_out),
        "seconds": time.monotonic() - started,
    }


def run_scanners(site: Site, work: Path) -> tuple[dict[str, object], dict[str, object]]:
    """wapiti's runs and sqlmap's targets at the same time, then shellshock alone."""
    sessions, values = prepare_sessions(site, work)
    start = site.log_position()
    started = time.monotonic()
    with (
        ThreadPoolExecutor(len(WAPITI_RUNS)) as wapiti_pool,
        ThreadPoolExecutor(SQLMAP_PARALLEL) as sqlmap_pool,
    ):
        wapiti_runs = [wapiti_pool.submit(run_wapiti, site, work, run) for run in WAPITI_RUNS]
        targets = [
            sqlmap_pool.submit(run_sqlmap_target, site, work, target, sessions, values)
            for target in SQLMAP_TARGETS
        ]
        wapiti_results = [run.result() for run in wapiti_runs]
        sqlmap_results = [target.result() for target in targets]
    together = time.monotonic() - started
    middle = site.log_position()
    wapiti_results.append(run_wapiti(site, work, WAPITI_LAST))
    first, last = site.requests(start, middle), site.requests(middle)
    for result in sqlmap_results:
        target: SqlmapTarget = result["target"]  # type: ignore[assignment]
        reach = Reach()
        for request in first:
            if request.agent == target.tag and request.carries_input:
                reach.count(request)
        result["reach"] = reach
    wapiti_requests = [r for r in first if not r.agent.startswith(("sqlmap/", SETUP_AGENT))]
    wapiti = {
        **merge_wapiti(wapiti_results),
        "runs": wapiti_results,
        "reach": reach_by_form(wapiti_requests),
        "requests": len(wapiti_requests),
        "last": {
            "requests": len(last),
            "payloads": Counter(r.path for r in last if r.agent.startswith(SHELLSHOCK_AGENT)),
            "crawl": sum(r.carries_input for r in last),
        },
    }
    sqlmap = {"seconds": together, "targets": sqlmap_results}
    return wapiti, sqlmap


# A form must see most of the payloads sent to it; fewer means the scanner was mostly
# talking to the CSRF check (as when wapiti's shellshock module spoilt its cookie jar).
MINIMUM_REACHED = 0.5
FORM_WORTH_JUDGING = 100  # payload requests; below that a share says little


def _reach_rows(forms: dict[str, Reach]) -> list[str]:
    return [
        f"| {form} | {reach.sent:,} | {reach.refused:,} | {reach.reached:,} ({reach.share}) "
        f"| {reach.errors} |"
        for form, reach in sorted(forms.items(), key=lambda item: -item[1].sent)
    ]


def write_report(
    bandit, wapiti, sqlmap, tracebacks: Counter[str], answers: Counter[int], refusals: Counter[str]
) -> list[str]:
    """The report, and the list of findings above low that are not explained."""
    unexplained: list[str] = []
    if bandit["high"] or bandit["medium"]:
        unexplained.append(f"bandit: {bandit['high']} high, {bandit['medium']} medium")
    for name, items in wapiti["findings"].items():
        if name not in EXPLAINED:
            unexplained.append(f"wapiti: {name} ({len(items)})")
    injectable = sum(t["injectable"] for t in sqlmap["targets"])
    if injectable:
        unexplained.append(f"sqlmap: {injectable} injectable parameters")
    suspicious = {name: n for name, n in tracebacks.items() if name.startswith(SUSPICIOUS)}
    server_errors = sum(tracebacks.values()) - sum(suspicious.values())
    if server_errors:
        unexplained.append(f"the site logged {server_errors} tracebacks during the scans")
    errors = sum(n for status, n in answers.items() if status >= 500)
    if errors:
        unexplained.append(f"{errors} answers of 500 or more during the scans")
    judged = [(f"wapiti {form}", reach) for form, reach in wapiti["reach"].items()] + [
        (f"sqlmap {t['form']}", t["reach"]) for t in sqlmap["targets"]
    ]
    for form, reach in judged:
        if reach.sent >= FORM_WORTH_JUDGING and reach.reached < MINIMUM_REACHED * reach.sent:
            unexplained.append(f"{form}: only {reach.share} of the payloads reached the form")
    for target in sqlmap["targets"]:
        if not target["reach"].reached:
            unexplained.append(f"sqlmap {target['form']}: no payload reached the form")

    runs = ", ".join(f"{run['name']} {run['seconds']:.0f} s" for run in wapiti["runs"])
    lines = [
        "# Security scan (generated by `make security`)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}). The site ran with the "
        "production settings behind gunicorn with HTTPS (self-signed certificate) on 127.0.0.1, "
        "fresh SQLite database, demo school; lock-out and rate limits raised for the scanners. "
        f"wapiti and sqlmap ran at the same time ({sqlmap['seconds']:.0f} s), then wapiti's "
        "shellshock module alone.",
        "",
        "## bandit (static analysis of koolivarav/ and config/, tests and migrations excluded)",
        "",
        f"{bandit['files']} files, {bandit['lines']:,} lines: **{bandit['high']} high, "
        f"{bandit['medium']} medium, {bandit['low']} low**.",
        "",
        "| test | count |",
        "|---|---|",
        *[f"| {test} | {count} |" for test, count in sorted(bandit["tests"].items())],
        "",
        "## wapiti 3.0.4 (black box: crawl, then attack every form and parameter found)",
        "",
        f"{WAPITI_MODULES.count(',') + 1} modules ({WAPITI_MODULES.replace(',', ', ')}), "
        "anonymous, in three runs at once: the whole site from the home page, and the "
        "application form and the password reset each on their own page (wapiti gives each "
        "module a fixed time and spends it on the forms in turn, so the home page's login "
        f"would take most of it); then the {WAPITI_LAST_MODULE} module alone, last (it sends "
        "its payload in the Cookie header too, so the site sets a new CSRF cookie in wapiti's "
        f"cookie jar, and modules after it would post stale tokens). Times: {runs}.",
        "",
        "| finding | count | explanation |",
        "|---|---|---|",
    ]
    for name, items in sorted(wapiti["findings"].items()):
        lines.append(f"| {name} | {len(items)} | {EXPLAINED.get(name, '**not explained**')} |")
    if not wapiti["findings"]:
        lines.append("| (none) | 0 | |")
    lines += ["", "Anomalies (server errors or time-outs during attacks): "
              + (", ".join(f"{k} ({len(v)})" for k, v in wapiti["anomalies"].items()) or "none") + ".", ""]  # fmt: skip
    for name, items in sorted(wapiti["findings"].items()):
        lines.append(f"- {name}: " + "; ".join(
            sorted({f"{i.get('method', '')} {i.get('path', '')} {i.get('parameter', '')}".strip() for i in items})[:8]))  # fmt: skip
    last = wapiti["last"]
    lines += [
        "",
        "Payload requests (a POST, or a query string) wapiti sent, per form, as gunicorn logged "
        f"them ({wapiti['requests']:,} requests in all, the crawl included):",
        "",
        "| form | payload requests | refused by the CSRF check (403) | reached the view "
        "| answers ≥ 500 |",
        "|---|---|---|---|---|",
        *_reach_rows(wapiti["reach"]),
        "",
        f"The {WAPITI_LAST_MODULE} run: {last['requests']:,} requests; its payloads (in the "
        f"headers of a GET of each page the crawl found): {sum(last['payloads'].values())} "
        f"({', '.join(sorted(last['payloads']))}); the rest is its crawl, which also sends "
        f"each form once or more ({last['crawl']} POSTs).",
        "",
        "## sqlmap 1.7.2 (SQL injection: boolean, error and UNION techniques, level 2, risk 1)",
        "",
        f"{len(sqlmap['targets'])} forms and admin lists, {SQLMAP_PARALLEL} at a time, "
        f"{sqlmap['seconds']:.0f} s in all. Only the named parameters are attacked (not the "
        "session's cookies, which would only log the session out), with the payloads of the "
        "database the scanned site runs on (SQLite). A form's CSRF token is fetched afresh "
        "(GET of the form) before every payload, as a browser would. The forms behind a login "
        "start from a session made as a person makes it: step 2 after a real step 1, the "
        "profile as a parent with a password of their own, the second factor as an "
        "administrator who passed the password (its code is one already used, so every attempt "
        "meets the form), the admin lists as an administrator who passed both.",
        "",
        "| form | session | parameters | payload requests | refused by the CSRF check (403) "
        "| reached the view | answers ≥ 500 | injectable | suspected, then ruled out | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {t['form']} | {t['target'].session or 'anonymous'} | {t['parameters']} "
            f"| {t['reach'].sent:,} | {t['reach'].refused:,} "
            f"| {t['reach'].reached:,} ({t['reach'].share}) | {t['reach'].errors} "
            f"| {t['injectable']} | {t['ruled_out']} | {t['seconds']:.0f} |"
            for t in sqlmap["targets"]
        ],
        "",
        "A parameter sqlmap first suspects (its boolean test sees the page change when the "
        "input changes — the form shows a different error for a different mistake) and then "
        'rules out itself ("false positive or unexploitable") is counted as ruled out.',
        "",
        "## All requests",
        "",
        f"Requests the site answered during the scans: {sum(answers.values()):,}; by status: "
        + ", ".join(f"{status}: {n:,}" for status, n in sorted(answers.items()))
        + f". Answers of 500 or more: {errors}. Tracebacks logged by the site: "
        f"{server_errors} (besides those of requests refused as suspicious with 400: "
        + (", ".join(f"{name}: {n}" for name, n in sorted(suspicious.items())) or "none")
        + "). The 403 answers, by the reason Django logged: "
        + (", ".join(f"{reason}: {n:,}" for reason, n in refusals.most_common()) or "none")
        + ". (Scanners also send forms without the token on purpose: wapiti's csrf and xxe "
        "modules.)",
        "",
        "## Verdict",
        "",
        "**Nothing above low that is not explained.**"
        if not unexplained
        else "**Unexplained findings:** " + "; ".join(unexplained),
        "",
    ]
    REPORT.write_text("\n".join(lines))
    return unexplained


def main() -> int:
    for tool in ("wapiti", "sqlmap", "openssl"):
        if not shutil.which(tool):
            print(f"{tool} is not installed (apt-get install wapiti sqlmap openssl)")
            return 2
    work = Path(tempfile.mkdtemp(prefix="koolivarav-security-"))
    print("bandit …", flush=True)
    bandit = run_bandit(work)
    site = Site(work)
    site.start()
    try:
        print(
            f"wapiti ({len(WAPITI_RUNS)} runs, at most {WAPITI_SECONDS} s) and sqlmap "
            f"({len(SQLMAP_TARGETS)} targets) against {site.url} …",
            flush=True,
        )
        wapiti, sqlmap = run_scanners(site, work)
    finally:
        site.stop()
    answers = Counter(request.status for request in site.requests())
    unexplained = write_report(bandit, wapiti, sqlmap, site.tracebacks(), answers, site.refusals())
    print(REPORT.read_text())
    if unexplained:
        print("FAILED: " + "; ".join(unexplained))
        print(f"(scanner output kept in {work})")
        return 1
    print(f"(scanner output kept in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
