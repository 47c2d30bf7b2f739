"""After the storm: what the Locust processes saw, CPU use, profiles, latency around feed
activations — turned into numbers and a short Markdown summary."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

import psutil

__all__ = ["Outcomes", "read_outcomes", "percentile", "activation_effect", "CpuSampler",
           "summarise_pyspy"]


class Outcomes:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.accepted: list[tuple[str, int, str]] = []
        self.samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.activations: list[dict[str, Any]] = []
        self.pool_left = 0
        self.files = 0


def read_outcomes(out_dir: Path) -> Outcomes:
    o = Outcomes()
    for path in sorted(out_dir.glob("outcomes-*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        o.files += 1
        o.counts.update(data.get("outcomes", {}))
        o.accepted.extend((b, int(leg), g) for b, leg, g in data.get("accepted", []))
        for k, v in data.get("samples", {}).items():
            o.samples[k].extend((float(t), float(ms)) for t, ms in v)
        o.activations.extend(data.get("activations", []))
        o.pool_left += int(data.get("pool_left", 0))
    return o


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN for none."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return s[k]


def _stats(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "max": max(values) if values else float("nan")}


def activation_effect(samples: list[tuple[float, float]], activations: list[dict[str, Any]],
                      after_s: float = 10.0) -> dict[str, Any]:
    """Plan latency while a feed was published/activated (+ `after_s`) against the rest."""
    spans = [(a["publish_at"], a["done_at"] + after_s) for a in activations]
    inside = [ms for t, ms in samples if any(lo <= t <= hi for lo, hi in spans)]
    outside = [ms for t, ms in samples if not any(lo - 1 <= t <= hi for lo, hi in spans)]
    timeline = []
    for a in activations:
        rows = []
        for sec in range(-5, int(a["done_at"] - a["publish_at"] + after_s) + 1):
            lo = a["publish_at"] + sec
            ms = [m for t, m in samples if lo <= t < lo + 1]
            rows.append({"s": sec, "n": len(ms), "p50": percentile(ms, 50), "p95": percentile(ms, 95),
                         "max": max(ms) if ms else float("nan")})
        timeline.append({"feed": a.get("feed"), "version": a.get("version"),
                         "publish_s": round(a["activate_at"] - a["publish_at"], 2),
                         "activate_s": round(a["done_at"] - a["activate_at"], 2), "per_second": rows})
    return {"during": _stats(inside), "otherwise": _stats(outside), "timeline": timeline}


class CpuSampler:
    """Samples CPU use (in cores) of groups of processes once a second, in a thread."""

    def __init__(self, groups: Callable[[], dict[str, list[psutil.Process]]], interval: float = 1.0) -> None:
        self.groups = groups
        self.interval = interval
        self.series: dict[str, list[float]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "CpuSampler":
        self._thread.start()
        return self

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        self._thread.join(5)
        return {g: {"mean_cores": sum(v) / len(v), "max_cores": max(v)} for g, v in self.series.items() if v}

    @staticmethod
    def _cpu(procs: list[psutil.Process]) -> dict[int, float]:
        out = {}
        for p in procs:
            try:
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        return out

    def _run(self) -> None:
        psutil.cpu_percent(None)
        prev: dict[str, dict[int, float]] = {}
        t_prev = time.monotonic()
        while not self._stop.wait(self.interval):
            groups = self.groups()
            now = time.monotonic()
            dt = max(1e-3, now - t_prev)
            for name, procs in groups.items():
                cur = self._cpu(procs)
                before = prev.get(name, {})
                used = sum(v - before[pid] for pid, v in cur.items() if pid in before)
                if before:
                    self.series[name].append(used / dt)
                prev[name] = cur
            self.series["machine (all processes)"].append(psutil.cpu_percent(None) / 100.0 * psutil.cpu_count())
            t_prev = now


# Leaf frames that are a thread waiting, not working (py-spy cannot always tell in a container).
_IDLE_LEAVES = ("EpollSelector.select", "_worker (concurrent/futures/thread.py:81)",
                "Condition.wait", "Event.wait", "Queue.get (queue.py")


def _component(frame: str) -> str:
    """'func (aiohttp/web_protocol.py:577)' -> 'aiohttp'; our packages and stdlib modules alike."""
    inner = frame.rpartition("(")[2].rstrip(")")
    path = inner.rpartition(":")[0] or inner
    first = path.split("/", 1)[0]
    return first.removesuffix(".py") or "?"


def summarise_pyspy(raw: Path, top: int = 25) -> str:
    """Where a worker's CPU went, from py-spy's raw (collapsed) output: the share of busy
    samples by component (package or stdlib module of the innermost frame), then the top
    functions by own and by inclusive samples. Stacks ending in an idle wait are counted
    apart."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    comp: Counter[str] = Counter()
    total = idle = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        k = int(n)
        frames = stack.split(";")
        if frames[-1].startswith(_IDLE_LEAVES):
            idle += k
            continue
        total += k
        own[frames[-1]] += k
        comp[_component(frames[-1])] += k
        for f in set(frames):
            incl[f] += k
    if not total:
        return f"no busy samples ({idle} idle)\n"
    lines = [f"{total} busy samples ({idle} more waiting in epoll/thread pools, left out)", "",
             "own time by component (innermost frame's package/module):"]
    lines += [f"  {100 * n / total:5.1f}%  {c}" for c, n in comp.most_common(top)]
    lines += ["", "own time by function (where the CPU is):"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive (a frame anywhere on the stack):"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines) + "\n"


def _f(v: Any, unit: str = "") -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        return (f"{v:.0f}" if abs(v) >= 10 else f"{v:.1f}") + unit
    return f"{v}{unit}"


def markdown(results: dict[str, Any]) -> str:
    """The run as Markdown: per-endpoint table, CPU, activation effect, checks."""
    r = results
    out = [f"Run `{r.get('command')}` at {r.get('started_utc')}: {r.get('users')} users for "
           f"{r.get('time_s')} s, {r.get('workers')} maas workers, {r.get('locust_processes')} Locust "
           f"process(es); pool of {r.get('pool')} pre-booked bookings at {r.get('gate_stations')} stations "
           f"(seeded in {r.get('seed_s')} s). Load average before/after the load: "
           f"{r.get('loadavg_before')} / {r.get('loadavg_after')}.", "",
           "| endpoint | requests | unexpected failures | req/s | p50 ms | p95 ms | p99 ms | max ms |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in r.get("endpoints", {}).items():
        out.append(f"| {name} | {e['requests']} | {e['failures']} | {_f(e['rps'])} | {_f(e['p50'])} | "
                   f"{_f(e['p95'])} | {_f(e['p99'])} | {_f(e['max'])} |")
    if r.get("cpu"):
        out += ["", "| process group | CPU mean (cores) | CPU max (cores) |", "|---|---:|---:|"]
        out += [f"| {g} | {v['mean_cores']:.2f} | {v['max_cores']:.2f} |" for g, v in r["cpu"].items()]
    act = r.get("activations") or {}
    if act.get("timeline"):
        d, o = act["during"], act["otherwise"]
        out += ["", "| plan latency | n | p50 ms | p95 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|---:|",
                f"| while a feed was published + activated (+10 s) | {d['n']} | {_f(d['p50'])} | {_f(d['p95'])} | {_f(d['p99'])} | {_f(d['max'])} |",
                f"| otherwise | {o['n']} | {_f(o['p50'])} | {_f(o['p95'])} | {_f(o['p99'])} | {_f(o['max'])} |"]
        for t in act["timeline"]:
            out.append(f"\nactivation of {t['feed']} {t['version']}: upload+validate+compile {t['publish_s']} s, "
                       f"activate {t['activate_s']} s; plan latency per second from 5 s before the upload:")
            out.append("`" + " ".join(f"{row['s']}:{_f(row['p95'])}" for row in t["per_second"]) + "` (s:p95 ms)")
    if r.get("outcomes"):
        out += ["", "Outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))]
    out += ["", "| check | limit | measured | |", "|---|---|---|---|"]
    out += [f"| {c['what']} | {c['limit']} | {c['value']} | {'ok' if c['ok'] else '**FAIL**'} |"
            for c in r.get("checks", [])]
    return "\n".join(out) + "\n"
