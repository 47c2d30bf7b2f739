"""McRAPTOR rounds with a price label (numba): the search behind `criteria=price`.

Same timetable, footpaths and connection rules as `routing.raptor`, but every stop keeps a
*bag* of labels instead of one time per round, so a journey that arrives later but costs
less survives. A label is (time, F, D, op):

  F   the sum of the rides' full one-adult prices (`FareTable.full`)
  D   the sum of their linked-discount prices (`FareTable.disc`)
  op  -1 no ride yet, >= 0 the one operator of every ride so far, -2 two or more operators
      (F is then set to D: the journey pays D whatever comes next)

The price a journey pays is F with one operator and D with several: exactly the booking's
`price_units` for one adult. The criterion is not additive (a second operator discounts the
rides already taken), so dominance is the exact one for this model: y dominates x when
y.time <= x.time and, for every continuation E, price(y + E) <= price(x + E), which holds iff
  - same op (or no discount configured):  y.F <= x.F and y.D <= x.D;
  - y has several operators, x has rides:  y.D <= x.D  (x pays at least D + discounted E).
Anything else is kept (a single-operator label never dominates one of another operator:
a continuation on its operator keeps it at full price while the other is discounted).
Target pruning uses D as the lower bound of what a label's journeys will pay. Bags hold the
labels of every round at a stop; a label is compared with all of them (fewer rounds = fewer
transfers, the third criterion); only the labels new in round k-1 board in round k.

Route bags: a ride's price depends on where it was boarded, so in-vehicle labels are compared
only when they boarded at the same position on trips of the same fare class. A day pattern
may hold trips of several fare classes (same stops, different routes): boarding then also
takes the first later trip of every other class (it may be slower but cheaper).

Returns the number of target labels written, or -1 when a buffer is full (the caller
retries with larger buffers).
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from routing.errors import PriceSearchTooLarge
from routing.raptor import _earliest

__all__ = ["Bags", "BagPool", "collect_priced", "search_kernel", "chain"]


class Bags:
    """Label pool and per-stop bag heads for one price search (grown on overflow)."""

    def __init__(self, n_stops: int, n_q: int, cap: int = 1 << 15, rb_cap: int = 1 << 12,
                 t_cap: int = 1 << 10) -> None:
        self.cap, self.rb_cap, self.t_cap = cap, rb_cap, t_cap
        self.l_arr = np.empty(cap, np.int32)
        self.l_full = np.empty(cap, np.int64)
        self.l_disc = np.empty(cap, np.int64)
        self.l_op = np.empty(cap, np.int32)
        self.l_round = np.empty(cap, np.int32)
        self.l_parent = np.empty(cap, np.int32)
        self.l_inst = np.empty(cap, np.int32)
        self.l_board = np.empty(cap, np.int32)
        self.l_alight = np.empty(cap, np.int32)
        self.l_next = np.empty(cap, np.int32)     # next label of the same bag
        self.l_nnext = np.empty(cap, np.int32)    # next new label of the same stop
        self.l_dead = np.empty(cap, np.bool_)
        self.ready_head = np.full(n_stops, -1, np.int32)
        self.veh_head = np.full(n_stops, -1, np.int32)
        self.new_ready = np.full(n_stops, -1, np.int32)
        self.new_veh = np.full(n_stops, -1, np.int32)
        self.marked = np.zeros(n_stops, np.bool_)
        self.marked_list = np.empty(n_stops, np.int32)
        self.veh_flag = np.zeros(n_stops, np.bool_)
        self.veh_list = np.empty(n_stops, np.int32)
        self.q_pos = np.full(max(n_q, 1), -1, np.int32)
        self.queue = np.empty(max(n_q, 1), np.int32)
        self.rb = np.empty((rb_cap, 7), np.int64)  # inst, board, parent, F, D, op, class
        # target labels: time, price paid, round, inst, board, alight, parent, dead
        self.tg = np.empty((t_cap, 8), np.int64)
        self.seen = np.empty(64, np.int64)     # fare classes boarded from one label at one stop

    def reset(self) -> None:
        """Ready for the next query (the kernel leaves the per-stop lists it used set)."""
        self.ready_head.fill(-1)
        self.veh_head.fill(-1)


@numba.njit(cache=True, nogil=True, inline="always")
def _dominates(yF, yD, yop, xF, xD, xop, linked):
    if not linked:
        return yF <= xF
    if yop == xop:
        return yF <= xF and yD <= xD
    return yop == -2 and xop != -1 and yD <= xD


@numba.njit(cache=True, nogil=True)
def _insert(head, s, t, F, D, op, k, linked, l_arr, l_full, l_disc, l_op, l_round, l_next,
            l_dead):
    """False if a label of the bag at s dominates (t, F, D, op); else kills the labels of
    round k it dominates and returns True (the caller writes the label). Dead labels are
    unlinked from the bag on the way (the per-round lists of new labels skip them)."""
    prev = -1
    y = head[s]
    while y >= 0:
        nxt = l_next[y]
        if l_dead[y]:
            if prev < 0:
                head[s] = nxt
            else:
                l_next[prev] = nxt
        else:
            if l_arr[y] <= t and _dominates(l_full[y], l_disc[y], l_op[y], F, D, op, linked):
                return False
            if l_round[y] == k and t <= l_arr[y] and \
                    _dominates(F, D, op, l_full[y], l_disc[y], l_op[y], linked):
                l_dead[y] = True
                if prev < 0:
                    head[s] = nxt
                else:
                    l_next[prev] = nxt
            else:
                prev = y
        y = nxt
    return True


@numba.njit(cache=True, nogil=True)
def _pruned(tg, n_tg, t, D):
    """A target label arriving by t that costs at most D (what anything from here pays)."""
    for j in range(n_tg):
        if tg[j, 7] == 0 and tg[j, 0] <= t and tg[j, 1] <= D:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def search_kernel(
    pat_stop_start, pat_stops, pat_board_ok, pat_alight_ok, board_slack, alight_slack,
    q_pattern, q_inst_start, q_time_start, t_arr, t_dep, stop_q_start, stop_q, stop_q_pos,
    inst_trip, q_ok, inst_ok, stop_ok,
    fp_start, fp_to, fp_walk, fp_floor, fp_dist, fp_rule, min_conn, max_walk,
    trip_class, cls_start, full, disc, trip_operator, linked, q_multi,
    src_stops, src_times, egress, slack_at_target, rounds,
    l_arr, l_full, l_disc, l_op, l_round, l_parent, l_inst, l_board, l_alight, l_next, l_nnext,
    l_dead, ready_head, veh_head, new_ready, new_veh, marked, marked_list, veh_flag, veh_list,
    q_pos, queue, rb, tg, seen,
):
    cap = len(l_arr)
    rb_cap = rb.shape[0]
    t_cap = tg.shape[0]
    n_lab = 0
    n_tg = 0
    n_marked = 0
    # round 0: the sources
    for m in range(len(src_stops)):
        s = src_stops[m]
        t = src_times[m]
        if not _insert(ready_head, s, t, 0, 0, -1, 0, linked, l_arr, l_full, l_disc, l_op, l_round,
                       l_next, l_dead):
            continue
        if n_lab >= cap:
            return -1
        x = n_lab
        n_lab += 1
        l_arr[x], l_full[x], l_disc[x], l_op[x], l_round[x] = t, 0, 0, -1, 0
        l_parent[x], l_inst[x], l_dead[x] = -1, -1, False
        l_next[x] = ready_head[s]
        ready_head[s] = x
        l_nnext[x] = new_ready[s]
        new_ready[s] = x
        if not marked[s]:
            marked[s] = True
            marked_list[n_marked] = s
            n_marked += 1
    for k in range(1, rounds + 1):
        if n_marked == 0:
            break
        n_queue = 0
        for m in range(n_marked):
            s = marked_list[m]
            for r in range(stop_q_start[s], stop_q_start[s + 1]):
                q = stop_q[r]
                if not q_ok[q]:
                    continue
                pos = stop_q_pos[r]
                if q_pos[q] < 0:
                    q_pos[q] = pos
                    queue[n_queue] = q
                    n_queue += 1
                elif pos < q_pos[q]:
                    q_pos[q] = pos
        n_veh = 0
        for qi in range(n_queue):
            q = queue[qi]
            start_pos = q_pos[q]
            q_pos[q] = -1
            p = q_pattern[q]
            ps = pat_stop_start[p]
            L = pat_stop_start[p + 1] - ps
            ibase = q_inst_start[q]
            n_inst = q_inst_start[q + 1] - ibase
            tbase = q_time_start[q]
            n_rb = 0
            for i in range(start_pos, L):
                s = pat_stops[ps + i]
                if n_rb > 0 and n_tg > 0:
                    # a ride already at or past a target label's arrival, costing at least its
                    # price before this ride, can give nothing new: off the route bag
                    w = 0
                    for e in range(n_rb):
                        if _pruned(tg, n_tg, t_arr[tbase + rb[e, 0] * L + i], rb[e, 4]):
                            continue
                        if w != e:
                            for f in range(7):
                                rb[w, f] = rb[e, f]
                        w += 1
                    n_rb = w
                if n_rb > 0 and pat_alight_ok[ps + i] and stop_ok[s]:
                    for e in range(n_rb):
                        cur = rb[e, 0]
                        b = rb[e, 1]
                        c = rb[e, 6]
                        idx = cls_start[c] + b * L + i
                        u = full[idx]
                        if u < 0:
                            continue
                        ud = disc[idx]
                        op = rb[e, 5]
                        opt = trip_operator[inst_trip[ibase + cur]]
                        if not linked:
                            nop = 0
                            nF = rb[e, 3] + u
                            nD = nF
                        elif op == -1 or op == opt:
                            nop = opt
                            nF = rb[e, 3] + u
                            nD = rb[e, 4] + ud
                        else:
                            nop = -2
                            nD = rb[e, 4] + ud
                            nF = nD
                        a = t_arr[tbase + cur * L + i]
                        ew = egress[s]
                        if ew >= 0:
                            v = a + ew
                            if slack_at_target or ew > 0:
                                v += alight_slack[ps + i]
                            dom = False
                            for j in range(n_tg):
                                if tg[j, 7] == 0 and tg[j, 0] <= v and tg[j, 1] <= nF:
                                    dom = True
                                    break
                            if not dom:
                                for j in range(n_tg):
                                    if tg[j, 7] == 0 and tg[j, 2] == k and v <= tg[j, 0] \
                                            and nF <= tg[j, 1]:
                                        tg[j, 7] = 1
                                if n_tg >= t_cap:
                                    return -1
                                tg[n_tg, 0] = v
                                tg[n_tg, 1] = nF
                                tg[n_tg, 2] = k
                                tg[n_tg, 3] = ibase + cur
                                tg[n_tg, 4] = b
                                tg[n_tg, 5] = i
                                tg[n_tg, 6] = rb[e, 2]
                                tg[n_tg, 7] = 0
                                n_tg += 1
                        la = a + alight_slack[ps + i]
                        if _pruned(tg, n_tg, la, nD):
                            continue
                        if not _insert(veh_head, s, la, nF, nD, nop, k, linked, l_arr, l_full, l_disc,
                                       l_op, l_round, l_next, l_dead):
                            continue
                        if n_lab >= cap:
                            return -1
                        x = n_lab
                        n_lab += 1
                        l_arr[x], l_full[x], l_disc[x], l_op[x], l_round[x] = la, nF, nD, nop, k
                        l_parent[x], l_inst[x], l_board[x], l_alight[x] = rb[e, 2], ibase + cur, b, i
                        l_dead[x] = False
                        l_next[x] = veh_head[s]
                        veh_head[s] = x
                        l_nnext[x] = new_veh[s]
                        new_veh[s] = x
                        if not veh_flag[s]:
                            veh_flag[s] = True
                            veh_list[n_veh] = s
                            n_veh += 1
                if pat_board_ok[ps + i] and stop_ok[s]:
                    x = new_ready[s]
                    while x >= 0:
                        if l_dead[x]:
                            x = l_nnext[x]
                            continue
                        need = l_arr[x] + board_slack[ps + i]
                        j = _earliest(t_dep, tbase, L, i, 0, n_inst, need, inst_ok, ibase, False)
                        n_seen = 0
                        while j < n_inst and n_seen < len(seen):
                            if inst_ok[ibase + j]:
                                c = trip_class[inst_trip[ibase + j]]
                                fresh = True
                                for m2 in range(n_seen):
                                    if seen[m2] == c:
                                        fresh = False
                                        break
                                if fresh:   # the first trip of each fare class from here
                                    seen[n_seen] = c
                                    n_seen += 1
                                    keep = True
                                    for e in range(n_rb):
                                        if rb[e, 1] == i and rb[e, 6] == c and rb[e, 0] <= j and \
                                                _dominates(rb[e, 3], rb[e, 4], rb[e, 5], l_full[x],
                                                           l_disc[x], l_op[x], linked):
                                            keep = False
                                            break
                                    if keep:
                                        if n_rb >= rb_cap:
                                            return -1
                                        rb[n_rb, 0] = j
                                        rb[n_rb, 1] = i
                                        rb[n_rb, 2] = x
                                        rb[n_rb, 3] = l_full[x]
                                        rb[n_rb, 4] = l_disc[x]
                                        rb[n_rb, 5] = l_op[x]
                                        rb[n_rb, 6] = c
                                        n_rb += 1
                                if not q_multi[q]:
                                    break
                            j += 1
                        x = l_nnext[x]
        # the boarded labels of round k-1 are done
        for m in range(n_marked):
            s = marked_list[m]
            marked[s] = False
            new_ready[s] = -1
        n_marked = 0
        # footpaths and changes from every stop a vehicle reached this round
        for m in range(n_veh):
            s = veh_list[m]
            veh_flag[s] = False
            x = new_veh[s]
            new_veh[s] = -1
            while x >= 0:
                if l_dead[x]:
                    x = l_nnext[x]
                    continue
                v = l_arr[x]
                for e in range(fp_start[s], fp_start[s + 1]):
                    s2 = fp_to[e]
                    if not fp_rule[e] and s2 != s and (fp_dist[e] > max_walk or max_walk <= 0):
                        continue
                    fl = fp_floor[e]
                    w = fp_walk[e]
                    if fl < 0:
                        fl = min_conn
                    t = v + (w if w > fl else fl)
                    if _pruned(tg, n_tg, t, l_disc[x]):
                        continue
                    if not _insert(ready_head, s2, t, l_full[x], l_disc[x], l_op[x], k, linked, l_arr,
                                   l_full, l_disc, l_op, l_round, l_next, l_dead):
                        continue
                    if n_lab >= cap:
                        return -1
                    y = n_lab
                    n_lab += 1
                    l_arr[y], l_full[y], l_disc[y], l_op[y], l_round[y] = \
                        t, l_full[x], l_disc[x], l_op[x], k
                    l_parent[y], l_inst[y], l_dead[y] = x, -1, False
                    l_next[y] = ready_head[s2]
                    ready_head[s2] = y
                    l_nnext[y] = new_ready[s2]
                    new_ready[s2] = y
                    if not marked[s2]:
                        marked[s2] = True
                        marked_list[n_marked] = s2
                        n_marked += 1
                x = l_nnext[x]
    for m in range(n_marked):
        s = marked_list[m]
        marked[s] = False
        new_ready[s] = -1
    return n_tg


@numba.njit(cache=True, nogil=True)
def chain(tg, j, l_parent, l_inst, l_board, l_alight, out):
    """The rides of target label j, target-first, into out[:, 0..2]; returns their number."""
    out[0, 0], out[0, 1], out[0, 2] = tg[j, 3], tg[j, 4], tg[j, 5]
    n = 1
    r = tg[j, 6]            # the ready label the last ride boarded from
    while r >= 0:
        v = l_parent[r]     # the vehicle label it walked from (-1: a source)
        if v < 0:
            break
        out[n, 0], out[n, 1], out[n, 2] = l_inst[v], l_board[v], l_alight[v]
        n += 1
        r = l_parent[v]
    return n


def collect_priced(search, pool: BagPool, sources, egress: np.ndarray, start: int,
                   table) -> list[tuple[tuple, int, int]]:
    """Run the price rounds from `start` (seconds since the day's origin) and return every
    Pareto journey found at the target as (rides in travel order, price in minor units,
    arrival in search time)."""
    from routing.journeys import Ride
    from routing.search import squeeze

    d, p, f = search.day, search.pats, search.fps
    cls = table.classes
    inst_class = cls.trip_class[d.inst_trip]
    q_multi = _multi_class(d, inst_class)
    src_times = (start + sources.walk_s).astype(np.int32)
    bags = pool.get(len(egress), d.n_q)
    while True:
        n = search_kernel(
            p.stop_start, p.stops, p.board_ok, p.alight_ok, search.board_slack, search.alight_slack,
            d.q_pattern, d.q_inst_start, d.q_time_start, d.t_arr, d.t_dep,
            d.stop_q_start, d.stop_q, d.stop_q_pos, d.inst_trip,
            search.q_ok, search.inst_ok, search.stop_ok,
            f.start, f.to, f.walk_s, f.floor_s, f.dist_m, f.rule, np.int32(search.min_conn),
            np.int32(search.max_walk),
            cls.trip_class, cls.start, table.full, table.disc, table.trip_operator,
            bool(table.linked), q_multi,
            sources.stops, src_times, egress, True, search.rounds,
            bags.l_arr, bags.l_full, bags.l_disc, bags.l_op, bags.l_round, bags.l_parent,
            bags.l_inst, bags.l_board, bags.l_alight, bags.l_next, bags.l_nnext, bags.l_dead,
            bags.ready_head, bags.veh_head, bags.new_ready, bags.new_veh, bags.marked,
            bags.marked_list, bags.veh_flag, bags.veh_list, bags.q_pos, bags.queue, bags.rb,
            bags.tg, bags.seen)
        if n >= 0:
            break
        if bags.cap >= _MAX_LABELS:     # (a full buffer leaves the bags dirty: not pooled)
            raise PriceSearchTooLarge(
                "the price search needs more labels than it may use; narrow the query "
                "(max_transfers, modes) or plan without criteria=price")
        bags = Bags(len(bags.ready_head), len(bags.q_pos), bags.cap * 4, bags.rb_cap * 4,
                    bags.t_cap * 4)
    out_rides = np.empty((search.rounds + 1, 3), np.int64)
    pat_len = search.pat_len
    found = []
    for j in range(n):
        if bags.tg[j, 7]:
            continue
        m = chain(bags.tg, j, bags.l_parent, bags.l_inst, bags.l_board, bags.l_alight, out_rides)
        rides = [Ride(inst=int(out_rides[r, 0]), board=int(out_rides[r, 1]),
                      alight=int(out_rides[r, 2]),
                      length=int(pat_len[d.q_pattern[d.inst_q[out_rides[r, 0]]]]))
                 for r in range(m)]
        rides = squeeze(search, rides, inst_class)
        found.append((tuple(reversed(rides)), int(bags.tg[j, 1]), int(bags.tg[j, 0])))
    bags.reset()
    pool.put(bags)
    return found


class BagPool:
    """Bags lent to one query at a time (thread-safe), kept at the size the largest needed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[Bags] = []

    def get(self, n_stops: int, n_q: int) -> Bags:
        with self._lock:
            for i, b in enumerate(self._free):
                if len(b.q_pos) >= n_q and len(b.ready_head) == n_stops:
                    return self._free.pop(i)
        return Bags(n_stops, n_q)

    def put(self, bags: Bags) -> None:
        with self._lock:
            if len(self._free) < 4:
                self._free.append(bags)


_MAX_LABELS = 1 << 23


def _multi_class(day, inst_class: np.ndarray) -> np.ndarray:
    """Day pattern -> its trips belong to more than one fare class."""
    starts = np.asarray(day.q_inst_start[:-1], np.int64)
    out = np.zeros(len(starts), np.bool_)
    full = day.q_inst_start[1:] > starts
    if len(inst_class) == 0 or not full.any():
        return out
    lo = np.minimum.reduceat(inst_class, starts[full])
    hi = np.maximum.reduceat(inst_class, starts[full])
    out[full] = lo != hi
    return out
