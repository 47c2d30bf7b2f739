"""A served plan's CPU in one process, cache-cold: plan + `render_json` on fresh queries with
`--pollute-mb` of unrelated memory read between them (a served worker runs between its plans
aiohttp, other requests and other tenants' work: its caches are cold), the pieces in thread
CPU ms per query and a hash of every body (two trees must print the same one).

    .venv/bin/python benchmarks/bench_plan_cold.py --pollute-mb 32
    git archive main | tar -x -C /tmp/base
    for i in 1 2 3 4; do .venv/bin/python benchmarks/bench_plan_cold.py --tree /tmp/base; \
        .venv/bin/python benchmarks/bench_plan_cold.py; done      # alternate the trees

`--tree` plans with another tree's code (this interpreter); the pieces are timed by wrapping
functions both trees have (a tree without one leaves it out).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import types
from collections import defaultdict
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent))
ap.add_argument("--feed", default="nyc-subway-2018")
ap.add_argument("--demo-scale", type=int, default=None)
ap.add_argument("--pollute-mb", type=int, default=32)
ap.add_argument("--queries", type=int, default=600)
ap.add_argument("--new-rides", action="store_true",
                help="forget the rides and ids that choosing the queries memoised (a served "
                     "stream builds ~3 rides a demo plan anew; without it the loop builds none)")
args = ap.parse_args()
sys.path.insert(0, args.tree)

import numpy as np  # noqa: E402

import maas.api.plan as plan_api  # noqa: E402
import maas.api.plan_json as plan_json  # noqa: E402
import routing.planner as planner_mod  # noqa: E402
from benchmarks import bench_plan  # noqa: E402
from maas.appkeys import BOOKINGS, LIVE  # noqa: E402
from maas.services import booking_config  # noqa: E402
from maas.settings import Settings  # noqa: E402
from routing import itinerary, raptor  # noqa: E402
from routing.config import RoutingConfig  # noqa: E402
from routing.planner import Planner  # noqa: E402

CPU: dict[str, float] = defaultdict(float)


def timed(owner, name: str, key: str) -> None:  # type: ignore[no-untyped-def]
    fn = getattr(owner, name, None)
    if fn is None:
        return

    def run(*a, **k):  # type: ignore[no-untyped-def]
        t = time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            CPU[key] += time.thread_time() - t
    setattr(owner, name, run)


timed(raptor, "search", "kernel")
timed(planner_mod, "collect", "collect (kernel + its Python)")
timed(planner_mod, "assemble", "assemble")
timed(plan_api, "itinerary_quote", "prices")
timed(plan_json, "leg_json", "leg_json")

net, label = bench_plan.load_network(types.SimpleNamespace(feed=args.feed,
                                                           demo_scale=args.demo_scale))
pl = Planner.build(net, RoutingConfig())
d, _ = bench_plan.busiest_day(net)
warm = bench_plan.make_queries(pl, d, 200, 1)
fresh = bench_plan.make_queries(pl, d, args.queries, 7)
settings = Settings(database_url="postgresql://unused/unused", redis_url="redis://unused")
live = types.SimpleNamespace(planner=pl, network=net,
                             realtime=types.SimpleNamespace(alerts={}, all_alerts=lambda: []))
request = types.SimpleNamespace(app={LIVE: types.SimpleNamespace(current=live),
                                     BOOKINGS: types.SimpleNamespace(
                                         config=booking_config(settings.bookings))},
                                headers={})
for q in warm:
    plan_api.render_json(request, pl.plan(q))
CPU.clear()
if args.new_rides:
    pl.catalog.forget_rides()
    itinerary._IDS.clear()
junk = np.ones(args.pollute_mb * 1024 * 1024 // 8) if args.pollute_mb else None
plans, bodies, digest = [], [], hashlib.sha256()
for q in fresh:
    if junk is not None:
        junk.sum()
    t0 = time.thread_time()
    its = pl.plan(q)
    t1 = time.thread_time()
    body = plan_api.render_json(request, its)
    t2 = time.thread_time()
    plans.append(t1 - t0)
    bodies.append(t2 - t1)
    digest.update(body)
n = len(fresh)
print(f"{label}, tree {args.tree}, {n} fresh queries, {args.pollute_mb} MB read between them: "
      f"plan + body {np.mean(np.add(plans, bodies)) * 1e3:.3f} ms a query "
      f"(plan {np.mean(plans) * 1e3:.3f}, body {np.mean(bodies) * 1e3:.3f}); "
      + ", ".join(f"{k} {v / n * 1e3:.3f}" for k, v in CPU.items())
      + f"; bodies sha256 {digest.hexdigest()[:16]}")
