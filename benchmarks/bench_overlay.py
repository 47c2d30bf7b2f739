"""Realtime overlay benchmark: the cost of applying an update set, and planner speed with
10 % of the day's trips updated against none, in the same run.

    .venv/bin/python benchmarks/bench_overlay.py --feed nyc-subway-2018 --queries 200

On the busiest service day of a real feed (tests/data/real) a seeded random 10 % of the
runs of that day get a TripUpdate: 90 % delays (1-15 min at a random stop, propagated down
the trip; half relative, half absolute times), 5 % cancelled, 5 % with a skipped stop.
Measured:
  * `Planner.with_realtime(updates)` (resolving every update, skip patterns), CPU, median of 5;
  * the overlay of the query day, forward and reversed (first query of the day on the
    realtime planner), against expanding the same day statically (CPU, median of 5);
  * the same random earliest-arrival and 2-hour range queries on the static planner and on
    the realtime one (taking turns query by query), p50/p95 wall-clock and CPU milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_plan import busiest_day, load_network, make_queries, pct
from routing import itinerary
from routing.planner import Planner, Query
from routing.timetable import build_day, service_ref_epoch
from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate


def make_updates(pl: Planner, d, share: float, seed: int) -> list[TripUpdate]:
    net = pl.network
    rng = np.random.default_rng(seed)
    col = d.toordinal() - net.service_base_date
    running = np.flatnonzero(net.service_days[net.trip_service, col])
    chosen = rng.choice(running, max(1, int(share * len(running))), replace=False)
    out = []
    for t in chosen.tolist():
        a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
        trip_id = str(net.trip_id[t])
        kind = rng.random()
        if kind < 0.05:
            out.append(TripUpdate(trip_id, d, canceled=True))
            continue
        i = int(rng.integers(0, b - a))
        stop = str(net.stop_id[net.st_stop[a + i]])
        if kind < 0.10:
            out.append(TripUpdate(trip_id, d, stop_updates=(StopTimeUpdate(stop_id=stop,
                                                                          skipped=True),)))
            continue
        delay = int(rng.integers(60, 15 * 60))
        if rng.random() < 0.5:
            ev = StopTimeEvent(delay=delay)
        else:
            ref = service_ref_epoch(d, net.timezones[int(pl.trip_tz[t])])
            ev = StopTimeEvent(time=ref + int(net.st_dep[a + i]) + delay)
        out.append(TripUpdate(trip_id, d, stop_updates=(StopTimeUpdate(stop_id=stop,
                                                                      departure=ev),)))
    return out


def timed(planners: list[Planner], qs: list[Query]) -> list[tuple[list[float], list[float]]]:
    """(wall, CPU) seconds per query for each planner, the planners taking turns on each
    query so a change in the machine's load hits them alike."""
    out: list[tuple[list[float], list[float]]] = [([], []) for _ in planners]
    for pl in planners:
        pl._reach_cache.clear()
        pl.catalog.forget_rides()
    for q in qs:
        for pl, (secs, cpu) in zip(planners, out):
            itinerary._IDS.clear()
            t, c = time.perf_counter(), time.process_time()
            pl.plan(q)
            secs.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--feed", default="nyc-subway-2018")
    ap.add_argument("--demo-scale", type=int, default=0)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--share", type=float, default=0.10)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    net, name = load_network(args)
    pl = Planner.build(net)
    d, _ = busiest_day(net)
    ups = make_updates(pl, d, args.share, args.seed)
    col = d.toordinal() - net.service_base_date
    n_running = int(net.service_days[net.trip_service, col].sum())

    pl.day(d), pl.day(d, True)
    apply, overlay_s, static_s = [], [], []      # CPU seconds (the machine is shared)
    for _ in range(5):
        c = time.process_time()
        rt = pl.with_realtime(ups)
        apply.append(time.process_time() - c)
        c = time.process_time()
        rt.day(d), rt.day(d, True)
        overlay_s.append(time.process_time() - c)
        c = time.process_time()
        build_day(net, pl.fwd, d, pl.config), build_day(net, pl.rev, d, pl.config)
        static_s.append(time.process_time() - c)
    day = rt.day(d)
    moved = int(len(day.inst_trip) - len(pl.day(d).inst_trip))

    qs = make_queries(pl, d, args.queries, args.seed)
    ranges = [Query(q.origin, q.destination, q.date, q.time_s, window_s=7200) for q in qs]
    rows = []
    for label, queries in (("earliest arrival", qs), ("2 h range", ranges)):
        timed([pl, rt], queries[:10])               # warm (numba, memos of places)
        for (secs, cpu), which in zip(timed([pl, rt], queries), ("static", "10 % updated")):
            rows.append((label, which, pct(secs, 50), pct(secs, 95), pct(cpu, 50), pct(cpu, 95)))

    print(f"feed {name}, service day {d}: {n_running} runs, {len(ups)} updated "
          f"({sum(u.canceled for u in ups)} cancelled), {moved} moved to overlay day patterns, "
          f"{day.n_q - pl.day(d).n_q} overlay day patterns, {len(qs)} queries\n")
    print("| step (CPU, median of 5) | time |")
    print("| --- | ---: |")
    print(f"| `with_realtime` ({len(ups)} updates) | {statistics.median(apply) * 1000:.1f} ms |")
    print(f"| overlay of the query day, forward + reversed (first query) | "
          f"{statistics.median(overlay_s) * 1000:.1f} ms |")
    print(f"| static expansion of the same day, forward + reversed (for scale) | "
          f"{statistics.median(static_s) * 1000:.1f} ms |")
    print()
    print("| query | timetable | p50 ms | p95 ms | CPU p50 ms | CPU p95 ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for label, which, p50, p95, c50, c95 in rows:
        print(f"| {label} | {which} | {p50:.2f} | {p95:.2f} | {c50:.2f} | {c95:.2f} |")


if __name__ == "__main__":
    main()
