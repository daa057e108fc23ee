"""`make bench`: Koolivärav's benchmarks. Prints a table and writes it to docs/benchmarks.md.

Each benchmark runs in a fresh database (SQLite file, and PostgreSQL when it answers on
127.0.0.1:5432), repeats its measurement and reports the median.

Now measured: importing a student file (target from the performance issue: 100,000 rows
in at most 20 s). The request-level benchmarks against the framework's floor are not built
yet: the table says so.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/koolivarav_bench"
)


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )


def write_student_file(path: Path, rows: int) -> None:
    sys.path.insert(0, str(ROOT))
    from koolivarav.schools.demo import generate_students

    with path.open("w", encoding="utf-8") as f:
        f.write("isikukood,eesnimi,perekonnanimi,klass\n")
        for s in generate_students(rows, seed=99):
            f.write(f"{s['id_code']},{s['first_name']},{s['last_name']},{s['class_name']}\n")


def postgres_available() -> bool:
    try:
        subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=True, timeout=5)
        return True
    except (OSError, subprocess.SubprocessError):
        return False


def fresh_database(database_url: str, workdir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "CACHE_URL": "locmemcache://",
    }
    if database_url.startswith("postgres"):
        name = database_url.rsplit("/", 1)[1]
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    manage("migrate", "--no-input", env=env)
    manage("load_demo", env=env)
    return env


def bench_import(database_url: str, label: str, csv_path: Path, workdir: Path) -> dict[str, str]:
    seconds = []
    for run in range(REPEATS):
        db_url = (
            database_url
            if database_url.startswith("postgres")
            else f"sqlite:///{workdir / f'import{run}.sqlite3'}"
        )
        env = fresh_database(db_url, workdir)
        start = time.perf_counter()
        manage("import_students", str(csv_path), "--school", "jpk", env=env)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    target = 20.0 * ROWS / 100_000
    return {
        "measure": f"import {ROWS:,} students from CSV ({label})",
        "result": f"{median:.1f} s median of {REPEATS} ({ROWS / median:,.0f} rows/s); runs: "
        + ", ".join(f"{s:.1f}" for s in seconds),
        "target": f"≤ {target:.0f} s",
        "ratio": f"{median / target:.2f} of target ({'met' if median <= target else 'MISSED'})",
    }


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


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "students.csv"
        write_student_file(csv_path, ROWS)
        results.append(bench_import("sqlite", "SQLite", csv_path, workdir))
        if postgres_available():
            results.append(bench_import(POSTGRES_URL, "PostgreSQL", csv_path, workdir))
        else:
            results.append(
                {
                    "measure": "import (PostgreSQL)",
                    "result": "not run: no PostgreSQL at 127.0.0.1:5432",
                    "target": "",
                    "ratio": "",
                }
            )
    results.append(
        {
            "measure": "request throughput, latency and memory against the framework's floor",
            "result": "not built yet (performance issue)",
            "target": "",
            "ratio": "",
        }
    )
    table = ["| measure | result | target | ratio |", "|---|---|---|---|"]
    table += [f"| {r['measure']} | {r['result']} | {r['target']} | {r['ratio']} |" for r in results]
    text = "\n".join(table)
    print(text)
    out = ROOT / "docs" / "benchmarks.md"
    out.write_text(
        "# Benchmarks\n\nWritten by `make bench` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
        f"Machine: {machine()}.\n\n{text}\n"
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
