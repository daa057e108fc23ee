"""`make bench`: the production stack on this machine, driven by a real load generator.

For each database (PostgreSQL at 127.0.0.1:5432 when it answers, then SQLite) it starts
gunicorn (2 workers per core) with production settings, the e-mail worker and a local SMTP
sink, fills the database, and measures the table of the performance issue. Every figure is
the median of several runs made the same way, and every target is a ratio measured in the
same run (2 cores are shared by the server and the load generator: compare ratios, never
quote the req/s as capacity). The table is printed and written to docs/benchmarks.md.

Environment: BENCH_DATABASES=postgresql,sqlite  BENCH_SECONDS=5  BENCH_REPEATS=3
BENCH_IMPORT_ROWS=100000  BENCH_QUEUE_SIZES=1000,100000,1000000
"""

from __future__ import annotations

import http.client
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from django_otp.oath import totp  # noqa: E402

from bench.reset_timing import measure_reset_timing, table_row  # noqa: E402
from koolivarav.schools.demo import generate_students, make_id_code  # noqa: E402

PYTHON = sys.executable
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
IMPORT_ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
QUEUE_SIZES = [
    int(n) for n in os.environ.get("BENCH_QUEUE_SIZES", "1000,100000,1000000").split(",")
]
DATABASES = os.environ.get("BENCH_DATABASES", "postgresql,sqlite").split(",")
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/koolivarav_bench"
WORKERS = 2 * (os.cpu_count() or 1)
CONNECTIONS = 32
APPROVALS = 1000


# --- small helpers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class Sink:
    """The SMTP sink: counts what arrives."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
        return "250 OK"


@dataclass
class Client:
    """A browser-like HTTP client: keeps cookies, reads the CSRF token."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, float]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        headers = {"Host": "127.0.0.1", "Accept-Language": "et"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            form = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **form}
            body = urllib.parse.urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://127.0.0.1:{self.port}{path}"
        start = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        elapsed = time.perf_counter() - start
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        connection.close()
        return response.status, text, elapsed

    def get(self, path: str) -> tuple[int, str, float]:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str, float]:
        return self.request("POST", path, form)


# --- the stack ---------------------------------------------------------------------------------------


class Stack:
    """gunicorn + the e-mail worker + an SMTP sink, on a fresh database."""

    def __init__(self, vendor: str, workdir: Path) -> None:
        self.vendor = vendor
        self.workdir = workdir
        self.port = free_port()
        self.sink = Sink()
        self.smtp = Controller(self.sink, hostname="127.0.0.1", port=free_port())
        self.processes: list[subprocess.Popen[bytes]] = []
        database_url = (
            POSTGRES_URL if vendor == "postgresql" else f"sqlite:///{workdir / 'bench.sqlite3'}"
        )
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": database_url,
            "CACHE_URL": "redis://127.0.0.1:6379/15",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp.port),
            "LOG_LEVEL": "WARNING",
            # The benchmark is one client address sending thousands of forms on purpose.
            "APPLICATION_FORM_PER_ADDRESS_HOURLY": "100000000",
            "APPLICATIONS_PER_EMAIL_HOURLY": "100000000",
            "LOGIN_FAILURE_LIMIT": "100000000",
            # The reset timing test sends hundreds of requests for each person and address.
            "PASSWORD_RESETS_PER_ADDRESS_HOURLY": "100000000",
            "PASSWORD_RESETS_PER_ACCOUNT_HOURLY": "100000000",
        }
        self.admin_password_file = workdir / "admin-password.txt"

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [PYTHON, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "--no-imports", "-c", code)

    def __enter__(self) -> Stack:
        if self.vendor == "postgresql":
            subprocess.run(
                ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "koolivarav_bench"],
                check=True,
            )
            subprocess.run(
                ["createdb", "-h", "127.0.0.1", "-U", "postgres", "koolivarav_bench"], check=True
            )
        redis = subprocess.run(
            ["redis-cli", "-n", "15", "flushdb"], capture_output=True, check=False
        )
        self.manage("migrate", "--no-input")
        if redis.returncode:  # no Redis here: the database cache is the shared one
            self.env["CACHE_URL"] = "dbcache://koolivarav_cache"
            self.manage("createcachetable")
        self.manage("collectstatic", "--no-input")
        self.manage(
            "load_demo", "--port", str(self.port), "--password-file", str(self.admin_password_file)
        )
        self.smtp.start()
        self.gunicorn = self.start(
            [
                str(Path(PYTHON).parent / "gunicorn"),
                "config.wsgi",
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "300",
                "--log-level",
                "warning",
            ]
        )
        for _ in range(2):
            self.start([PYTHON, str(ROOT / "manage.py"), "run_worker", "--interval", "0.2"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if Client(self.port).get("/health/")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("gunicorn did not answer within 60 s")
        return self

    def start(self, command: list[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.smtp.stop()

    def worker_pids(self) -> list[int]:
        output = subprocess.run(
            ["pgrep", "-P", str(self.gunicorn.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in output.stdout.split()]

    def peak_rss_mb(self) -> float:
        peaks = []
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return max(peaks)

    def log_in(self, username: str, password: str, path: str = "/") -> Client:
        client = Client(self.port)
        client.get(path)
        status, _text, _t = client.post(
            path, {"username": username, "password": password, "next": "/"}
        )
        if status != 302:
            raise RuntimeError(f"login as {username} failed ({status})")
        return client

    def log_in_administrator(self, email: str, password: str) -> Client:
        """Password, then the second factor, as a school secretary does: the benchmark sets up
        an authenticator app for the administrator and computes its codes."""
        key = self.shell(
            "from django_otp.plugins.otp_totp.models import TOTPDevice\n"
            "from koolivarav.accounts.models import User\n"
            f"user = User.objects.get(email={email!r})\n"
            "device = TOTPDevice.objects.create(user=user, name='bench', confirmed=True)\n"
            "print(device.key)"
        ).strip()
        client = self.log_in(email, password, "/admin/login/")
        client.get("/admin/second-factor/")
        status, _text, _t = client.post(
            "/admin/second-factor/", {"code": f"{totp(bytes.fromhex(key)):06d}", "next": "/admin/"}
        )
        if status != 302:
            raise RuntimeError(f"the second factor of {email} was refused ({status})")
        return client


# --- the load generator -----------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50: float
    p99: float


def wrk(port: int, path: str, cookie: str | None = None) -> Load:
    """Median of REPEATS wrk runs, each SECONDS long with 32 connections."""
    runs = []
    for _ in range(REPEATS):
        command = [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{SECONDS}s",
            "--latency",
            "-H",
            "Host: 127.0.0.1",
            "-H",
            "Accept-Language: et",
        ]
        if cookie:
            command += ["-H", f"Cookie: {cookie}"]
        output = subprocess.run(
            [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
        ).stdout
        if "Non-2xx" in output:
            raise RuntimeError(f"{path}: wrk saw error answers:\n{output}")
        runs.append(
            Load(
                rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                p50=_latency(output, "50%"),
                p99=_latency(output, "99%"),
            )
        )
    return Load(
        median([r.rps for r in runs]), median([r.p50 for r in runs]), median([r.p99 for r in runs])
    )


def _latency(output: str, percentile: str) -> float:
    value, unit = re.search(
        rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", output, re.M
    ).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def applications_per_second(stack: Stack, child_code: str) -> float:
    """32 clients each applying again and again: step-1 GET, step-1 POST, step-2 POST, confirmation."""
    counter = iter(range(10**9))
    lock = threading.Lock()
    results = []
    for _ in range(REPEATS):
        done = 0
        deadline = time.monotonic() + SECONDS * 2

        def apply_repeatedly() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                with lock:
                    n = next(counter)
                parent = make_id_code(
                    birth=date(1950 + n % 50, 1 + n // 50 % 12, 1 + n // 600 % 28),
                    female=n % 2 == 1,
                    serial=n // 16800 % 1000,
                )
                client = Client(stack.port)
                client.get("/apply/")
                status, text, _t = client.post(
                    "/apply/",
                    {
                        "child_id_codes": child_code,
                        "parent_id_code": parent,
                        "first_name": "Mari",
                        "last_name": "Maasikas",
                        "email": f"vanem{n}@example.ee",
                        "phone": "5551 2345",
                    },
                )
                if status != 302:
                    raise RuntimeError(f"step 1 answered {status}: {text[:500]}")
                status, _text, _t = client.post(
                    "/apply/confirm/", {"email_again": f"vanem{n}@example.ee"}
                )
                if status != 302:
                    raise RuntimeError(f"step 2 answered {status}")
                if client.get("/apply/submitted/")[0] != 200:
                    raise RuntimeError("the confirmation did not show")
                with lock:
                    done += 1

        errors: list[BaseException] = []

        def guarded() -> None:
            try:
                apply_repeatedly()
            except BaseException as error:  # reported below: a silent thread would read as 0/s
                errors.append(error)

        start = time.monotonic()
        threads = [threading.Thread(target=guarded) for _ in range(CONNECTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError(f"{len(errors)} clients failed; the first: {errors[0]!r}")
        results.append(done / (time.monotonic() - start))
    return median(results)


def login_overhead(stack: Stack) -> tuple[float, float]:
    """(median time of a whole login POST, median time of one bare hash check), sequentially."""
    stack.shell(
        "from koolivarav.accounts.models import User; from koolivarav.schools.models import School;"
        "u = User(school=School.objects.get(short_name='jpk'), email='bench@example.ee', first_name='Bench',"
        " last_name='Parent'); u.set_password('Pikk-bench-salasõna'); u.save()"
    )
    hash_times = stack.shell(
        "import time, statistics; from django.contrib.auth.hashers import make_password, check_password;"
        "h = make_password('Pikk-bench-salasõna'); ts = []\n"
        "for _ in range(30):\n"
        "    s = time.perf_counter(); check_password('Pikk-bench-salasõna', h); ts.append(time.perf_counter() - s)\n"
        "print(statistics.median(ts))"
    )
    logins = []
    for n in range(30):
        client = Client(stack.port)
        client.get("/")
        username = "bench@example.ee" if n % 2 else "bench parent"
        status, _text, elapsed = client.post(
            "/", {"username": username, "password": "Pikk-bench-salasõna"}
        )
        if status != 302:
            raise RuntimeError(f"login answered {status}")
        logins.append(elapsed)
    return median(logins), float(hash_times.strip().splitlines()[-1])


FILL_QUEUE = """
from django.db import connection, transaction
from koolivarav.schools.models import School, Student
school = School.objects.get(short_name="jpk")
student = Student.objects.filter(school=school).first()
target = {target}
pending_every = {pending_every}
with transaction.atomic(), connection.cursor() as cursor:
    cursor.execute("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM applications_application")
    start, have = cursor.fetchone()
    need = target - have
    if need > 0:
        if connection.vendor == "postgresql":
            series = "SELECT generate_series(1, %s) AS n"
        else:
            series = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %s) SELECT n FROM s"
        cursor.execute(
            "INSERT INTO applications_application (school_id, status, parent_id_code, first_name, last_name,"
            " email, phone, language, created_at, updated_at, rejection_reason)"
            " SELECT %s, CASE WHEN (n + %s) %% %s = 0 THEN 'pending' ELSE 'approved' END,"
            " 'B' || CAST(n + %s AS TEXT), 'Mari', 'Maasikas', 'q' || CAST(n + %s AS TEXT) || '@example.ee',"
            " '+37255512345', 'et', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ''"
            " FROM (" + series + ") AS series",
            [school.pk, start, pending_every, start, start, need],
        )
        cursor.execute(
            "INSERT INTO applications_application_children (application_id, student_id)"
            " SELECT id, %s FROM applications_application WHERE id > %s",
            [student.pk, start],
        )
    cursor.execute("ANALYZE")
print(target)
"""


def queue_p50(stack: Stack, admin: Client, size: int) -> float:
    stack.shell(FILL_QUEUE.format(target=size, pending_every=100))
    admin.get("/admin/applications/application/")  # warm
    times = [admin.get("/admin/applications/application/")[2] for _ in range(15)]
    return median(times)


PENDING_FOR_APPROVAL = """
from datetime import date
from koolivarav.applications.models import Application
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.models import School, Student
school = School.objects.get(short_name="jpk")
student = Student.objects.filter(school=school).first()
for n in range({count}):
    application = Application.objects.create(
        school=school,
        parent_id_code=make_id_code(birth=date(1960 + n % 40, 1 + n // 40 % 12, 1 + n // 480 % 28), female=True, serial=900 + n % 90),
        first_name="Kinnitatav", last_name=f"Vanem{{n}}", email=f"kinnitatav{{n}}@example.ee", phone="+37255512345",
    )
    application.children.add(student)
print(Application.objects.filter(status="pending").count())
"""


def approve_all(stack: Stack, admin: Client) -> float:
    """Seconds from the administrator's "approve" to the last of the e-mails in the sink."""
    stack.shell(
        "from koolivarav.applications.models import Application; Application.objects.filter(status='pending').update(status='rejected')"
    )
    pending = int(
        stack.shell(PENDING_FOR_APPROVAL.format(count=APPROVALS)).strip().splitlines()[-1]
    )
    assert pending == APPROVALS, pending
    before = stack.sink.count
    path = "/admin/applications/application/?status__exact=pending"
    admin.get(path)
    start = time.monotonic()
    status, text, _t = admin.post(
        path,
        {"action": "approve_selected", "select_across": "1", "index": "0", "_selected_action": "1"},
    )
    if status != 302:
        raise RuntimeError(f"the approval answered {status}: {text[:300]}")
    while stack.sink.count - before < APPROVALS:
        if time.monotonic() - start > 600:
            raise RuntimeError(f"only {stack.sink.count - before} e-mails arrived in 600 s")
        time.sleep(0.1)
    return time.monotonic() - start


def import_seconds(stack: Stack, csv_path: Path) -> float:
    runs = []
    for run in range(REPEATS):
        if run:  # back to the demo school's own dozen, so every run imports the same rows anew
            stack.shell(
                "from koolivarav.schools.models import Student;"
                "keep = list(Student.objects.order_by('pk').values_list('pk', flat=True)[:12]);"
                "Student.objects.exclude(pk__in=keep).delete()"
            )
        start = time.perf_counter()
        stack.manage("import_students", str(csv_path), "--school", "jpk")
        runs.append(time.perf_counter() - start)
    return median(runs)


def write_student_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("isikukood,eesnimi,perekonnanimi,klass\n")
        for s in generate_students(rows, seed=99):
            f.write(f"{s['id_code']},{s['first_name']},{s['last_name']},{s['class_name']}\n")


# --- one database, the whole table ----------------------------------------------------------------


def run_for(vendor: str, workdir: Path, csv_path: Path) -> dict[str, tuple[str, str, str]]:
    """measure -> (result, target, verdict)"""
    rows: dict[str, tuple[str, str, str]] = {}
    with Stack(vendor, workdir) as stack:
        child_code = stack.shell(
            "from koolivarav.schools.models import Student; print(Student.objects.filter(is_active=True).first().id_code)"
        ).strip()
        floor = wrk(stack.port, "/health/")
        rows["floor: trivial view (/health/), same middleware and server"] = (
            f"{floor.rps:,.0f} req/s, p50 {ms(floor.p50)}, p99 {ms(floor.p99)}",
            "—",
            "",
        )
        for label, path in (
            ("home page, first visit", "/"),
            ("step-1 page, first visit", "/apply/"),
        ):
            load = wrk(stack.port, path)
            ratio = load.rps / floor.rps
            ok = ratio >= 0.6 and load.p99 <= 0.050
            rows[label] = (
                f"{load.rps:,.0f} req/s, p50 {ms(load.p50)}, p99 {ms(load.p99)}, {ratio:.2f} of floor",
                "≥ 0.6 of floor, p99 ≤ 50 ms",
                "met" if ok else "MISSED",
            )

        rate = applications_per_second(stack, child_code)
        ratio = rate / floor.rps
        rows["whole application (4 requests)"] = (
            f"{rate:,.1f} applications/s, {ratio:.3f} of floor req/s",
            "≥ 0.04 of floor req/s",
            "met" if ratio >= 0.04 else "MISSED",
        )

        login, bare = login_overhead(stack)
        overhead = login / bare - 1
        rows["login POST vs one bare hash check"] = (
            f"login {ms(login)}, hash {ms(bare)}: overhead {overhead:.0%}",
            "overhead ≤ 15 %",
            "met" if overhead <= 0.15 else "MISSED",
        )

        rows["password reset POST: existing vs unknown person (timing)"] = table_row(
            measure_reset_timing(stack)
        )

        parent = stack.log_in("bench@example.ee", "Pikk-bench-salasõna")
        cookie = "; ".join(f"{k}={v}" for k, v in parent.cookies.items())
        for label, path in (
            ("parent home (logged in)", "/"),
            ("profile page (logged in)", "/profile/"),
        ):
            load = wrk(stack.port, path, cookie)
            ratio = load.rps / floor.rps
            rows[label] = (
                f"{load.rps:,.0f} req/s, p99 {ms(load.p99)}, {ratio:.2f} of floor",
                "≥ 0.5 of floor",
                "met" if ratio >= 0.5 else "MISSED",
            )

        admin = stack.log_in_administrator(
            "admin@jpk.example", stack.admin_password_file.read_text().strip()
        )
        seconds = approve_all(stack, admin)
        rows[f"approve {APPROVALS:,} applications until every e-mail is in the SMTP sink"] = (
            f"{seconds:.1f} s",
            "≤ 60 s",
            "met" if seconds <= 60 else "MISSED",
        )

        p50s = {size: queue_p50(stack, admin, size) for size in QUEUE_SIZES}
        smallest, largest = QUEUE_SIZES[0], QUEUE_SIZES[-1]
        growth = p50s[largest] / p50s[smallest]
        rows["review queue page (admin), p50 by applications"] = (
            ", ".join(f"{size:,}: {ms(p)}" for size, p in p50s.items())
            + f"; {largest:,} is {growth:.2f}× {smallest:,}",
            f"{largest:,} within 1.5× of {smallest:,}",
            "met" if growth <= 1.5 else "MISSED",
        )

        seconds = import_seconds(stack, csv_path)
        target = 20.0 * IMPORT_ROWS / 100_000
        rows[f"import {IMPORT_ROWS:,} students from CSV"] = (
            f"{seconds:.1f} s, {IMPORT_ROWS / seconds:,.0f} rows/s",
            f"≤ {target:.0f} s",
            "met" if seconds <= target else "MISSED",
        )

        peak = stack.peak_rss_mb()
        rows["peak RSS of one app worker after the run"] = (
            f"{peak:.0f} MB",
            "≤ 120 MB",
            "met" if peak <= 120 else "MISSED",
        )
    return rows


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}"
    return f"{system}, Python {platform.python_version()}"


def postgres_available() -> bool:
    return (
        shutil.which("pg_isready") is not None
        and subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0
    )


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk (apt-get install wrk)")
    columns: dict[str, dict[str, tuple[str, str, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "students.csv"
        write_student_file(csv_path, IMPORT_ROWS)
        for vendor in DATABASES:
            if vendor == "postgresql" and not postgres_available():
                print("PostgreSQL does not answer at 127.0.0.1:5432: its column is left out")
                continue
            print(f"== {vendor}", flush=True)
            columns[vendor] = run_for(vendor, workdir, csv_path)
            for measure, (result, _target, verdict) in columns[vendor].items():
                print(f"  {measure}: {result} {verdict}", flush=True)
    vendors = list(columns)
    measures = list(next(iter(columns.values())))
    header = "| measure | " + " | ".join(vendors) + " | target |"
    lines = [header, "|---" * (len(vendors) + 2) + "|"]
    for measure in measures:
        cells = []
        for vendor in vendors:
            result, _target, verdict = columns[vendor][measure]
            cells.append(f"{result}{' — **' + verdict + '**' if verdict else ''}")
        target = next(iter(columns.values()))[measure][1]
        lines.append(f"| {measure} | " + " | ".join(cells) + f" | {target} |")
    table = "\n".join(lines)
    print()
    print(table)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text(
        "# Benchmarks\n\n"
        f"Written by `make bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
        f"Machine: {machine()}. gunicorn with {WORKERS} sync workers, production settings, Redis as "
        f"the shared cache, two e-mail workers, an aiosmtpd sink; wrk with {CONNECTIONS} connections, "
        f"{SECONDS} s a run, median of {REPEATS} runs. The load generator shares the two cores "
        "with the server: read the ratios, not the req/s, as the result.\n\n"
        f"{table}\n"
    )
    print("\nwritten to docs/benchmarks.md")


if __name__ == "__main__":
    main()
