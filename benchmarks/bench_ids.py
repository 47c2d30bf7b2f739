"""Itinerary ids: CPU to encode and decode one, and its length, against another tree's
routing/itinerary.py in the same process (rounds alternate old and new).

    .venv/bin/python benchmarks/bench_ids.py --feed nyc-subway-2018 --against /tmp/ids9-main
    .venv/bin/python benchmarks/bench_ids.py --demo-scale 1 --against /tmp/ids9-main

The keys are those of the itineraries the planner returns for random reachable queries
(bench_plan's); each encode starts with an empty `_IDS` memo (a fresh plan's ids are new).
Reported: median us per id over the rounds, and the median of the rounds' new/old ratios;
then `Planner.plan`'s p50 (thread CPU, the same queries, caches emptied before each round) with
journeys' encode_id the old tree's and this one's, rounds alternating.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import timeit
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_plan  # noqa: E402
from routing import itinerary, journeys  # noqa: E402
from routing.config import RoutingConfig  # noqa: E402
from routing.planner import Planner  # noqa: E402


def load_old(tree: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "old_itinerary", Path(tree) / "routing" / "itinerary.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_itinerary"] = mod          # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def per_id(fn, items, number: int) -> float:
    return timeit.timeit(lambda: [fn(x) for x in items], number=number) / number / len(items) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feed", default="nyc-subway-2018")
    ap.add_argument("--demo-scale", type=float, default=0)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--against", required=True, help="the old tree (its routing/itinerary.py)")
    args = ap.parse_args()
    old = load_old(args.against)
    net, label = bench_plan.load_network(args)
    pl = Planner.build(net, RoutingConfig())
    day, _ = bench_plan.busiest_day(net)
    queries = bench_plan.make_queries(pl, day, args.queries, 3)
    keys = [it.key for q in queries for it in pl.plan(q)]
    old_ids = [old.encode_id(k) for k in keys]
    new_ids = [itinerary.encode_id(k) for k in keys]
    assert all(itinerary.decode_id(s) == k for s, k in zip(old_ids + new_ids, keys + keys))
    longer = sum(len(n) > len(o) for o, n in zip(old_ids, new_ids))
    print(f"{label}: {len(keys)} ids, {statistics.mean(len(k.legs) for k in keys):.2f} rides each; "
          f"length old mean {statistics.mean(map(len, old_ids)):.1f} max {max(map(len, old_ids))}, "
          f"new mean {statistics.mean(map(len, new_ids)):.1f} max {max(map(len, new_ids))}, "
          f"new longer than old: {longer}")

    def encoder(mod: ModuleType):
        def enc(k):
            mod._IDS.clear()
            return mod.encode_id(k)
        return enc

    runs = {
        "encode": (encoder(old), keys, encoder(itinerary), keys),
        "decode (new reads its own)": (old.decode_id, old_ids, itinerary.decode_id, new_ids),
        "decode of old ids": (old.decode_id, old_ids, itinerary.decode_id, old_ids),
    }
    number = max(1, 3000 // len(keys))
    for name, (old_fn, old_items, new_fn, new_items) in runs.items():
        report(name, "us per id", args.rounds, lambda: per_id(old_fn, old_items, number),
               lambda: per_id(new_fn, new_items, number))
    report("Planner.plan p50 with old / new ids", "ms", args.rounds,
           lambda: plan_p50(pl, queries, old), lambda: plan_p50(pl, queries, itinerary))
    journeys.encode_id = itinerary.encode_id


def report(name: str, unit: str, rounds: int, run_old, run_new) -> None:
    """Median of `rounds` alternating (old, new) measurements, and of their ratios."""
    pairs = []
    for r in range(rounds):
        if r % 2:
            n = run_new()
            pairs.append((run_old(), n))
        else:
            o = run_old()
            pairs.append((o, run_new()))
    print(f"  {name}: old {statistics.median(o for o, _ in pairs):.3f}, "
          f"new {statistics.median(n for _, n in pairs):.3f} {unit}; new/old "
          f"{statistics.median(n / o for o, n in pairs):.3f} (median of {rounds} rounds)")


def plan_p50(pl: Planner, queries: list, mod: ModuleType) -> float:
    """p50 thread CPU (ms) of planning `queries` with `mod.encode_id` making the ids, from
    empty caches (rides, reach, ids) as for queries not seen before."""
    journeys.encode_id = mod.encode_id
    pl._reach_cache.clear()
    pl.catalog.forget_rides()
    mod._IDS.clear()
    secs = []
    for q in queries:
        t = time.thread_time()
        pl.plan(q)
        secs.append(time.thread_time() - t)
    return statistics.median(secs) * 1e3


if __name__ == "__main__":
    main()
