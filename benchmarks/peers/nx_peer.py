"""Peer: a networkx time-expanded graph + Dijkstra (earliest arrival, same-stop transfers).

Nodes per trip event (departure, arrival) and per stop event (waiting chain); edges weigh the
time difference. A query starts at the first stop event at the origin at or after the
departure time and ends at the first settled arrival event at the destination.
"""

from __future__ import annotations

import networkx as nx
import numpy as np


class NxPeer:
    def __init__(self, trips: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
        g = nx.DiGraph()
        waits: dict[int, set[int]] = {}
        self.arrivals: dict[int, list] = {}
        for k, (stops, arr, dep) in enumerate(trips):
            n = len(stops)
            for i in range(n):
                s = int(stops[i])
                if i + 1 < n:
                    g.add_edge(("d", k, i), ("a", k, i + 1), weight=int(arr[i + 1] - dep[i]))
                    g.add_edge(("w", s, int(dep[i])), ("d", k, i), weight=0)
                    waits.setdefault(s, set()).add(int(dep[i]))
                if i > 0:
                    g.add_edge(("a", k, i), ("w", s, int(arr[i])), weight=0)
                    waits.setdefault(s, set()).add(int(arr[i]))
                    self.arrivals.setdefault(s, []).append((("a", k, i), int(arr[i])))
                    if i + 1 < n:
                        g.add_edge(("a", k, i), ("d", k, i), weight=int(dep[i] - arr[i]))
        self.times = {}
        for s, ts in waits.items():
            ts = sorted(ts)
            self.times[s] = np.array(ts)
            for x, y in zip(ts, ts[1:]):
                g.add_edge(("w", s, x), ("w", s, y), weight=y - x)
        self.g = g

    def earliest(self, origin: int, dest: int, t: int) -> int | None:
        ts = self.times.get(origin)
        if ts is None:
            return None
        i = int(np.searchsorted(ts, t))
        if i >= len(ts):
            return None
        src = ("w", origin, int(ts[i]))
        g = self.g
        for node, _ in self.arrivals.get(dest, []):
            g.add_edge(node, "T", weight=0)
        try:
            if "T" not in g:
                return None
            return int(ts[i]) + int(nx.dijkstra_path_length(g, src, "T", weight="weight"))
        except nx.NetworkXNoPath:
            return None
        finally:
            if "T" in g:
                g.remove_node("T")
