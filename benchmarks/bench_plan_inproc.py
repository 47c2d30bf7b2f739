"""`Planner.plan` CPU of another tree's routing/planner.py, search.py and journeys.py (loaded
as modules beside this tree's, the rest of routing shared) against this tree's, in one
process: passes over the same fresh NYC point queries (rides forgotten before each pass),
the two planners alternating, optionally `--pollute-mb` of memory read between queries
(cache-cold); the median per pass and the pairwise ratio. Both must plan the same
itineraries (checked first).

    git archive main | tar -x -C /tmp/base
    .venv/bin/python benchmarks/bench_plan_inproc.py --tree /tmp/base --pollute-mb 32
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_plan  # noqa: E402
import routing.planner as new_planner  # noqa: E402
from routing.config import RoutingConfig  # noqa: E402


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", required=True, help="the other tree (its routing/ is loaded)")
    ap.add_argument("--feed", default="nyc-subway-2018")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--passes", type=int, default=12)
    ap.add_argument("--pollute-mb", type=int, default=0)
    args = ap.parse_args()
    old = Path(args.tree) / "routing"
    old_journeys = _load("old_journeys", old / "journeys.py")
    old_search = _load("old_search", old / "search.py")
    old_planner = _load("old_planner", old / "planner.py")
    old_planner.assemble, old_planner.Catalog = old_journeys.assemble, old_journeys.Catalog
    old_planner.Searches, old_planner.Sources = old_search.Searches, old_search.Sources
    old_planner.collect = old_search.collect
    net, label = bench_plan.load_network(types.SimpleNamespace(feed=args.feed, demo_scale=None))
    cfg = RoutingConfig()
    new = new_planner.Planner.build(net, cfg)
    planners = {"old": old_planner.Planner(net, cfg, new.fwd, new.fps), "new": new}
    d, _ = bench_plan.busiest_day(net)
    queries = bench_plan.make_queries(new, d, args.queries, 3)
    for q in queries:
        a, b = planners["old"].plan(q), new.plan(q)
        assert a == b and [i.id for i in a] == [i.id for i in b], q
    junk = np.ones(args.pollute_mb * 1024 * 1024 // 8) if args.pollute_mb else None
    got: dict[str, list[float]] = {"old": [], "new": []}
    for p in range(args.passes):
        for name in ("old", "new") if p % 2 == 0 else ("new", "old"):
            pl = planners[name]
            pl.catalog.forget_rides()
            took = []
            for q in queries:
                if junk is not None:
                    junk.sum()
                t = time.thread_time_ns()
                pl.plan(q)
                took.append(time.thread_time_ns() - t)
            got[name].append(float(np.median(took)) / 1e3)
    o, n = np.array(got["old"]), np.array(got["new"])
    print(f"{label}, {len(queries)} queries, {args.pollute_mb} MB read between them; "
          f"plan p50 us per pass, old {np.round(o, 1).tolist()}, new {np.round(n, 1).tolist()}; "
          f"new/old per pass {np.round(n / o, 3).tolist()}, median {np.median(n / o):.3f}")


if __name__ == "__main__":
    main()
