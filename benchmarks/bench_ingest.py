"""Ingest speed and memory: read + validate + compile, beside gtfs-kit's plain read_feed.

    .venv/bin/python benchmarks/bench_ingest.py [--repeat 3] [--scale 10] [--repeat-demo 1]
                                                [--skip-demo]

Two workloads:
  * the largest real feed, tests/data/real/nyc-subway-2018.zip (447k stop_times);
  * the whole demo network at --scale (province scale: every city's buses, coach, HSR, air),
    generated first (not timed), then each feed ingested and the results merged.

Every measurement runs in a fresh child process (multiprocessing, spawn), so peak memory is
that process's own high-water mark (ru_maxrss) minus its RSS after the imports; times are
the median of --repeat runs. gtfs-kit (pandas) `read_feed` of the same zips runs in the same
way in the same run, reported as a ratio. Nothing here is timed against a threshold.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.measure import rss_mb  # noqa: E402
NYC = ROOT / "tests" / "data" / "real" / "nyc-subway-2018.zip"


def _ours(paths: list[str], out) -> None:
    from feeds.compile import compile_feed
    from feeds.reader import read_archive
    from feeds.validate import validate
    from routing.network import merge

    base = rss_mb()
    t = {"read": 0.0, "validate": 0.0, "compile": 0.0}
    nets, errors, rows = [], 0, 0
    for p in paths:
        t0 = time.perf_counter()
        files = read_archive(p)
        t1 = time.perf_counter()
        notices = validate(p, files)
        t2 = time.perf_counter()
        net = compile_feed(files, feed=Path(p).stem, version="bench")
        t3 = time.perf_counter()
        t["read"] += t1 - t0
        t["validate"] += t2 - t1
        t["compile"] += t3 - t2
        errors += sum(n.severity == "error" for n in notices)
        rows += len(net.st_stop)
        nets.append(net)
        del files
    t0 = time.perf_counter()
    m = merge(nets)
    t["merge"] = time.perf_counter() - t0
    day = m.service_days[m.trip_service, 0]
    conns = int((m.trip_st_start[1:] - m.trip_st_start[:-1] - 1)[day].sum())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    out.put({**t, "errors": errors, "rows": rows, "connections_day0": conns, "peak_mb": peak})


def _compile_only(paths: list[str], out) -> None:
    """read + compile without validation: the compiler's own time and memory."""
    from feeds.compile import compile_feed
    from feeds.reader import read_archive

    base = rss_mb()
    t = 0.0
    for p in paths:
        files = read_archive(p)
        t0 = time.perf_counter()
        compile_feed(files, feed=Path(p).stem, version="bench")
        t += time.perf_counter() - t0
        del files
    out.put({"compile": t,
             "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base})


def _gtfs_kit(paths: list[str], out) -> None:
    import gtfs_kit

    base = rss_mb()
    t0 = time.perf_counter()
    rows = 0
    for p in paths:
        feed = gtfs_kit.read_feed(p, dist_units="km")
        rows += len(feed.stop_times)
        del feed
    out.put({"read": time.perf_counter() - t0, "rows": rows,
             "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base})


def _run(target, paths: list[str]) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(paths, q))
    p.start()
    result = q.get()
    p.join()
    return result


def measure(paths: list[str], repeat: int) -> dict:
    ours = [_run(_ours, paths) for _ in range(repeat)]
    alone = [_run(_compile_only, paths) for _ in range(repeat)]
    kit = [_run(_gtfs_kit, paths) for _ in range(repeat)]
    med = {k: statistics.median(r[k] for r in ours) for k in ("read", "validate", "compile",
                                                               "merge", "peak_mb")}
    unzipped = sum(i.file_size for p in paths for i in zipfile.ZipFile(p).infolist())
    total = med["read"] + med["validate"] + med["compile"] + med["merge"]
    return {
        "feeds": len(paths), "zip_mb": sum(Path(p).stat().st_size for p in paths) / 2**20,
        "unzipped_mb": unzipped / 2**20, "rows": ours[0]["rows"],
        "connections_day0": ours[0]["connections_day0"], "errors": ours[0]["errors"], **med,
        "total": total, "compile_rows_per_s": ours[0]["rows"] / med["compile"],
        "ingest_rows_per_s": ours[0]["rows"] / total,
        "peak_x_unzipped": med["peak_mb"] / (unzipped / 2**20),
        "kit_read": statistics.median(r["read"] for r in kit),
        "kit_peak_mb": statistics.median(r["peak_mb"] for r in kit),
        "kit_rows": kit[0]["rows"], "runs": repeat,
        "alone_compile": statistics.median(r["compile"] for r in alone),
        "alone_peak_mb": statistics.median(r["peak_mb"] for r in alone),
    }


def table(name: str, r: dict) -> str:
    return "\n".join([
        f"### {name}",
        "",
        f"{r['feeds']} feed(s), {r['zip_mb']:.1f} MB zipped, {r['unzipped_mb']:.1f} MB unzipped, "
        f"{r['rows']:,} stop_times rows compiled ({r['kit_rows']:,} read by gtfs-kit), "
        f"{r['connections_day0']:,} connections on the first day; validation errors: "
        f"{r['errors']}. Median of {r['runs']} runs, each in a fresh process.",
        "",
        "| step | maas | gtfs-kit read_feed | ratio (maas / gtfs-kit) |",
        "| --- | ---: | ---: | ---: |",
        f"| read zip (feeds.reader) | {r['read']:.2f} s | | |",
        f"| validate (gtfs-guru + own checks) | {r['validate']:.2f} s | | |",
        f"| compile (feeds.compile) | {r['compile']:.2f} s | | |",
        f"| merge (routing.network) | {r['merge']:.2f} s | | |",
        f"| **ingest total** | **{r['total']:.2f} s** | {r['kit_read']:.2f} s | "
        f"{r['total'] / r['kit_read']:.2f} |",
        f"| compile only | {r['compile']:.2f} s | {r['kit_read']:.2f} s | "
        f"{r['compile'] / r['kit_read']:.2f} |",
        f"| peak memory, whole ingest (RSS above imports) | {r['peak_mb']:.0f} MB | "
        f"{r['kit_peak_mb']:.0f} MB | {r['peak_mb'] / max(r['kit_peak_mb'], 1):.2f} |",
        f"| read + compile alone (no validation) | {r['alone_compile']:.2f} s compile, "
        f"{r['alone_peak_mb']:.0f} MB peak | {r['kit_read']:.2f} s, {r['kit_peak_mb']:.0f} MB | "
        f"{r['alone_compile'] / r['kit_read']:.2f} (time) |",
        "",
        f"compile: **{r['rows'] / r['alone_compile']:,.0f} stop_times/s** alone, "
        f"{r['compile_rows_per_s']:,.0f}/s inside the full ingest (goal >= 200,000); whole "
        f"ingest {r['ingest_rows_per_s']:,.0f} rows/s. Peak memory: read + compile "
        f"**{r['alone_peak_mb'] / r['unzipped_mb']:.1f}x** the unzipped size, whole ingest with "
        f"validation {r['peak_x_unzipped']:.1f}x (goal <= 10x).",
        "",
    ])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("--repeat-demo", type=int, default=1)
    ap.add_argument("--skip-demo", action="store_true")
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {mp.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, load average at start {open('/proc/loadavg').read()[:14]}")
    print(table("nyc-subway-2018 (largest real feed)", measure([str(NYC)], a.repeat)))
    if not a.skip_demo:
        from feeds.demo import write_demo_feeds

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            written = write_demo_feeds(tmp, start_date=date(2026, 11, 23), days=7, scale=a.scale)
            gen = time.perf_counter() - t0
            r = measure([str(p) for _, _, p in written], a.repeat_demo)
            print(table(f"demo network, scale {a.scale:g} (generated in {gen:.0f} s, "
                        "not part of the ingest)", r))


if __name__ == "__main__":
    main()
