"""CPU and memory per process group from ``/proc`` (Linux), sampled while a benchmark runs,
so a report can say which process ran out of CPU first. Groups are named roots (a role's
pid, with its child processes), PostgreSQL backends of one database, the rest of the
PostgreSQL server, and Redis; the machine's total CPU comes from ``/proc/stat``."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass
class _Proc:
    pid: int
    ppid: int
    comm: str
    cpu_seconds: float
    rss_bytes: int
    cmdline: str


def _read(pid: int) -> _Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24.
    ticks = int(fields[11]) + int(fields[12])
    return _Proc(
        pid, int(fields[1]), comm, ticks / CLOCK_TICKS, int(fields[21]) * PAGE_BYTES, cmdline
    )


def _machine_busy() -> tuple[float, float]:
    """(busy seconds, total seconds) over all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


@dataclass
class Sample:
    at: float
    cpu_seconds: dict[str, float]
    rss_bytes: dict[str, int]
    machine_busy: float
    machine_total: float


@dataclass
class ProcessGroups:
    """Which processes belong to which group, re-resolved at every sample because roles
    and PostgreSQL backends come and go."""

    roots: dict[str, int]
    database_name: str | None = None
    samples: list[Sample] = field(default_factory=list)

    def sample(self) -> Sample:
        procs = [p for pid in _pids() if (p := _read(pid)) is not None]
        children: dict[int, list[_Proc]] = {}
        for proc in procs:
            children.setdefault(proc.ppid, []).append(proc)
        by_pid = {p.pid: p for p in procs}
        groups: dict[str, list[_Proc]] = {}
        roots = set(self.roots.values())
        for name, root in self.roots.items():
            # A root's children belong to it, unless they are roots themselves (the load
            # generator is the parent of every role it started).
            members, todo = [], [root]
            while todo:
                pid = todo.pop()
                if pid in by_pid:
                    members.append(by_pid[pid])
                todo += [c.pid for c in children.get(pid, []) if c.pid not in roots]
            groups[name] = members
        for proc in procs:
            if proc.comm.startswith("postgres"):
                ours = self.database_name is not None and f" {self.database_name} " in (
                    proc.cmdline + " "
                )
                groups.setdefault("postgres(bench db)" if ours else "postgres(rest)", []).append(
                    proc
                )
            elif proc.comm.startswith("redis-server"):
                groups.setdefault("redis", []).append(proc)
        busy, total = _machine_busy()
        result = Sample(
            time.monotonic(),
            {name: sum(p.cpu_seconds for p in members) for name, members in groups.items()},
            {name: sum(p.rss_bytes for p in members) for name, members in groups.items()},
            busy,
            total,
        )
        self.samples.append(result)
        return result


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def usage(first: Sample, last: Sample, cores: int) -> dict[str, object]:
    """CPU % per group between two samples (100 = one core busy) and RSS (the
    last sample's) in MiB; ``machine_cpu_pct`` is of all cores (100 = every core busy);
    ``tracked_cpu_pct`` is the named groups together and ``untracked_cpu_pct`` what ran on
    the machine outside them, both in one-core units."""
    wall = max(last.at - first.at, 1e-6)
    groups = {}
    for name, cpu in last.cpu_seconds.items():
        # A backend that started after ``first`` used all of its CPU time inside the window.
        used = cpu - first.cpu_seconds.get(name, 0.0)
        groups[name] = {
            "cpu_pct": round(max(used, 0.0) / wall * 100, 1),
            "rss_mib": round(last.rss_bytes.get(name, 0) / 2**20, 1),
        }
    machine_total = max(last.machine_total - first.machine_total, 1e-6)
    machine = (last.machine_busy - first.machine_busy) / machine_total * 100
    tracked = sum(g["cpu_pct"] for g in groups.values())
    return {
        "wall_seconds": round(wall, 1),
        "machine_cpu_pct": round(machine, 1),
        "tracked_cpu_pct": round(tracked, 1),
        "untracked_cpu_pct": round(max(machine * cores - tracked, 0.0), 1),
        "groups": dict(sorted(groups.items(), key=lambda kv: -kv[1]["cpu_pct"])),
    }
