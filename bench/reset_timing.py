"""Does the password-reset answer tell by its timing whether an account exists? (issue 16, item 3)

Over HTTP against the production stack (gunicorn, production settings, the e-mail worker; see
`Stack` in bench/run.py), one client sends reset requests for four kinds of text: an existing
person's e-mail address, the same person's name, an unknown address and an unknown name. The
requests are interleaved in a fresh random order in every round, so drift of the machine (the
e-mail worker, other processes) falls on every kind alike. Each existing kind is compared with
its unknown counterpart, and all existing with all unknown, by a two-sided Mann-Whitney U test
(normal approximation with tie and continuity correction; no SciPy needed). A small p-value
means the times differ: the answer would tell who has an account.

`make bench` runs it as one row of the table; alone (SQLite unless BENCH_DATABASES says
otherwise):

    .venv/bin/python bench/reset_timing.py

Environment: BENCH_RESET_SAMPLES=250 (per kind, at least 200), BENCH_RESET_ALPHA=0.01.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLES = max(200, int(os.environ.get("BENCH_RESET_SAMPLES", "250")))
ALPHA = float(os.environ.get("BENCH_RESET_ALPHA", "0.01"))
WARM_UP = 20
RESET = "/password-reset/"

# The person who exists, and texts that fit nobody (the same shape and about the same length).
KINDS = {
    "existing e-mail": "liisa.lahtestaja@example.ee",
    "existing name": "Liisa Lähtestaja",
    "unknown e-mail": "kaisa.kadunud@example.ee",
    "unknown name": "Kaisa Kadunukene",
}
COMPARISONS = (
    ("existing e-mail", "unknown e-mail"),
    ("existing name", "unknown name"),
)

MAKE_PERSON = """
from koolivarav.accounts.models import User
from koolivarav.schools.models import School
user = User(school=School.objects.get(short_name="jpk"), email="liisa.lahtestaja@example.ee",
            first_name="Liisa", last_name="Lähtestaja")
user.set_password("Pikk-bench-salasõna-lähtestamiseks")
user.save()
print(user.pk)
"""


def mann_whitney_u(a: list[float], b: list[float]) -> tuple[float, float]:
    """(U of `a`, two-sided p-value) by the normal approximation, with tie correction."""
    n1, n2 = len(a), len(b)
    pooled = sorted([(value, 0) for value in a] + [(value, 1) for value in b])
    n = n1 + n2
    rank_sum_a = 0.0
    tie_term = 0.0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2 + 1  # ties share the mean of their ranks
        rank_sum_a += rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        tied = j - i + 1
        tie_term += tied**3 - tied
        i = j + 1
    u = rank_sum_a - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    if sigma == 0:
        return u, 1.0
    z = max(abs(u - mean) - 0.5, 0) / sigma
    return u, math.erfc(z / math.sqrt(2))


@dataclass
class Comparison:
    first: str
    second: str
    median_first: float
    median_second: float
    p_value: float

    @property
    def difference(self) -> float:
        return self.median_first - self.median_second


@dataclass
class ResetTiming:
    samples: int
    medians: dict[str, float]
    comparisons: list[Comparison]

    @property
    def indistinguishable(self) -> bool:
        return all(c.p_value >= ALPHA for c in self.comparisons)

    def lines(self) -> list[str]:
        out = [
            f"password reset POST, {self.samples} interleaved samples per kind (medians):",
            *(f"  {kind:16} {value * 1000:7.2f} ms" for kind, value in self.medians.items()),
        ]
        for c in self.comparisons:
            out.append(
                f"  {c.first} vs {c.second}: difference of medians "
                f"{c.difference * 1000:+.2f} ms, Mann-Whitney U p = {c.p_value:.3g}"
            )
        verdict = "no difference" if self.indistinguishable else "DIFFERENT"
        out.append(f"  at α = {ALPHA}: {verdict}")
        return out


def measure_reset_timing(stack: Any, samples: int = SAMPLES) -> ResetTiming:
    """Time `samples` reset POSTs of each kind on a running Stack (bench/run.py)."""
    from bench.run import Client

    stack.shell(MAKE_PERSON)
    client = Client(stack.port)
    status, _text, _t = client.get(RESET)
    if status != 200:
        raise RuntimeError(f"the reset page answered {status}")

    def post(text: str) -> float:
        status, body, elapsed = client.post(RESET, {"email": text})
        if status != 302:
            raise RuntimeError(f"the reset POST answered {status}: {body[:300]}")
        return elapsed

    order = random.Random(20250916)
    kinds = list(KINDS)
    for n in range(WARM_UP):
        post(KINDS[kinds[n % len(kinds)]])
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(samples):
        order.shuffle(kinds)
        for kind in kinds:
            times[kind].append(post(KINDS[kind]))

    def compare(first: str, second: str, a: list[float], b: list[float]) -> Comparison:
        return Comparison(
            first, second, statistics.median(a), statistics.median(b), mann_whitney_u(a, b)[1]
        )

    comparisons = [compare(x, y, times[x], times[y]) for x, y in COMPARISONS]
    comparisons.append(
        compare(
            "all existing",
            "all unknown",
            times["existing e-mail"] + times["existing name"],
            times["unknown e-mail"] + times["unknown name"],
        )
    )
    return ResetTiming(
        samples=samples,
        medians={kind: statistics.median(times[kind]) for kind in KINDS},
        comparisons=comparisons,
    )


def table_row(result: ResetTiming) -> tuple[str, str, str]:
    """(result, target, verdict) for the table of bench/run.py."""
    medians = ", ".join(f"{kind} {v * 1000:.1f} ms" for kind, v in result.medians.items())
    tests = "; ".join(f"{c.first} vs {c.second} p = {c.p_value:.2g}" for c in result.comparisons)
    return (
        f"{result.samples} samples each, medians: {medians}; Mann-Whitney U: {tests}",
        f"no difference at α = {ALPHA} (p ≥ {ALPHA})",
        "met" if result.indistinguishable else "MISSED",
    )


def main() -> None:
    from bench.run import Stack

    vendor = os.environ.get("BENCH_DATABASES", "sqlite").split(",")[0]
    with tempfile.TemporaryDirectory() as tmp, Stack(vendor, Path(tmp)) as stack:
        result = measure_reset_timing(stack)
    print(f"== {vendor}")
    print("\n".join(result.lines()))


if __name__ == "__main__":
    main()
