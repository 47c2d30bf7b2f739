"""Small measuring helpers shared by the benchmark scripts."""

from __future__ import annotations

import os

import psutil

__all__ = ["rss_mb", "proc_cpu_s"]


def rss_mb() -> float:
    """Resident memory of this process, MiB."""
    return psutil.Process().memory_info().rss / 2**20


def proc_cpu_s(p: psutil.Process) -> float:
    """CPU seconds of a process: the sum of its threads' /proc schedstat (ns), so short
    phases are not rounded to psutil's 10 ms ticks; psutil where that cannot be read."""
    try:
        total = 0
        for task in os.listdir(f"/proc/{p.pid}/task"):
            with open(f"/proc/{p.pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        c = p.cpu_times()
        return c.user + c.system
