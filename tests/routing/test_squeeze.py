"""`collect` squeezes the journeys the kernel found in compiled code (`raptor.squeeze_rows`,
inside the kernel's call: `raptor.search(..., squeeze=True)`): the same rides as
`search.squeeze` (Python, the reference; criteria=price uses it) gives for the kernel's own
output (the same call with squeeze=False), forward, arrive-by and range queries, on real
feeds."""

from __future__ import annotations

import inspect
from datetime import date

import numpy as np

from routing import planner as planner_mod
from routing import search as search_mod
from routing.journeys import Ride
from routing.planner import Planner, Query
from test_bruteforce import CFG, _load


def _reference(search, n, out_len, out_last, out_inst, out_board, out_alight):
    d, reverse = search.day, search.day.reverse
    found = []
    for i in range(n):
        rides = [Ride(inst=int(out_inst[i, m]), board=int(out_board[i, m]),
                      alight=int(out_alight[i, m]),
                      length=int(search.pat_len[d.q_pattern[d.inst_q[out_inst[i, m]]]]))
                 for m in range(out_len[i])]
        rides = search_mod.squeeze(search, rides, first_by=int(out_last[i]))
        if reverse:
            found.append(tuple(Ride(r.inst, r.length - 1 - r.alight, r.length - 1 - r.board,
                                    r.length) for r in rides))
        else:
            found.append(tuple(reversed(rides)))
    return found


def test_compiled_squeeze_matches_the_reference(monkeypatch):
    net = _load("marta-rail-blue-green-2021", "cobblinc-route30-2021")
    pl = Planner.build(net, CFG)
    raw: list = []
    seen: list = []
    kernel, collect = search_mod.raptor.search, planner_mod.collect
    outputs, made = search_mod.raptor.Scratch.outputs, {}

    def kept_outputs(self, cap):
        out = outputs(self, cap)
        made[id(out.pinned)] = out          # (`search` takes the outputs as one block)
        return out

    names = list(inspect.signature(kernel.py_func).parameters)

    def kept_kernel(*args):
        assert args[names.index("squeeze")] is True
        unsqueezed = list(args)
        unsqueezed[names.index("squeeze")] = False
        n, best, m = kernel(*unsqueezed)
        assert m == 0                                       # (nothing laid out for collect)
        rows, rides = made[id(args[-1])][:2]                # raptor.Outputs
        raw.append((n, rows[2].copy(), rows[3].copy(),      # len, first ride's latest need,
                    *(a.copy() for a in rides[:3])))        # inst, board, alight
        got = kernel(*args)                                 # the same call, squeezed
        assert got[:2] == (n, best)
        return got

    def kept_collect(search, *args):
        got, best = collect(search, *args)
        seen.append((search, got))
        return got, best

    monkeypatch.setattr(search_mod.raptor, "search", kept_kernel)
    monkeypatch.setattr(search_mod.raptor.Scratch, "outputs", kept_outputs)
    monkeypatch.setattr(planner_mod, "collect", kept_collect)
    d = date(2021, 10, 20)
    served = np.unique(net.st_stop)
    rng = np.random.default_rng(11)
    moved = rides = 0
    for _ in range(60):
        a, b = rng.choice(served, 2, replace=False).tolist()
        secs = int(rng.integers(6 * 3600, 20 * 3600))
        for q in (Query(str(net.stop_id[a]), str(net.stop_id[b]), d, secs),
                  Query(str(net.stop_id[a]), str(net.stop_id[b]), d, secs, arrive_by=True),
                  Query(str(net.stop_id[a]), str(net.stop_id[b]), d, secs, window_s=3600)):
            raw.clear()
            seen.clear()
            pl.plan(q)
            assert len(raw) == len(seen)
            for (search, got), (n, out_len, out_last, inst, board, alight) in zip(seen, raw):
                assert got == _reference(search, n, out_len, out_last, inst, board, alight)
                rides += sum(len(j) for j in got)
                found = {int(inst[i, m]) for i in range(n) for m in range(out_len[i])}
                moved += sum(r.inst not in found for j in got for r in j)
    assert rides >= 100, rides
    assert moved > 0, moved            # some rides really were squeezed to a later trip
