"""Peer: a plain pure-Python Connection Scan (Dibbelt et al., earliest arrival).

Built from the same expanded trips the planner searched (benchmarks/bench_plan.py
`expanded_trips`: stops, arrival and departure seconds of the query day), so both answer the
same earliest-arrival queries, with the planner's footpaths (walks between nearby stops and
platforms of one station, transfers.txt; walking seconds, relaxed when a stop's arrival
improves; no minimum change time at a stop). Connections sorted by departure once; a query
binary-searches its first connection and stops scanning once departures pass the best
arrival at the target.
"""

from __future__ import annotations

from bisect import bisect_left

__all__ = ["CsaPeer"]

INF = 1 << 62


class CsaPeer:
    def __init__(self, trips, footpaths=None) -> None:  # type: ignore[no-untyped-def]
        """`footpaths`: (start, to, walk_s) CSR arrays over stops (routing.footpaths)."""
        conns = []
        for k, (stops, arr, dep) in enumerate(trips):
            s, a, d = [int(x) for x in stops], [int(x) for x in arr], [int(x) for x in dep]
            for i in range(len(s) - 1):
                conns.append((d[i], a[i + 1], s[i], s[i + 1], k))
        conns.sort()
        self.dep = [c[0] for c in conns]
        self.conns = conns
        self.n_trips = len(trips)
        self.n_stops = 1 + max((max(int(x) for x in t[0]) for t in trips), default=0)
        self.walks: dict[int, list[tuple[int, int]]] = {}
        if footpaths is not None:
            start, to, walk = footpaths
            for s in range(len(start) - 1):
                out = [(int(to[r]), int(walk[r])) for r in range(int(start[s]), int(start[s + 1]))
                       if int(to[r]) != s]
                if out:
                    self.walks[s] = out

    def earliest(self, origin: int, target: int, t: int) -> int | None:
        """Earliest arrival (seconds, the trips' origin) at `target` leaving `origin` at t."""
        best = {origin: t}
        walks = self.walks
        reach = t if origin == target else INF
        for s2, w in walks.get(origin, ()):
            if t + w < best.get(s2, INF):
                best[s2] = t + w
                if s2 == target:
                    reach = min(reach, t + w)
        on = bytearray(self.n_trips)
        conns = self.conns
        for i in range(bisect_left(self.dep, t), len(conns)):
            dep, arr, frm, to, trip = conns[i]
            if dep >= reach:
                break
            if on[trip] or best.get(frm, INF) <= dep:
                on[trip] = 1
                if arr < best.get(to, INF):
                    best[to] = arr
                    if to == target:
                        reach = min(reach, arr)
                    for s2, w in walks.get(to, ()):
                        if arr + w < best.get(s2, INF):
                            best[s2] = arr + w
                            if s2 == target:
                                reach = min(reach, arr + w)
        return None if reach == INF else reach
