"""Peak memory and time of feed analysis on a generated feed, under the default memory limit.

    .venv/bin/python benchmarks/bench_feed_memory.py TRIPS [--limit-mib N]

Writes a feed of TRIPS trips x 60 stop_times rows (tests/hostile/test_feed_uploads.big_feed;
cached under the temp folder), runs `feeds.ingest._analyse_elsewhere` as an upload does, and
polls the analysis process's VmHWM every 50 ms. Figures: docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feeds import ingest  # noqa: E402
from feeds.errors import AnalysisMemoryExceeded  # noqa: E402
from maas.settings import Settings  # noqa: E402


def feed(trips: int) -> Path:
    from tests.hostile.test_feed_uploads import big_feed

    path = Path(tempfile.gettempdir()) / f"maas-bench-feed-{trips}.zip"
    if not path.exists():
        path.write_bytes(big_feed(trips))
    return path


def watch(peak: dict[str, int]) -> None:
    while True:
        ex = ingest._ANALYSER
        for pid in list(getattr(ex, "_processes", None) or {}):
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmHWM"):
                        peak["rss"] = max(peak.get("rss", 0), int(line.split()[1]) * 1024)
            except OSError:
                pass
        time.sleep(0.05)


async def run(path: Path, limits: ingest.IngestLimits) -> str:
    try:
        a = await ingest._analyse_elsewhere(path, feed="big", version="big-1", limits=limits, today=None)
        return f"accepted ({len(a.notices)} notices)"
    except AnalysisMemoryExceeded as exc:
        return f"refused {exc.code}"
    finally:
        ingest.close_analyser()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("trips", type=int)
    ap.add_argument("--limit-mib", type=int, default=None)
    args = ap.parse_args()
    path = feed(args.trips)
    limits = ingest.limits_from(Settings().feeds)
    if args.limit_mib:
        limits = dataclasses.replace(limits, memory_bytes=args.limit_mib << 20)
    peak: dict[str, int] = {}
    threading.Thread(target=watch, args=(peak,), daemon=True).start()
    t = time.perf_counter()
    out = asyncio.run(run(path, limits))
    print(f"{args.trips * 60} stop_times rows, zip {path.stat().st_size / 1e6:.1f} MB: {out} after "
          f"{time.perf_counter() - t:.1f} s; analysis process peak resident "
          f"{peak.get('rss', 0) / 2**20:.0f} MiB (limit {limits.memory_bytes / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
