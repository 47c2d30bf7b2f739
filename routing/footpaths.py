"""Transfers between stops: a networkx walking graph, closed into a CSR list of footpaths.

Graph: stops are nodes; edges join stops whose walking distance (straight line x detour)
is within `walk_radius_m` (any feed, any mode) and every platform to its parent station.
Shortest walking paths (Dijkstra, cut off at the radius) give the transitive footpaths the
RAPTOR rounds need (one footpath per round).

Each footpath s -> s2 carries a walking time and a `floor`: the time it takes is
max(walk_s, floor if floor >= 0 else the query's minimum connection time). transfers.txt
(types 0-3, also on parent stations) and operator station rules set floors; type 3 removes
the transfer. `rule` marks transfers.txt edges, which survive max_walk_m = 0. Self loops
(s -> s) are the change at one stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from routing.config import RoutingConfig
from routing.network import Network
from routing.timetable import _station_rules

__all__ = ["Footpaths", "build_footpaths", "haversine_m", "near_stops"]

EARTH_M = 6_371_000.0


def haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


@dataclass(frozen=True, eq=False)
class Footpaths:
    start: np.ndarray       # s -> first footpath row; len n_stops+1 (int64)
    to: np.ndarray          # row -> s2 (int32)
    walk_s: np.ndarray      # row -> walking seconds (int32)
    floor_s: np.ndarray     # row -> rule time or -1 = query default (int32)
    dist_m: np.ndarray      # row -> walking metres (int32; 0 for self loops)
    rule: np.ndarray        # row -> from transfers.txt (bool)
    rows: np.ndarray        # row -> (to, walk_s, floor_s, metres or -1): what the rounds
    #                         read of a footpath, in one place (`kernel_rows`) (int32)

    def transposed(self) -> Footpaths:
        n = len(self.start) - 1
        frm = np.repeat(np.arange(n, dtype=np.int32), np.diff(self.start))
        return _csr(n, self.to, frm, self.walk_s, self.floor_s, self.dist_m, self.rule)

    def adjusted(self, speed_mps: float | None, built_mps: float, extra_s: int = 0) -> Footpaths:
        """The same footpaths walked at `speed_mps` instead of `built_mps` (None: as built),
        each taking `extra_s` more (its floor too: max(walk, floor) + extra). Walk times
        scale with the speed; transfers.txt times (walk 0, a fixed floor) do not."""
        walk, floor = self.walk_s, self.floor_s
        if speed_mps is not None and speed_mps != built_mps:
            walk = np.ceil(walk * (built_mps / speed_mps)).astype(np.int32)
        if extra_s:
            walk = (walk + extra_s).astype(np.int32)
            floor = np.where(floor >= 0, floor + extra_s, -1).astype(np.int32)
        if walk is self.walk_s and floor is self.floor_s:
            return self
        return Footpaths(start=self.start, to=self.to, walk_s=walk, floor_s=floor,
                         dist_m=self.dist_m, rule=self.rule,
                         rows=kernel_rows(self.start, self.to, walk, floor, self.dist_m, self.rule))

    def neighbours(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.start[s], self.start[s + 1]
        return self.to[a:b], self.dist_m[a:b]


def kernel_rows(start: np.ndarray, to: np.ndarray, walk: np.ndarray, floor: np.ndarray,
                dist: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """The footpaths as the rounds read them (`raptor.run`): (to, walk_s, floor_s, metres)
    in one int32 row each, metres -1 where no max_walk_m drops the footpath (transfers.txt,
    the change at one stop). Four arrays cost a NYC query ~1,100 cache lines for ~260 of
    footpaths' worth; one row a footpath, four to a line: ~1.3 % of the kernel cache-cold."""
    frm = np.repeat(np.arange(len(start) - 1), np.diff(start))
    kept = np.where(rule | (frm == to), -1, dist)
    return np.ascontiguousarray(np.stack([to, walk, floor, kept], axis=1), dtype=np.int32)


def _csr(n, frm, to, walk, floor, dist, rule) -> Footpaths:
    order = np.lexsort((to, frm))
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(frm, minlength=n), out=start[1:])
    to, walk = np.asarray(to, np.int32)[order], np.asarray(walk, np.int32)[order]
    floor, dist = np.asarray(floor, np.int32)[order], np.asarray(dist, np.int32)[order]
    rule = np.asarray(rule, bool)[order]
    return Footpaths(start=start, to=to, walk_s=walk, floor_s=floor, dist_m=dist, rule=rule,
                     rows=kernel_rows(start, to, walk, floor, dist, rule))


def near_stops(lat: np.ndarray, lon: np.ndarray, qlat: float, qlon: float, radius_m: float):
    """Stops within radius_m of a point (straight line): (indices, metres)."""
    d = haversine_m(qlat, qlon, lat, lon)
    idx = np.flatnonzero(d <= radius_m)
    return idx, d[idx]


def _near_pairs(lat: np.ndarray, lon: np.ndarray, radius_m: float):
    """All pairs (i < j) closer than radius_m, by a grid of radius-sized cells."""
    n = len(lat)
    if n == 0 or radius_m <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    cell_lat = radius_m / 111_000.0
    cell_lon = cell_lat / max(np.cos(np.radians(np.nanmean(lat))), 0.1)
    ci = np.floor(lat / cell_lat).astype(np.int64)
    cj = np.floor(lon / cell_lon).astype(np.int64)
    cells: dict[tuple[int, int], list[int]] = {}
    for k, key in enumerate(zip(ci.tolist(), cj.tolist())):
        cells.setdefault(key, []).append(k)
    arrays = {k: np.array(v) for k, v in cells.items()}
    out_i, out_j = [], []
    for (a, b), members in arrays.items():
        for da in (-1, 0, 1):
            for db in (-1, 0, 1):
                other = arrays.get((a + da, b + db))
                if other is None:
                    continue
                ii = np.repeat(members, len(other))
                jj = np.tile(other, len(members))
                keep = ii < jj
                out_i.append(ii[keep])
                out_j.append(jj[keep])
    i = np.concatenate(out_i)
    j = np.concatenate(out_j)
    d = haversine_m(lat[i], lon[i], lat[j], lon[j])
    keep = d <= radius_m
    return i[keep], j[keep], d[keep]


def build_footpaths(net: Network, cfg: RoutingConfig) -> Footpaths:
    n = net.n_stops
    detour, radius = cfg.walk_detour, cfg.walk_radius_m
    ok = np.isfinite(net.stop_lat) & np.isfinite(net.stop_lon)
    lat = np.where(ok, net.stop_lat, 0.0)
    lon = np.where(ok, net.stop_lon, 0.0)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    i, j, d = _near_pairs(lat, lon, radius / detour)
    g.add_weighted_edges_from(zip(i.tolist(), j.tolist(), (d * detour).tolist()))
    children = np.flatnonzero(net.stop_parent >= 0)
    parents = net.stop_parent[children]
    pd_ = haversine_m(lat[children], lon[children], lat[parents], lon[parents]) * detour
    for c, p, w in zip(children.tolist(), parents.tolist(), pd_.tolist()):
        if not g.has_edge(c, p) or g[c][p]["weight"] > w:
            g.add_edge(c, p, weight=w)
    paths: dict[tuple[int, int], float] = {}
    for s in range(n):
        if g.degree(s) == 0:
            continue
        for s2, w in nx.single_source_dijkstra_path_length(g, s, cutoff=radius).items():
            if s2 != s:
                paths[(s, s2)] = w
    _, _, transfer_rule = _station_rules(net, cfg)
    same_station = _station_of(net)
    # (s, s2) -> [dist_m, floor, rule]
    edges: dict[tuple[int, int], list] = {}
    for (s, s2), w in paths.items():
        floor = -1
        if same_station[s] == same_station[s2] and transfer_rule[s] >= 0:
            floor = int(transfer_rule[s])
        edges[(s, s2)] = [w, floor, False]
    for s in range(n):
        edges[(s, s)] = [0.0, int(transfer_rule[s]), False]
    _apply_transfers_txt(net, edges, lat, lon, detour)
    if not edges:
        z = np.zeros(0, np.int32)
        return _csr(n, z, z, z, z, z, z.astype(bool))
    keys = np.array(list(edges.keys()), dtype=np.int64).reshape(-1, 2)
    vals = list(edges.values())
    dist = np.array([v[0] for v in vals])
    floor = np.array([v[1] for v in vals], dtype=np.int32)
    rule = np.array([v[2] for v in vals], dtype=bool)
    walk = np.ceil(dist / cfg.walk_speed_mps).astype(np.int32)
    fixed = np.array([len(v) > 3 for v in vals], dtype=bool)   # time = floor exactly
    walk[fixed] = 0
    return _csr(n, keys[:, 0], keys[:, 1], walk, floor, np.round(dist).astype(np.int32), rule)


def _station_of(net: Network) -> np.ndarray:
    return np.where(net.stop_parent >= 0, net.stop_parent, np.arange(net.n_stops))


def _apply_transfers_txt(net: Network, edges: dict, lat, lon, detour: float) -> None:
    """transfers.txt rows; a row on a parent station applies to all its platforms."""
    if not len(net.transfer_from):
        return
    members: dict[int, list[int]] = {}
    for c, p in zip(np.flatnonzero(net.stop_parent >= 0).tolist(),
                    net.stop_parent[net.stop_parent >= 0].tolist()):
        members.setdefault(p, []).append(c)
    for f, t, typ, m in zip(net.transfer_from.tolist(), net.transfer_to.tolist(),
                            net.transfer_type.tolist(), net.transfer_min_s.tolist()):
        for a in [f, *members.get(f, [])]:
            for b in [t, *members.get(t, [])]:
                key = (a, b)
                if typ == 3:
                    edges.pop(key, None)
                    continue
                dist = 0.0 if a == b else float(
                    haversine_m(lat[a], lon[a], lat[b], lon[b]) * detour)
                # rule rows keep their geometric metres for display; walk time 0, the floor
                # (min_transfer_time, or 0 for a timed transfer) is the time
                if typ == 2 and m >= 0:
                    edges[key] = [dist, int(m), True, 0]
                elif typ == 1:
                    edges[key] = [dist, 0, True, 0]
                else:
                    cur = edges.get(key)
                    edges[key] = [*cur[:2], True, *cur[3:]] if cur else [dist, -1, True]
