"""Memory of `maas serve --workers N` on one data folder: RSS and PSS of every worker.

    python benchmarks/bench_workers_memory.py --data-dir D [--scale 10] [--workers 1 2 4]
        [--baseline-data-dir B --baseline-scale 0.1]

For each N: start `maas serve --demo --scale S --workers N --port 0` on data folder D (the
first run imports the demo feeds; later runs find them active), wait until it listens, read
/proc/PID/smaps_rollup of each worker (RSS, PSS) and the part of /proc/PID/smaps mapped from
the shared network files (<D>/networks/), then stop it (SIGTERM). PSS splits shared pages
between the processes that map them, so the PSS sum is what N workers really cost.

With a baseline (the same N workers on a tiny demo network, data folder B), the network's
memory is the PSS sum minus the baseline's PSS sum at the same N (interpreter, libraries and
compiled kernels cancel out, shared libraries split the same way), and the last lines give
what each extra worker adds to it, as a share of the first worker's (issue 17: <= 15 %).

Beside PSS, each worker's anonymous memory (`Anonymous:` of smaps_rollup: its heap and
other private pages, nothing mapped from a file): what a worker holds for itself alone, so
the same difference on it counts what each extra worker really adds, without the page cache
and shared-library splits that make PSS move from run to run. `--repeat R` runs every N (and
its baseline) R times, rounds in turn, and the summary takes the medians.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _kb(path: str, field: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _shared_kb(pid: int, marker: str) -> tuple[int, int]:
    """(Rss, Pss) in kB of the mappings whose path contains `marker`."""
    rss = pss = 0
    inside = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                inside = len(parts) >= 6 and marker in parts[5]
            elif inside and parts[0] == "Rss:":
                rss += int(parts[1])
            elif inside and parts[0] == "Pss:":
                pss += int(parts[1])
    return rss, pss


def _workers(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmd:
            found.append(int(entry.name))
    return sorted(found)


def measure(data_dir: Path, scale: float, n: int) -> list[dict]:
    cmd = [sys.executable, "-m", "maas.cli", "serve", "--demo", "--scale", str(scale),
           "--workers", str(n), "--port", "0", "--data-dir", str(data_dir)]
    log = open(data_dir / f"bench-serve-{n}.log", "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    t0 = time.monotonic()
    assert proc.stdout is not None
    line = proc.stdout.readline()   # "maas listening on ..." once every worker is ready
    if "maas listening on" not in line:
        raise SystemExit(f"maas serve exited with {proc.wait()}")
    ready_s = time.monotonic() - t0
    try:
        time.sleep(2)   # let the workers settle (the listening line comes once all are ready)
        rows = []
        for pid in _workers(proc.pid):
            rollup = f"/proc/{pid}/smaps_rollup"
            rss, pss, anon = _kb(rollup, "Rss"), _kb(rollup, "Pss"), _kb(rollup, "Anonymous")
            net_rss, net_pss = _shared_kb(pid, str(data_dir / "networks"))
            rows.append({"pid": pid, "rss": rss, "pss": pss, "anon": anon, "net_rss": net_rss,
                         "net_pss": net_pss, "ready_s": ready_s})
        return rows
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--scale", type=float, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--baseline-data-dir", type=Path, default=None)
    ap.add_argument("--baseline-scale", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the summary takes medians")
    args = ap.parse_args()
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    base = args.baseline_data_dir
    print("| workers | ready s | RSS MiB per worker | PSS MiB per worker | anon MiB per worker "
          "| PSS sum MiB | mapped network RSS / PSS MiB per worker |"
          + (f" baseline PSS / anon sum MiB (scale {args.baseline_scale:g}) "
             "| network PSS / anon MiB |" if base else ""))
    print("|---|---|---|---|---|---|---|" + ("---|---|" if base else ""))
    mib = lambda kb: f"{kb / 1024:.0f}"  # noqa: E731
    network: dict[str, dict[int, list[float]]] = {"PSS": {}, "anon": {}}
    for _ in range(args.repeat):
        for n in args.workers:
            rows = measure(args.data_dir, args.scale, n)
            total = sum(r["pss"] for r in rows)
            anon = sum(r["anon"] for r in rows)
            extra = ""
            if base:
                base.mkdir(parents=True, exist_ok=True)
                floor_rows = measure(base, args.baseline_scale, n)
                floor = sum(r["pss"] for r in floor_rows)
                floor_anon = sum(r["anon"] for r in floor_rows)
                network["PSS"].setdefault(n, []).append((total - floor) / 1024)
                network["anon"].setdefault(n, []).append((anon - floor_anon) / 1024)
                extra = (f" {mib(floor)} / {mib(floor_anon)} | {(total - floor) / 1024:.0f} / "
                         f"{(anon - floor_anon) / 1024:.0f} |")
            print(f"| {n} | {rows[0]['ready_s']:.0f} | {', '.join(mib(r['rss']) for r in rows)} "
                  f"| {', '.join(mib(r['pss']) for r in rows)} "
                  f"| {', '.join(mib(r['anon']) for r in rows)} | {mib(total)} "
                  f"| {', '.join(mib(r['net_rss']) + ' / ' + mib(r['net_pss']) for r in rows)} |"
                  + extra, flush=True)
    if not network["PSS"]:
        return
    # the goal's yardstick: the first worker's network memory (PSS: its mapped network too)
    first = statistics.median(network["PSS"][min(network["PSS"])])
    for kind, runs in network.items():
        med = {n: statistics.median(v) for n, v in runs.items()}
        ns = sorted(med)
        print(f"network {kind} MiB, median of {args.repeat}: "
              + ", ".join(f"{n} workers {med[n]:.0f}" for n in ns), flush=True)
        for a, b in itertools.pairwise(ns):
            each = (med[b] - med[a]) / (b - a)
            print(f"  {kind}: each worker from {a} to {b}: {each:+.1f} MiB, "
                  f"{100 * each / first:.1f} % of the first worker's {first:.0f} MiB (PSS)",
                  flush=True)


if __name__ == "__main__":
    main()
