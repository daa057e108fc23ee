"""`make bench-september`: the first weeks of a school year, at scale, on one machine.

300 schools with 150,000 students between them; 20,000 parents apply within ten minutes (one
every 30 ms, each to a school of their own, from an address of their own), while 20 of the
schools' administrators approve what arrives; two app servers (gunicorn, sync workers) behind a
round-robin "proxy" (the load generator alternates them and sends X-Forwarded-For, which the
servers trust from 127.0.0.1), two e-mail workers, PostgreSQL and Redis, and an SMTP sink that
notes when each e-mail arrives.

Reported: applications per second, p50 and p99 of every step of the application and of the
approval, e-mails delivered per minute, the age of the oldest e-mail still waiting (sampled
every 5 s), how long the outbox took to empty afterwards, whether any request failed, and the
CPU time each part used per application, from which docs/performance.md works out how the
figures scale to N app servers. Written to docs/benchmarks-september.md.

BENCH_SEPTEMBER_SCALE (default 1) scales schools, students, applications and the ten minutes
together, so that the rate of arrivals stays the same: 0.1 is 30 schools, 15,000 students and
2,000 applications in one minute. BENCH_SEPTEMBER_ADMINS=20 (at most one per school),
BENCH_SEPTEMBER_WORKERS=2 (gunicorn workers per app server).
"""

from __future__ import annotations

import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from django_otp.oath import totp  # noqa: E402

from bench.cpu import CpuMeter  # noqa: E402
from bench.run import PYTHON, Client, free_port, machine, ms  # noqa: E402
from koolivarav.schools.demo import make_id_code  # noqa: E402

SCALE = float(os.environ.get("BENCH_SEPTEMBER_SCALE", "1"))
SCHOOLS = max(2, round(300 * SCALE))
STUDENTS = max(SCHOOLS * 10, round(150_000 * SCALE))
APPLICATIONS = max(10, round(20_000 * SCALE))
WINDOW = 600 * SCALE  # seconds in which the applications arrive
ADMINS = min(SCHOOLS, int(os.environ.get("BENCH_SEPTEMBER_ADMINS", "20")))
SERVER_WORKERS = int(os.environ.get("BENCH_SEPTEMBER_WORKERS", "2"))
DATABASE = "koolivarav_september"
ADMIN_PASSWORD = "Pikk-kooli-salasõna"  # noqa: S105 - the benchmark's own made-up accounts
DRAIN_LIMIT = 900  # seconds the outbox may take to empty after the last application

FILL = """
import json, sys
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from koolivarav.accounts.models import User
from koolivarav.schools.demo import generate_students
from koolivarav.schools.models import School, SchoolHost, Student
schools, students, admins = {schools}, {students}, {admins}
out = {{"schools": [], "admins": []}}
with transaction.atomic():
    for n in range(schools):
        school = School.objects.create(
            name=f"Kool {{n}}", short_name=f"kool{{n}}", portal_url=f"http://s{{n}}.koolivarav.test/",
            sender_email=f"robot@s{{n}}.koolivarav.test", office_email=f"kantselei@s{{n}}.koolivarav.test",
            # Applications go to the review at once (no wait for the parent's confirmation).
            hold_unconfirmed_applications=False,
        )
        SchoolHost.objects.create(school=school, hostname=f"s{{n}}.koolivarav.test")
        rows = list(generate_students(students // schools, seed=1000 + n))
        Student.objects.bulk_create(Student(school=school, **row) for row in rows)
        out["schools"].append({{"host": f"s{{n}}.koolivarav.test", "children": [r["id_code"] for r in rows]}})
        if n < admins:
            admin = User(school=school, email=f"admin@s{{n}}.koolivarav.test", first_name="Kooli",
                         last_name=f"Sekretär{{n}}", role=User.Role.SCHOOL_ADMIN, is_staff=True)
            admin.set_password({password!r})
            admin.save()
            device = TOTPDevice.objects.create(user=admin, name="bench", confirmed=True)
            out["admins"].append({{"host": f"s{{n}}.koolivarav.test", "email": admin.email, "key": device.key}})
json.dump(out, sys.stdout)
"""


class Sink:
    """The SMTP sink: when each e-mail arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.arrivals.append(time.monotonic())
        return "250 OK"


class HostClient(Client):
    """A browser of one school's host, from one client address (as a proxy forwards it)."""

    def __init__(self, port: int, host: str, address: str) -> None:
        super().__init__(port)
        self.host = host
        self.address = address

    def headers(self) -> dict[str, str]:
        return {"Host": self.host, "X-Forwarded-For": self.address}


@dataclass
class Results:
    steps: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    applications: int = 0
    approvals: int = 0
    late: list[float] = field(default_factory=list)  # how late each application started
    oldest: list[tuple[float, float]] = field(default_factory=list)  # (time, oldest age)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def time(self, step: str, seconds: float) -> None:
        with self.lock:
            self.steps.setdefault(step, []).append(seconds)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


class Site:
    """Two app servers, two e-mail workers, an SMTP sink, on a fresh database."""

    def __init__(self, workdir: Path) -> None:
        self.sink = Sink()
        self.smtp = Controller(self.sink, hostname="127.0.0.1", port=free_port())
        self.ports = [free_port(), free_port()]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": ".koolivarav.test,127.0.0.1",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
            "CACHE_URL": "redis://127.0.0.1:6379/13",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp.port),
            "LOG_LEVEL": "WARNING",
            # The load generator is the proxy: it sends each parent's own address.
            "TRUSTED_PROXIES": "127.0.0.1",
            "STATIC_ROOT": str(workdir / "static"),
            # Connections kept for the whole run, so that each PostgreSQL backend's CPU time
            # is still there to be read at the end (the product's default is 60 s).
            "CONN_MAX_AGE": "3600",
        }

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

    def __enter__(self) -> Site:
        for command in (["dropdb", "--if-exists", DATABASE], ["createdb", DATABASE]):
            subprocess.run(
                [*command[:1], "-h", "127.0.0.1", "-U", "postgres", *command[1:]], check=True
            )
        subprocess.run(["redis-cli", "-n", "13", "flushdb"], capture_output=True, check=True)
        self.manage("migrate", "--no-input")
        self.manage("collectstatic", "--no-input")
        self.smtp.start()
        return self

    def fill(self) -> dict:
        import json

        code = FILL.format(
            schools=SCHOOLS, students=STUDENTS, admins=ADMINS, password=ADMIN_PASSWORD
        )
        return json.loads(self.manage("shell", "--no-imports", "-c", code).strip().splitlines()[-1])

    def start(self) -> None:
        gunicorn = str(Path(PYTHON).parent / "gunicorn")
        self.servers = [
            self.spawn(
                [
                    gunicorn,
                    "config.wsgi",
                    "--workers",
                    str(SERVER_WORKERS),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--timeout",
                    "300",
                    "--log-level",
                    "warning",
                ]
            )
            for port in self.ports
        ]
        self.workers = [
            self.spawn([PYTHON, str(ROOT / "manage.py"), "run_worker", "--interval", "0.2"])
            for _ in range(2)
        ]
        deadline = time.monotonic() + 60
        for port in self.ports:
            while True:
                try:
                    if Client(port).get("/health/live")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("an app server did not answer within 60 s")
                time.sleep(0.3)

    def spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def children_of(self, processes: list[subprocess.Popen[bytes]]) -> list[int]:
        pids = []
        for process in processes:
            output = subprocess.run(
                ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
            )
            pids += [int(pid) for pid in output.stdout.split()]
        return pids

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.smtp.stop()

    def oldest_waiting_seconds(self) -> float:
        output = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DATABASE, "-tAc",
             "SELECT COALESCE(EXTRACT(EPOCH FROM now() - MIN(created_at)), 0), COUNT(*)"
             " FROM notifications_email WHERE status = 'queued'"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        age, _count = output.strip().split("|")
        return float(age)

    def emails_due(self) -> int:
        output = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DATABASE, "-tAc",
             "SELECT COUNT(*) FROM notifications_email WHERE status = 'queued'"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return int(output.strip())


# --- the parents -------------------------------------------------------------------------------------


def apply(site: Site, results: Results, n: int, school: dict) -> None:
    port = site.ports[n % 2]
    address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256 or 1}"
    client = HostClient(port, school["host"], address)
    parent = make_id_code(
        birth=date(1960 + n % 40, 1 + n // 40 % 12, 1 + n // 480 % 28),
        female=n % 2 == 1,
        serial=n // 13440 % 1000,
    )
    email = f"vanem{n}@example.ee"
    child = random.Random(n).choice(school["children"])
    steps = (
        ("step 1 page", "GET", "/apply/", None, 200),
        (
            "step 1 POST",
            "POST",
            "/apply/",
            {
                "child_id_codes": child,
                "parent_id_code": parent,
                "first_name": "Mari",
                "last_name": "Maasikas",
                "email": email,
                "phone": "5551 2345",
            },
            302,
        ),
        ("step 2 POST", "POST", "/apply/confirm/", {"email_again": email}, 302),
        ("confirmation page", "GET", "/apply/submitted/", None, 200),
    )
    for step, method, path, form, expected in steps:
        try:
            status, text, seconds = client.request(method, path, form)
        except OSError as error:
            results.fail(f"{step}: {error!r}")
            return
        results.time(step, seconds)
        if status != expected:
            results.fail(f"{step}: {status} {text[:200]!r}")
            return
    with results.lock:
        results.applications += 1


# --- the administrators -----------------------------------------------------------------------------

QUEUE = "/admin/applications/application/?status__exact=pending"
APPLICATION_LINK = re.compile(r"/admin/applications/application/(\d+)/change/")


def log_in_admin(port: int, admin: dict) -> HostClient:
    client = HostClient(port, admin["host"], "10.255.0.1")
    client.get("/admin/login/")
    status, _text, _t = client.post(
        "/admin/login/", {"username": admin["email"], "password": ADMIN_PASSWORD, "next": "/admin/"}
    )
    if status != 302:
        raise RuntimeError(f"the administrator's login answered {status}")
    client.get("/admin/second-factor/")
    code = f"{totp(bytes.fromhex(admin['key'])):06d}"
    status, _text, _t = client.post("/admin/second-factor/", {"code": code, "next": "/admin/"})
    if status != 302:
        raise RuntimeError(f"the administrator's second factor answered {status}")
    return client


def approve_until(
    site: Site, results: Results, admin: dict, index: int, stop: threading.Event
) -> None:
    """Open the queue, approve its first application, a second's pause; until told to stop
    and the queue is empty."""
    client = log_in_admin(site.ports[index % 2], admin)
    while True:
        try:
            status, page, seconds = client.get(QUEUE)
            results.time("review queue page", seconds)
            if status != 200:
                results.fail(f"review queue: {status}")
                return
            pending = APPLICATION_LINK.findall(page)
            if not pending:
                if stop.is_set():
                    return
                time.sleep(2)
                continue
            status, page, seconds = client.post(
                f"/admin/applications/application/{pending[0]}/approve/", {}
            )
            results.time("approve POST", seconds)
            if status != 302:
                results.fail(f"approve: {status} {page[:200]!r}")
            else:
                with results.lock:
                    results.approvals += 1
        except OSError as error:
            results.fail(f"administrator: {error!r}")
        time.sleep(1)


# --- the run -------------------------------------------------------------------------------------------


def run() -> dict:
    results = Results()
    with tempfile.TemporaryDirectory() as tmp, Site(Path(tmp)) as site:
        started = time.monotonic()
        data = site.fill()
        fill_seconds = time.monotonic() - started
        site.start()
        schools = data["schools"]
        meter = CpuMeter([DATABASE])
        app_pids = site.children_of(site.servers)
        worker_pids = [p.pid for p in site.workers]
        stop = threading.Event()
        admins = [
            threading.Thread(target=approve_until, args=(site, results, admin, i, stop))
            for i, admin in enumerate(data["admins"])
        ]
        for thread in admins:
            thread.start()

        def watch() -> None:
            while not stop.is_set() or site.emails_due():
                results.oldest.append((time.monotonic(), site.oldest_waiting_seconds()))
                time.sleep(5)

        watcher = threading.Thread(target=watch)
        start_sample = meter.sample()
        begin = time.monotonic()
        watcher.start()
        with ThreadPoolExecutor(max_workers=96) as pool:
            for n in range(APPLICATIONS):
                due = begin + n * WINDOW / APPLICATIONS
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                else:
                    results.late.append(-wait)
                pool.submit(apply, site, results, n, schools[n % len(schools)])
        arrivals_end = time.monotonic()
        end_sample = meter.sample()
        postgres_pids = _postgres_pids()
        stop.set()
        for thread in admins:
            thread.join()
        deadline = time.monotonic() + DRAIN_LIMIT
        while site.emails_due() and time.monotonic() < deadline:
            time.sleep(1)
        drained = time.monotonic()
        watcher.join()
        emails = list(site.sink.arrivals)
        cpu = {
            "app servers": CpuMeter.seconds_of(start_sample, end_sample, app_pids),
            "e-mail workers": CpuMeter.seconds_of(start_sample, end_sample, worker_pids),
            "PostgreSQL": CpuMeter.seconds_of(start_sample, end_sample, postgres_pids),
            "others": CpuMeter.others_share(start_sample, end_sample),
        }
    return {
        "results": results,
        "begin": begin,
        "arrivals_end": arrivals_end,
        "drained": drained,
        "emails": emails,
        "fill_seconds": fill_seconds,
        "cpu": cpu,
    }


def _postgres_pids() -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                command = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(b"postgres: ") and f" {DATABASE} ".encode() in command:
                pids.append(int(entry.name))
    return pids


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(outcome: dict) -> str:
    results: Results = outcome["results"]
    begin, end, drained = outcome["begin"], outcome["arrivals_end"], outcome["drained"]
    emails = outcome["emails"]
    per_minute = Counter(int((t - begin) // 60) for t in emails)
    busiest = max(per_minute.values(), default=0)
    oldest = max((age for _t, age in results.oldest), default=0.0)
    cpu = outcome["cpu"]
    done = max(1, results.applications)
    lines = [
        "| step | requests | p50 | p99 |",
        "|---|---|---|---|",
        *(
            f"| {step} | {len(times):,} | {ms(statistics.median(times))} | {ms(percentile(times, 0.99))} |"
            for step, times in results.steps.items()
        ),
    ]
    failures = Counter(f.split(":")[0] for f in results.failures)
    return (
        "# September at scale\n\n"
        f"Written by `make bench-september` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"(BENCH_SEPTEMBER_SCALE={SCALE:g}).\n\n"
        f"Machine: {machine()}. Two app servers (gunicorn, {SERVER_WORKERS} sync workers each), "
        "two e-mail workers, PostgreSQL and Redis, an SMTP sink, and the load generator, all on "
        "these cores.\n\n"
        f"{SCHOOLS:,} schools with {STUDENTS:,} students (made in {outcome['fill_seconds']:.0f} s); "
        f"{APPLICATIONS:,} applications arriving evenly over {WINDOW / 60:.1f} minutes "
        f"({APPLICATIONS / WINDOW:.1f} a second), each to one school and from an address of its own; "
        f"{ADMINS} administrators approving what arrives (queue, approve, a second's pause).\n\n"
        f"- applications completed: {results.applications:,} of {APPLICATIONS:,}, the last "
        f"{end - begin:.0f} s after the first arrived: "
        f"**{results.applications / (end - begin):.1f} applications/s** completed against "
        f"{APPLICATIONS / WINDOW:.1f} offered; the load generator started "
        f"{len(results.late):,} of them late (at most {max(results.late, default=0):.1f} s)\n"
        f"- approvals: {results.approvals:,}\n"
        f"- requests that failed: **{len(results.failures)}**"
        + (f" ({', '.join(f'{k} {v}' for k, v in failures.items())})" if failures else "")
        + "\n"
        f"- e-mails delivered: {len(emails):,}; at most {busiest:,} in one minute, "
        f"{len(emails) / max(1e-9, (drained - begin) / 60):,.0f} a minute on average\n"
        f"- oldest e-mail waiting: at most **{oldest:.0f} s**; the outbox was empty "
        f"{drained - end:.0f} s after the last application\n"
        f"- CPU per application: app servers {cpu['app servers'] / done * 1000:.1f} ms, "
        f"e-mail workers {cpu['e-mail workers'] / done * 1000:.1f} ms, "
        f"PostgreSQL {cpu['PostgreSQL'] / done * 1000:.1f} ms "
        f"(other processes used {cpu['others']:.0%} of the machine meanwhile)\n\n"
        + "\n".join(lines)
        + "\n"
        + (
            "\nThe first failures:\n\n"
            + "\n".join(f"- `{f}`" for f in results.failures[:10])
            + "\n"
            if results.failures
            else ""
        )
    )


def main() -> None:
    print(
        f"September: {SCHOOLS} schools, {STUDENTS:,} students, {APPLICATIONS:,} applications "
        f"in {WINDOW / 60:.1f} minutes, {ADMINS} administrators",
        flush=True,
    )
    text = report(run())
    print(text)
    (ROOT / "docs" / "benchmarks-september.md").write_text(text)
    print("written to docs/benchmarks-september.md")


if __name__ == "__main__":
    main()
