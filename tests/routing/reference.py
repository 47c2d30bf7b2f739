"""Brute-force reference: a time-expanded graph searched with networkx Dijkstra.

Built straight from the `Network` (not from the planner's timetable): every trip that runs on
a service date around the query date becomes departure/arrival events at absolute times;
stops get waiting chains; boarding needs the board time of the mode, alighting adds the
alight time and then any footpath (the planner's footpath list, with the same
max(walk, floor or default) rule). Only events inside [t0, t0 + horizon] are built, so the
reference is exact for journeys arriving by t0 + horizon.
"""

from __future__ import annotations

from datetime import timedelta

import networkx as nx
import numpy as np

from routing.planner import Planner
from routing.timetable import route_boards, service_ref_epoch


class Reference:
    def __init__(self, planner: Planner, day, t0: int, horizon: int, min_conn: int | None = None,
                 days: tuple[int, int] | None = None):
        """`days`: service dates (before, after) `day` to take (default the planner's)."""
        net, cfg = planner.network, planner.config
        self.pl, self.t0, self.t1 = planner, t0, t0 + horizon
        min_conn = cfg.transfer_s if min_conn is None else min_conn
        g = nx.DiGraph()
        stop_times: dict[int, set[int]] = {}
        trip_tz = planner.trip_tz
        mode_of = net.route_mode[net.trip_route]
        board_s = route_boards(net, cfg)[net.trip_route] if net.n_trips else []
        alight_s = np.array([cfg.alight_s.get(m, 0) for m in mode_of]) if net.n_trips else []
        fps = planner.fps
        self.alight_edges = []
        before, after = days or (cfg.days_before, cfg.days_after)
        for delta in range(-before, after + 1):
            sd = day + timedelta(days=delta)
            col = sd.toordinal() - net.service_base_date
            if not 0 <= col < net.service_days.shape[1]:
                continue
            for t in np.flatnonzero(net.service_days[net.trip_service, col]).tolist():
                ref = service_ref_epoch(sd, net.timezones[int(trip_tz[t])])
                a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
                arr = net.st_arr[a:b].astype(np.int64) + ref
                dep = net.st_dep[a:b].astype(np.int64) + ref
                if dep[0] > self.t1 or arr[-1] < t0:
                    continue
                for i in range(b - a):
                    s = int(net.st_stop[a + i])
                    key = (t, sd.toordinal(), i)
                    if i > 0 and t0 <= arr[i] <= self.t1:
                        if t0 <= dep[i - 1]:
                            g.add_edge(("D", key[:2], i - 1), ("A", key[:2], i), weight=int(arr[i] - dep[i - 1]))
                        if net.st_dropoff[a + i] != 1:
                            self.alight_edges.append((("A", key[:2], i), s, int(arr[i]), int(alight_s[t])))
                    if 0 < i < b - a - 1 and t0 <= arr[i] and dep[i] <= self.t1:
                        g.add_edge(("A", key[:2], i), ("D", key[:2], i), weight=int(dep[i] - arr[i]))
                    if i < b - a - 1 and net.st_pickup[a + i] != 1 and t0 <= dep[i] - board_s[t] \
                            and dep[i] <= self.t1:
                        ready = int(dep[i] - board_s[t])
                        g.add_edge(("S", s, ready), ("D", key[:2], i), weight=int(board_s[t]))
                        stop_times.setdefault(s, set()).add(ready)
        for node, s, arr, al in self.alight_edges:
            for e in range(fps.start[s], fps.start[s + 1]):
                s2 = int(fps.to[e])
                fl = int(fps.floor_s[e])
                f = max(int(fps.walk_s[e]), fl if fl >= 0 else min_conn)
                ready = arr + al + f
                if ready <= self.t1:
                    g.add_edge(node, ("S", s2, ready), weight=al + f)
                    stop_times.setdefault(s2, set()).add(ready)
        for s, times in stop_times.items():
            ts = sorted(times)
            for x, y in zip(ts, ts[1:]):
                g.add_edge(("S", s, x), ("S", s, y), weight=y - x)
        self.g = g
        self.stop_times = {s: np.array(sorted(v)) for s, v in stop_times.items()}

    def earliest(self, sources: dict[int, int], egress: dict[int, int]) -> int | None:
        """Earliest (vehicle arrival + alight time + egress walk) from sources {stop: walk s}."""
        g = self.g
        added = []
        g.add_node("SRC")
        for s, w in sources.items():
            ts = self.stop_times.get(s)
            if ts is None:
                continue
            k = np.searchsorted(ts, self.t0 + w)
            if k < len(ts):
                g.add_edge("SRC", ("S", s, int(ts[k])), weight=int(ts[k] - self.t0))
        for node, s, arr, al in self.alight_edges:
            if s in egress and g.has_node(node):
                g.add_edge(node, "TGT", weight=al + egress[s])
                added.append(node)
        try:
            d = nx.shortest_path_length(g, "SRC", "TGT", weight="weight") if "TGT" in g else None
        except nx.NetworkXNoPath:
            d = None
        finally:
            g.remove_node("SRC")
            if "TGT" in g:
                g.remove_node("TGT")
        if d is None or self.t0 + d > self.t1:
            return None
        return self.t0 + d
