"""`make bench`: the product beside bare Django and django-allauth, on this machine's PostgreSQL.

Three servers run side by side, each with the same number of gunicorn sync workers on the same
PostgreSQL: the product (production settings, Redis as the shared cache, two e-mail workers, an
aiosmtpd sink), and the project in ../shared/bench-peer/ (bench/peer.py), whose `/hello` is a
trivial view through Django's default middleware — the floor — and whose django-allauth pages
are the peer. The product's own `/health/` is measured too, as a second reference.

Side by side (the table's first part), every measure is made in rounds. A page's round runs wrk
on the floor's `/hello`, the product's `/health/`, the product's page and the peer's page, in an
order that rotates from round to round; the login's and the whole application's rounds
interleave the product's and the peer's clients the same way. This machine's speed drifts by a
quarter from minute to minute, so only figures of one round are divided by each other, and every
ratio is the median of the rounds' ratios. Other people use this machine: a round in which
other processes used more than BENCH_MAX_OTHERS of the CPU (bench/cpu.py reads it from /proc)
is dropped and run again later, until each measure has BENCH_ROUNDS rounds or BENCH_MINUTES
have passed; the table says how many were kept and dropped.

The second part measures the product alone (approvals until every e-mail arrived, the review
queue by size, a student import, the reset timing, the workers' peak memory).

The table is printed and written to docs/benchmarks.md.

Environment: BENCH_SECONDS=3 (one wrk run)  BENCH_ROUNDS=5  BENCH_MINUTES=9
BENCH_MAX_OTHERS=0.05  BENCH_PEER_DIR=../shared/bench-peer  BENCH_IMPORT_ROWS=100000
BENCH_QUEUE_SIZES=1000,100000,1000000  BENCH_ALONE=1 (0: the side-by-side part only)
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from django_otp.oath import totp  # noqa: E402

from bench import peer as bench_peer  # noqa: E402
from bench.cpu import CpuMeter, Sample  # noqa: E402
from bench.reset_timing import measure_reset_timing, table_row  # noqa: E402
from koolivarav.schools.demo import generate_students, make_id_code  # noqa: E402

PYTHON = sys.executable
SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
MINUTES = float(os.environ.get("BENCH_MINUTES", "9"))
MAX_OTHERS = float(os.environ.get("BENCH_MAX_OTHERS", "0.05"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
IMPORT_ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
QUEUE_SIZES = [
    int(n) for n in os.environ.get("BENCH_QUEUE_SIZES", "1000,100000,1000000").split(",")
]
# BENCH_ALONE=0 leaves out the product-alone part (the side-by-side table only).
ALONE = os.environ.get("BENCH_ALONE", "1") != "0"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/koolivarav_bench"
WORKERS = 2 * (os.cpu_count() or 1)
CONNECTIONS = 32
CLIENTS = 16  # the whole application's and the whole signup's clients
LOGINS = 6  # logins of each side in one round
APPROVALS = 1000
PARENT_EMAIL = "bench@example.ee"
PARENT_PASSWORD = "Pikk-bench-salasõna"  # noqa: S105 - the benchmark's own made-up account

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
        headers = {**self.headers(), "Accept-Language": "et"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            form = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **form}
            body = urllib.parse.urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://{headers['Host']}:{self.port}{path}"
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

    def headers(self) -> dict[str, str]:
        return {"Host": "127.0.0.1"}

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


MAKE_PARENT = f"""
from datetime import date
from koolivarav.accounts.models import User
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.models import School, Student
school = School.objects.get(short_name="jpk")
user = User(school=school, email={PARENT_EMAIL!r}, first_name="Bench", last_name="Parent",
            id_code=make_id_code(birth=date(1984, 5, 17), female=True, serial=333))
user.set_password({PARENT_PASSWORD!r})
user.save()
user.children.add(*Student.objects.filter(school=school, is_active=True).order_by("pk")[:2])
print(user.children.count())
"""

# The product's Argon2 check, as its login makes it.
PRODUCT_HASH_TIMER = bench_peer.HASH_TIMER


def make_parent(stack: Stack) -> None:
    """The parent whose pages are measured: an ID code (as every parent who applied has)
    and two children at the school."""
    children = int(stack.shell(MAKE_PARENT).strip().splitlines()[-1])
    assert children == 2, children


def hash_timer(stack: Stack) -> subprocess.Popen[str]:
    """A process that answers "n" with the median time of n of the product's hash checks."""
    return subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import django; django.setup()\n" + PRODUCT_HASH_TIMER.format(password=PARENT_PASSWORD),
        ],
        cwd=ROOT,
        env=stack.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def ask(timer: subprocess.Popen[str], n: int) -> float:
    assert timer.stdin is not None
    assert timer.stdout is not None
    timer.stdin.write(f"{n}\n")
    timer.stdin.flush()
    return float(timer.stdout.readline())


# --- one measurement --------------------------------------------------------------------------


@dataclass
class Run:
    """One wrk run (or one run of a client loop): throughput, latencies, the server's CPU."""

    rate: float
    p50: float = float("nan")
    p99: float = float("nan")
    cpu_ms: float = float("nan")  # CPU time of the server's workers per request (or per item)


class Meter:
    """Samples /proc before and after each run: other processes' share, the workers' CPU."""

    def __init__(self) -> None:
        self.cpu = CpuMeter(["koolivarav_bench", bench_peer.DATABASE])

    def sample(self) -> Sample:
        return self.cpu.sample()

    def measure(self, workers: list[int], action: Callable[[], tuple[Run, int]]) -> Run:
        """Run `action` (returns its Run and how many items it served) and add the workers'
        CPU per item."""
        start = self.cpu.sample()
        run, items = action()
        end = self.cpu.sample()
        if items:
            run.cpu_ms = CpuMeter.seconds_of(start, end, workers) / items * 1000
        return run


def wrk(port: int, path: str, cookie: str | None = None, seconds: int = SECONDS) -> tuple[Run, int]:
    command = [
        "wrk",
        "-t2",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "30s",
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
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"{path}: wrk saw errors:\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    run = Run(
        rate=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50=_latency(output, "50%"),
        p99=_latency(output, "99%"),
    )
    return run, requests


def _latency(output: str, percentile: str) -> float:
    value, unit = re.search(
        rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", output, re.M
    ).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def clients_loop(
    one: Callable[[int], None], seconds: float, clients: int = CLIENTS
) -> tuple[Run, int]:
    """`clients` threads calling one(n) with fresh numbers until `seconds` are over."""
    counter = iter(range(10**9))
    lock = threading.Lock()
    done = 0
    errors: list[BaseException] = []
    deadline = time.monotonic() + seconds

    def loop() -> None:
        nonlocal done
        try:
            while time.monotonic() < deadline:
                with lock:
                    n = next(counter)
                one(n)
                with lock:
                    done += 1
        except BaseException as error:  # reported below: a silent thread would read as 0/s
            errors.append(error)

    start = time.monotonic()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed; the first: {errors[0]!r}")
    return Run(rate=done / (time.monotonic() - start)), done


_applied = iter(range(10**9))


def apply_once(port: int, child_code: str) -> Callable[[int], None]:
    """One whole application: step-1 GET, step-1 POST, step-2 POST, the confirmation page."""

    def one(_n: int) -> None:
        n = next(_applied)
        parent = make_id_code(
            birth=date(1950 + n % 50, 1 + n // 50 % 12, 1 + n // 600 % 28),
            female=n % 2 == 1,
            serial=n // 16800 % 1000,
        )
        client = Client(port)
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
        status, _text, _t = client.post("/apply/confirm/", {"email_again": f"vanem{n}@example.ee"})
        if status != 302:
            raise RuntimeError(f"step 2 answered {status}")
        if client.get("/apply/submitted/")[0] != 200:
            raise RuntimeError("the confirmation did not show")

    return one


_signed_up = iter(range(10**9))


def sign_up_once(port: int) -> Callable[[int], None]:
    """One whole allauth signup: the form, its POST, the "verify your e-mail" page."""

    def one(_n: int) -> None:
        n = next(_signed_up)
        client = Client(port)
        client.get("/accounts/signup/")
        status, text, _t = client.post(
            "/accounts/signup/",
            {
                "email": f"signup{n}@example.ee",
                "password1": PARENT_PASSWORD,
                "password2": PARENT_PASSWORD,
            },
        )
        if status != 302:
            raise RuntimeError(f"the peer's signup answered {status}: {text[:500]}")
        if client.get("/accounts/confirm-email/")[0] != 200:
            raise RuntimeError("the peer's confirmation page did not show")

    return one


# --- the side-by-side rounds ------------------------------------------------------------------------


@dataclass
class Servers:
    stack: Stack
    peer: bench_peer.Peer
    product_cookie: str
    peer_cookie: str
    child_code: str
    product_hash: subprocess.Popen[str]
    peer_hash: subprocess.Popen[str]

    def product(self, path: str, cookie: str | None = None) -> Callable[[], tuple[Run, int]]:
        return lambda: wrk(self.stack.port, path, cookie)

    def floor(self) -> Callable[[], tuple[Run, int]]:
        return lambda: wrk(self.peer.port, "/hello")

    def the_peer(self, path: str, cookie: str | None = None) -> Callable[[], tuple[Run, int]]:
        return lambda: wrk(self.peer.port, path, cookie)


@dataclass
class Round:
    others: float  # other processes' share of the CPU during the round
    runs: dict[str, Run]
    values: dict[str, float] = field(default_factory=dict)  # what the row reports, this round


@dataclass
class Case:
    """One row of the side-by-side table and how to measure one round of it."""

    label: str
    target: str
    kind: str  # "page", "login" or "application"
    product_path: str = ""
    peer_path: str = ""
    peer_label: str = ""
    logged_in: bool = False
    goal: float = 0.0
    kept: list[Round] = field(default_factory=list)
    dropped: int = 0


CASES = [
    Case(
        "home page, first visit",
        "≥ 0.7 of `/hello`",
        "page",
        "/",
        "/accounts/login/",
        "allauth login page, first visit",
        goal=0.7,
    ),
    Case(
        "application step 1, first visit",
        "≥ 0.7 of `/hello`",
        "page",
        "/apply/",
        "/accounts/signup/",
        "allauth signup page, first visit",
        goal=0.7,
    ),
    Case(
        "parent home, logged in (2 children)",
        "≥ 0.3 of `/hello`",
        "page",
        "/",
        "/accounts/email/",
        "allauth `/accounts/email/`, logged in",
        logged_in=True,
        goal=0.3,
    ),
    Case(
        "profile page, logged in",
        "≥ 0.3 of `/hello`",
        "page",
        "/profile/",
        "/accounts/email/",
        "allauth `/accounts/email/`, logged in",
        logged_in=True,
        goal=0.3,
    ),
    Case(
        "login POST beyond its password hash",
        "≤ +5 ms",
        "login",
        peer_label="allauth login POST beyond its hash (Django's Argon2 defaults)",
        goal=0.005,
    ),
    Case(
        f"whole application (4 requests), {CLIENTS} clients",
        "≥ 0.03 of `/hello`'s req/s",
        "application",
        peer_label=f"whole allauth signup (3 requests), {CLIENTS} clients",
        goal=0.03,
    ),
]


def rotated(items: list[str], shift: int) -> list[str]:
    shift %= len(items)
    return items[shift:] + items[:shift]


def page_round(meter: Meter, servers: Servers, case: Case, shift: int) -> Round:
    product_workers = servers.stack.worker_pids()
    peer_workers = servers.peer.worker_pids()
    actions = {
        "floor": (peer_workers, servers.floor()),
        "health": (product_workers, servers.product("/health/")),
        "product": (
            product_workers,
            servers.product(case.product_path, servers.product_cookie if case.logged_in else None),
        ),
        "peer": (
            peer_workers,
            servers.the_peer(case.peer_path, servers.peer_cookie if case.logged_in else None),
        ),
    }
    start = meter.sample()
    runs = {name: meter.measure(*actions[name]) for name in rotated(list(actions), shift)}
    others = CpuMeter.others_share(start, meter.sample())
    floor, health, product, peer = (runs[k].rate for k in ("floor", "health", "product", "peer"))
    return Round(
        others,
        runs,
        {
            "of floor": product / floor,
            "of health": product / health,
            "health of floor": health / floor,
            "peer of floor": peer / floor,
            "product per peer": product / peer,
        },
    )


def login_round(meter: Meter, servers: Servers, case: Case, shift: int) -> Round:
    stack, peer = servers.stack, servers.peer
    start = meter.sample()
    product_hash = ask(servers.product_hash, 10)
    peer_hash = ask(servers.peer_hash, 3)
    logins: dict[str, list[float]] = {"product": [], "peer": []}
    for n in range(LOGINS):
        for side in rotated(["product", "peer"], shift + n):
            if side == "product":
                client = Client(stack.port)
                client.get("/")
                username = PARENT_EMAIL if n % 2 else "bench parent"
                status, _text, elapsed = client.post(
                    "/", {"username": username, "password": PARENT_PASSWORD}
                )
            else:
                client = Client(peer.port)
                client.get("/accounts/login/")
                status, _text, elapsed = client.post(
                    "/accounts/login/", {"login": bench_peer.EMAIL, "password": PARENT_PASSWORD}
                )
            if status != 302:
                raise RuntimeError(f"the {side}'s login answered {status}")
            logins[side].append(elapsed)
    others = CpuMeter.others_share(start, meter.sample())
    product_login = statistics.median(logins["product"])
    peer_login = statistics.median(logins["peer"])
    return Round(
        others,
        {
            "product login": Run(product_login),
            "product hash": Run(product_hash),
            "peer login": Run(peer_login),
            "peer hash": Run(peer_hash),
        },
        {
            "overhead": product_login - product_hash,
            "peer overhead": peer_login - peer_hash,
            "product per peer": peer_login / product_login,
        },
    )


def application_round(meter: Meter, servers: Servers, case: Case, shift: int) -> Round:
    product_workers = servers.stack.worker_pids()
    peer_workers = servers.peer.worker_pids()
    actions = {
        "floor": (peer_workers, servers.floor()),
        "product": (
            product_workers,
            lambda: clients_loop(apply_once(servers.stack.port, servers.child_code), SECONDS * 2),
        ),
        "peer": (
            peer_workers,
            lambda: clients_loop(sign_up_once(servers.peer.port), SECONDS * 2),
        ),
    }
    start = meter.sample()
    runs = {name: meter.measure(*actions[name]) for name in rotated(list(actions), shift)}
    others = CpuMeter.others_share(start, meter.sample())
    floor, product, peer = (runs[k].rate for k in ("floor", "product", "peer"))
    return Round(
        others,
        runs,
        {
            "of floor": product / floor,
            "peer of floor": peer / floor,
            "product per peer": product / peer,
        },
    )


ROUND = {"page": page_round, "login": login_round, "application": application_round}


def side_by_side(servers: Servers) -> float:
    """Rounds until every case has ROUNDS kept ones or MINUTES are over; returns the idle
    machine's share used by other processes, measured first."""
    meter = Meter()
    idle_start = meter.sample()
    time.sleep(2)
    idle = CpuMeter.others_share(idle_start, meter.sample())
    print(f"  others' share of the CPU with the servers idle: {idle:.1%}", flush=True)
    # Warm every server's workers (templates, connections) before anything counts.
    for action in (
        servers.floor(),
        servers.product("/health/"),
        servers.product("/"),
        servers.product("/", servers.product_cookie),
    ):
        action()
    deadline = time.monotonic() + MINUTES * 60
    shift = 0
    while time.monotonic() < deadline and any(len(c.kept) < ROUNDS for c in CASES):
        for case in CASES:
            if len(case.kept) >= ROUNDS or time.monotonic() >= deadline:
                continue
            result = ROUND[case.kind](meter, servers, case, shift)
            verdict = "kept" if result.others <= MAX_OTHERS else "DROPPED"
            if result.others <= MAX_OTHERS:
                case.kept.append(result)
            else:
                case.dropped += 1
            figures = ", ".join(f"{k} {v:.3g}" for k, v in result.values.items())
            print(f"  {case.label}: others {result.others:.1%} → {verdict}; {figures}", flush=True)
        shift += 1
    return idle


def with_peer(stack: Stack) -> Servers:
    peer = bench_peer.Peer(port=free_port(), workers=WORKERS)
    peer.prepare()
    peer.start()
    peer.wait_until_up(Client(peer.port).get)
    make_parent(stack)
    parent = stack.log_in(PARENT_EMAIL, PARENT_PASSWORD)
    peer_client = Client(peer.port)
    peer_client.get("/accounts/login/")
    status, _text, _t = peer_client.post(
        "/accounts/login/", {"login": bench_peer.EMAIL, "password": PARENT_PASSWORD}
    )
    if status != 302:
        raise RuntimeError(f"the peer's login answered {status}")
    # Only the session and the CSRF cookie: the peer's "signed in" message is left out.
    product_cookie = "; ".join(f"{k}={v}" for k, v in parent.cookies.items() if k != "messages")
    peer_cookie = "; ".join(f"{k}={v}" for k, v in peer_client.cookies.items() if k != "messages")
    child_code = stack.shell(
        "from koolivarav.schools.models import Student;"
        " print(Student.objects.filter(is_active=True).order_by('pk').last().id_code)"
    ).strip()
    return Servers(
        stack, peer, product_cookie, peer_cookie, child_code, hash_timer(stack), peer.hash_timer()
    )


# --- the table's cells ---------------------------------------------------------------------------


def spread(values: list[float], digits: int = 2) -> str:
    """Median, and the range of the rounds when there were several."""
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def median_run(case: Case, name: str) -> Run:
    runs = [r.runs[name] for r in case.kept]
    return Run(
        rate=statistics.median(r.rate for r in runs),
        p50=statistics.median(r.p50 for r in runs),
        p99=statistics.median(r.p99 for r in runs),
        cpu_ms=statistics.median(r.cpu_ms for r in runs),
    )


def page_cells(run: Run) -> str:
    return f"{run.rate:,.0f} req/s, p99 {ms(run.p99)}, {run.cpu_ms:.2f} ms of worker CPU a request"


def values(case: Case, name: str) -> list[float]:
    return [r.values[name] for r in case.kept]


def side_by_side_rows(cases: list[Case]) -> list[list[str]]:
    rows = []
    for case in cases:
        rounds = f"{len(case.kept)} kept, {case.dropped} dropped"
        if not case.kept:
            rows.append(
                [
                    case.label,
                    "no quiet round",
                    "—",
                    "—",
                    case.peer_label or "—",
                    "—",
                    "—",
                    case.target,
                    "NOT MEASURED (no quiet round: machine busy)",
                    rounds,
                ]
            )
            continue
        if case.kind == "page":
            product, peer = median_run(case, "product"), median_run(case, "peer")
            ratio = statistics.median(values(case, "of floor"))
            rows.append(
                [
                    case.label,
                    page_cells(product),
                    spread(values(case, "of floor")),
                    spread(values(case, "of health")),
                    f"{case.peer_label}: {page_cells(peer)}",
                    spread(values(case, "peer of floor")),
                    f"{spread(values(case, 'product per peer'), 1)}×",
                    case.target,
                    "met" if ratio >= case.goal else "MISSED",
                    rounds,
                ]
            )
        elif case.kind == "login":
            overhead = statistics.median(values(case, "overhead"))
            login = statistics.median(r.runs["product login"].rate for r in case.kept)
            hashed = statistics.median(r.runs["product hash"].rate for r in case.kept)
            peer_login = statistics.median(r.runs["peer login"].rate for r in case.kept)
            peer_hash = statistics.median(r.runs["peer hash"].rate for r in case.kept)
            rows.append(
                [
                    case.label,
                    f"login {ms(login)}, hash {ms(hashed)}: "
                    f"+{spread([v * 1000 for v in values(case, 'overhead')], 1)} ms",
                    "—",
                    "—",
                    f"{case.peer_label}: login {ms(peer_login)}, hash {ms(peer_hash)}: "
                    f"+{spread([v * 1000 for v in values(case, 'peer overhead')], 1)} ms",
                    "—",
                    f"login {spread(values(case, 'product per peer'), 1)}× faster",
                    case.target,
                    "met" if overhead <= case.goal else "MISSED",
                    rounds,
                ]
            )
        else:
            product, peer = median_run(case, "product"), median_run(case, "peer")
            ratio = statistics.median(values(case, "of floor"))
            rows.append(
                [
                    case.label,
                    f"{product.rate:,.1f} applications/s, {product.cpu_ms:.1f} ms of worker CPU each",
                    spread(values(case, "of floor"), 3),
                    "—",
                    f"{case.peer_label}: {peer.rate:,.1f} signups/s, {peer.cpu_ms:.1f} ms of worker CPU each",
                    spread(values(case, "peer of floor"), 3),
                    f"{spread(values(case, 'product per peer'), 1)}×",
                    case.target,
                    "met" if ratio >= case.goal else "MISSED",
                    rounds,
                ]
            )
    return rows


def reference_line(cases: list[Case]) -> str:
    """The two references' own figures, over every kept page round."""
    rounds = [r for c in cases if c.kind == "page" for r in c.kept]
    if not rounds:
        return "No page round was quiet enough to keep."
    floor = statistics.median(r.runs["floor"].rate for r in rounds)
    floor_cpu = statistics.median(r.runs["floor"].cpu_ms for r in rounds)
    health = statistics.median(r.runs["health"].rate for r in rounds)
    health_cpu = statistics.median(r.runs["health"].cpu_ms for r in rounds)
    of_floor = spread([r.values["health of floor"] for r in rounds])
    return (
        f"References over all {len(rounds)} kept page rounds: bare Django's `/hello` "
        f"{floor:,.0f} req/s ({floor_cpu:.2f} ms of worker CPU a request); the product's "
        f"`/health/` {health:,.0f} req/s ({health_cpu:.2f} ms), {of_floor} of `/hello`."
    )


# --- the product alone: its measures ------------------------------------------------------------


FILL_QUEUE = """
from django.db import connection, transaction
from django.db.models import GeneratedField
from koolivarav.applications.models import Application
from koolivarav.schools.models import School
school = School.objects.get(short_name="jpk")
target = {target}
pending_every = {pending_every}
qn = connection.ops.quote_name
# Copies of one pending application (whatever columns the model has by now), each with its own
# parent, e-mail and status; and of its first child row.
applications = Application.objects.filter(school=school).order_by("pk")
template = applications.filter(status="pending").first() or applications.first()
through = Application.children.through
child_row = through.objects.filter(application=template).order_by("pk").first()
with transaction.atomic(), connection.cursor() as cursor:
    cursor.execute("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM applications_application")
    start, have = cursor.fetchone()
    need = target - have
    if need > 0:
        if connection.vendor == "postgresql":
            series = "SELECT generate_series(1, %s) AS n"
        else:
            series = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %s) SELECT n FROM s"
        varying = {{
            "status": "CASE WHEN (n + %s) %% %s = 0 THEN 'pending' ELSE 'approved' END",
            "parent_id_code": "'B' || CAST(n + %s AS TEXT)",
            "email": "'q' || CAST(n + %s AS TEXT) || '@example.ee'",
        }}
        columns = [
            f.column for f in Application._meta.concrete_fields
            if not f.primary_key and not isinstance(f, GeneratedField)
        ]
        values, params = [], [need]
        for column in columns:
            if column in varying:
                values.append(varying[column])
                params += [start, pending_every] if column == "status" else [start]
            else:
                values.append("t." + qn(column))
        select = ", ".join(values)
        sql = (
            f"INSERT INTO applications_application ({{', '.join(map(qn, columns))}})"
            f" SELECT {{select}} FROM (" + series + ") AS series, applications_application t WHERE t.id = %s"
        )
        cursor.execute(sql, [*params[1:], need, template.pk])
        child_columns = [f.column for f in through._meta.concrete_fields if not f.primary_key]
        child_values = ["a.id" if c == through._meta.get_field("application").column else "c." + qn(c) for c in child_columns]
        cursor.execute(
            f"INSERT INTO {{qn(through._meta.db_table)}} ({{', '.join(map(qn, child_columns))}})"
            f" SELECT {{', '.join(child_values)}} FROM applications_application a, {{qn(through._meta.db_table)}} c"
            " WHERE a.id > %s AND c.id = %s",
            [start, child_row.pk],
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


# --- the product alone ---------------------------------------------------------------------------------


def product_alone(stack: Stack, csv_path: Path) -> dict[str, tuple[str, str, str]]:
    """measure -> (result, target, verdict), on the stack as the side-by-side part left it."""
    rows: dict[str, tuple[str, str, str]] = {}
    rows["password reset POST: existing vs unknown person (timing)"] = table_row(
        measure_reset_timing(stack)
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
        f"≤ {target:.3g} s",
        "met" if seconds <= target else "MISSED",
    )
    peak = stack.peak_rss_mb()
    rows["peak RSS of one app worker after the run"] = (
        f"{peak:.0f} MB",
        "≤ 120 MB",
        "met" if peak <= 120 else "MISSED",
    )
    return rows


# --- the page ----------------------------------------------------------------------------------------------


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


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def page(idle: float, minutes: float, alone: dict[str, tuple[str, str, str]]) -> str:
    kept = sum(len(c.kept) for c in CASES)
    dropped = sum(c.dropped for c in CASES)
    first = markdown(
        [
            "measure",
            "product",
            "÷ bare Django `/hello`",
            "÷ product `/health/`",
            "django-allauth peer",
            "peer ÷ `/hello`",
            "product vs peer",
            "target",
            "verdict",
            "rounds",
        ],
        [[*row[:8], f"**{row[8]}**" if row[8] else "", row[9]] for row in side_by_side_rows(CASES)],
    )
    second = markdown(
        ["measure", "result", "target"],
        [
            [measure, f"{result} — **{verdict}**" if verdict else result, target]
            for measure, (result, target, verdict) in alone.items()
        ],
    )
    return (
        "# Benchmarks\n\n"
        f"Written by `make bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
        f"Machine: {machine()}. The product (gunicorn with {WORKERS} sync workers, production "
        "settings, Redis as the shared cache, two e-mail workers, an aiosmtpd sink) and the "
        f"project in `../shared/bench-peer/` (bare Django's `/hello` and django-allauth, "
        f"{WORKERS} sync workers) on the same PostgreSQL; wrk with {CONNECTIONS} connections, "
        f"{SECONDS} s a run. The load generator shares the cores with the servers: read the "
        "ratios, not the req/s.\n\n"
        "## Side by side\n\n"
        "Every figure comes from interleaved rounds: a page's round runs bare Django's "
        "`/hello`, the product's `/health/`, the product's page and the peer's page one after "
        "another, in an order that rotates from round to round; login and whole-application "
        "rounds interleave the product's and the peer's clients the same way. A ratio is the "
        "median of the rounds' own ratios (the range of the rounds in brackets); req/s, p99 and "
        "worker CPU are medians of the rounds. A round in which other processes used more than "
        f"{MAX_OTHERS:.0%} of the machine's CPU was dropped (with the servers idle, others used "
        f"{idle:.1%}); {kept} rounds were kept and {dropped} dropped in {minutes:.1f} minutes.\n\n"
        f"{reference_line(CASES)}\n\n"
        f"{first}\n\n"
        "## The product alone (PostgreSQL)\n\n"
        f"{second}\n"
    )


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk (apt-get install wrk)")
    if not postgres_available():
        sys.exit("make bench needs PostgreSQL at 127.0.0.1:5432")
    if not bench_peer.Peer.available():
        sys.exit(f"make bench needs the floor and the peer in {bench_peer.SOURCE}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "students.csv"
        write_student_file(csv_path, IMPORT_ROWS)
        with Stack("postgresql", workdir) as stack:
            servers = with_peer(stack)
            try:
                print("== side by side", flush=True)
                started = time.monotonic()
                idle = side_by_side(servers)
                minutes = (time.monotonic() - started) / 60
                alone = {}
                if ALONE:
                    print("== the product alone", flush=True)
                    alone = product_alone(stack, csv_path)
            finally:
                for timer in (servers.product_hash, servers.peer_hash):
                    timer.kill()
                servers.peer.stop()
    text = page(idle, minutes, alone)
    print()
    print(text)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text(text)
    print("\nwritten to docs/benchmarks.md")


if __name__ == "__main__":
    main()
