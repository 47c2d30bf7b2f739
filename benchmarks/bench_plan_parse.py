"""GET /v1/plan's way from query string to routing Query, in one process: `parse_query`
(PlanQuery), `to_query`, `by_price` and `request_lang` on 2,000 requests of the usual
parameters (from, to, date, time), hot (one after the other) and cache-cold (`--pollute-mb`
read between requests, as a served worker runs them); us per request, medians of the rounds.

    git archive main | tar -x -C /tmp/base
    for i in 1 2 3 4; do .venv/bin/python benchmarks/bench_plan_parse.py --tree /tmp/base; \\
        .venv/bin/python benchmarks/bench_plan_parse.py; done      # alternate the trees
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent))
ap.add_argument("--pollute-mb", type=int, default=32)
ap.add_argument("--rounds", type=int, default=9)
args = ap.parse_args()
sys.path.insert(0, args.tree)

import numpy as np  # noqa: E402
from aiohttp.test_utils import make_mocked_request  # noqa: E402

from maas.api.plan import PlanQuery, by_price, to_query  # noqa: E402
from maas.http import parse_query  # noqa: E402
from maas.lang import request_lang  # noqa: E402

PATHS = ("/v1/plan?from=nyc%3A127N&to=nyc%3A635S&date=2018-06-12&time=09%3A15%3A00",
         "/v1/plan?from=nyc%3A101N&to=nyc%3AA27S&date=2018-06-12&time=17%3A02")


def piece(request) -> None:  # type: ignore[no-untyped-def]
    q = parse_query(request, PlanQuery)
    to_query(q)
    by_price(q)
    request_lang(request, q.lang)


requests = [make_mocked_request("GET", PATHS[i % 2]) for i in range(2000)]
for r in requests:
    r.query     # parsed once per request by aiohttp before the handler, not timed
junk = np.ones(args.pollute_mb * 2**20 // 8)
hot, cold = [], []
for _ in range(args.rounds):
    t = time.perf_counter()
    for r in requests:
        piece(r)
    hot.append((time.perf_counter() - t) / len(requests) * 1e6)
    each = []
    for r in requests[:200]:
        junk.sum()
        t = time.perf_counter()
        piece(r)
        each.append(time.perf_counter() - t)
    cold.append(statistics.median(each) * 1e6)
print(f"{args.tree}: hot {statistics.median(hot):.2f} us, cold {statistics.median(cold):.2f} us "
      "per request")
