"""Validation speed and memory: feeds.validate on the largest real feeds, step by step.

    .venv/bin/python benchmarks/bench_feeds_validate.py [--repeat 3] [--feeds nyc-subway-2018 ...]
                                                        [--peer-python /path/to/venv/bin/python]

Each measurement runs in a fresh process (multiprocessing spawn); time is the median of
--repeat runs, memory the child's RSS high-water mark minus its RSS after the imports.
Steps: read_archive, gtfs-guru alone, our own checks alone, feed_stats, and the whole
feeds.validate.validate (gtfs-guru + checks + merge). --peer-python runs the pure-Python
`gtfs-validator` (PyPI) CLI from another venv on the same zip, once, in the same run (it is
not a project dependency; install it in its own venv to compare). No thresholds.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.measure import rss_mb  # noqa: E402
REAL = ROOT / "tests" / "data" / "real"


def _child(step: str, path: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    import gtfs_guru

    from feeds.checks import run_checks
    from feeds.reader import read_archive
    from feeds.stats import feed_stats
    from feeds.validate import validate

    files = read_archive(path) if step != "read" else None
    base = rss_mb()
    t = time.perf_counter()
    extra = ""
    if step == "read":
        files = read_archive(path)
    elif step == "gtfs-guru":
        extra = str(len(gtfs_guru.validate(path).notices))
    elif step == "own checks":
        extra = str(len(run_checks(files)))  # type: ignore[arg-type]
    elif step == "stats":
        extra = str(feed_stats(files)["stop_times"])  # type: ignore[arg-type]
    elif step == "validate (all)":
        notices = validate(path, files)  # type: ignore[arg-type]
        extra = f"{sum(n.severity == 'error' for n in notices)} errors, {len(notices)} notices"
    elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((elapsed, max(peak - base, 0.0), extra))


def measure(step: str, path: Path, repeat: int) -> tuple[float, float, str]:
    ctx = mp.get_context("spawn")
    runs = []
    for _ in range(repeat):
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(step, str(path), q))
        p.start()
        runs.append(q.get())
        p.join()
    return (statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[0][2])


def peer(python: str, path: Path) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as out:
        code = "import sys; from gtfs_validator.cli import main; sys.exit(main())"
        t = time.perf_counter()
        proc = subprocess.run([python, "-c", code, "-i", str(path), "-o", out],
                              capture_output=True, text=True)
        return time.perf_counter() - t, f"exit {proc.returncode}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--feeds", nargs="*", default=["nyc-subway-2018", "wmata-2026", "sncf-ter-2019"])
    ap.add_argument("--peer-python", help="python of a venv with gtfs-validator installed")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {mp.cpu_count()} CPUs, Python {platform.python_version()}")
    for name in args.feeds:
        path = REAL / f"{name}.zip"
        print(f"\n### {name} ({path.stat().st_size / 1e6:.1f} MB zipped)\n")
        print("| step | time (median) | peak memory above imports | result |")
        print("| --- | ---: | ---: | --- |")
        total = None
        for step in ("read", "gtfs-guru", "own checks", "stats", "validate (all)"):
            t, mem, extra = measure(step, path, args.repeat)
            if step == "validate (all)":
                total = t
            print(f"| {step} | {t:.2f} s | {mem:.0f} MB | {extra} |", flush=True)
        if args.peer_python and total:
            t, extra = peer(args.peer_python, path)
            print(f"| peer: gtfs-validator (pure Python) CLI, 1 run | {t:.2f} s | | {extra}; "
                  f"ratio peer / maas validate = {t / total:.1f} |", flush=True)


if __name__ == "__main__":
    main()
