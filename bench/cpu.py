"""Whose CPU time was it? The benchmark's processes against everyone else's, from /proc.

Other people run tests on the benchmark machine; a round in which they used the CPU measured
them as much as us. `CpuMeter` reads the machine's busy time (/proc/stat: user, nice, system,
interrupts and the time the hypervisor stole) and the CPU time of the benchmark's own
processes: this process and everything it started (the servers, their workers, wrk, the load
generator's threads), the PostgreSQL backends connected to the benchmark's databases (their
process title names the database) and the Redis server. What is left is other processes' time;
a round is kept only when that stayed under a small share of the machine.

A process's time includes its reaped children's (cutime, cstime), so a wrk run that starts and
ends within a round is counted when its parent has waited for it. Time of a process that ended
during the round and whose parent is not ours (a PostgreSQL backend that closed its
connection) counts as others': a little too strict, never too lenient.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count() or 1


def busy_seconds() -> float:
    """CPU time the whole machine spent busy since boot (all CPUs together)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state, ppid, ... utime (14th field of the line), stime, cutime, cstime.
    ticks = sum(int(v) for v in fields[11:15])
    return int(fields[1]), ticks / TICKS


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


@dataclass
class Sample:
    at: float
    busy: float
    ours: dict[int, tuple[int, float]]


class CpuMeter:
    """Snapshots of busy time and of the benchmark's own processes' time."""

    def __init__(self, databases: list[str]) -> None:
        self.root = os.getpid()
        self.databases = databases

    def ours(self) -> dict[int, tuple[int, float]]:
        """pid -> (parent pid, CPU seconds) of every process of the benchmark's."""
        parents: dict[int, int] = {}
        seconds: dict[int, float] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None:
                    parents[int(entry.name)], seconds[int(entry.name)] = stat
        mine = {self.root}
        changed = True
        while changed:
            changed = False
            for pid, parent in parents.items():
                if pid not in mine and parent in mine:
                    mine.add(pid)
                    changed = True
        for pid in parents:
            if pid in mine:
                continue
            command = _cmdline(pid)
            if (
                command.startswith("postgres: ")
                and any(f" {name} " in command for name in self.databases)
            ) or command.startswith("redis-server"):
                mine.add(pid)
        return {pid: (parents[pid], seconds[pid]) for pid in mine if pid in seconds}

    def sample(self) -> Sample:
        return Sample(at=time.monotonic(), busy=busy_seconds(), ours=self.ours())

    @staticmethod
    def others_share(start: Sample, end: Sample) -> float:
        """Other processes' CPU time between two samples, as a share of the machine's
        capacity over that time (0.05: they used 5 % of all CPUs)."""
        # A process of ours that ended was reaped by its parent, whose reaped-children time
        # now holds all of it: its time at the start is subtracted. One that was not ours to
        # reap (a PostgreSQL backend) took its time with it, which counts as others'.
        ours = sum(seconds for _parent, seconds in end.ours.values()) - sum(
            seconds
            for pid, (parent, seconds) in start.ours.items()
            if pid in end.ours or parent in end.ours
        )
        others = (end.busy - start.busy) - ours
        return max(0.0, others) / max(1e-9, (end.at - start.at) * CPUS)

    @staticmethod
    def seconds_of(start: Sample, end: Sample, pids: list[int]) -> float:
        """CPU seconds these processes used between the samples."""
        return sum(
            end.ours.get(pid, (0, 0.0))[1] - start.ours.get(pid, (0, 0.0))[1] for pid in pids
        )
