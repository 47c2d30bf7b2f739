"""The RAPTOR rounds (numba). One call = one departure time of a (r)RAPTOR search.

Labels (seconds since the Day's origin; INF = unreached), K = max rounds:
  ready[0, s]    the sources: start + access walk (what a first boarding waits from)
  ready[k, s]    k >= 1: earliest time a passenger is free at s, ready to board, after
                 1..k trips (the source label is not copied in: in a range query a first
                 boarding must leave by the window end, so it does not dominate a later
                 label after a ride, which may board anything)
  veh[k, s]      earliest vehicle arrival (+ alight time) at s with <= k trips
  tgt[k]         best arrival at the target with exactly k trips (target pruning, Pareto)
Lower bounds (A*-style): lb[s] is no more than the time from s to the target (`search`
makes it per query from `Searches.bounds`'s table, 0 without one); a label whose time plus
lb cannot beat the target's best (`bound`) is neither written, walked from nor boarded
from: no journey through it could improve the target, so the journeys found are the same.
Local pruning compares with the label of the same round (not a best over all rounds): in
rRAPTOR a later departure's labels with more trips must not hide fewer-trip journeys.
Labels are kept monotone in k by writing each improvement into all later rounds, which
replaces the textbook per-round copy of every stop's label.
Pointers (valid for the labels they were written with):
  veh_inst/veh_board/veh_alight[k, s]   trip instance and positions of the ride ending at s
  ready_from[k, s]                      stop s0 whose vehicle label walked/changed to s
  tgt_inst/tgt_board/tgt_alight[k]      the ride reaching the target in round k
Labels are not reset between calls with decreasing departure times (rRAPTOR): a later
departure's labels are valid upper bounds for an earlier one.
"""

from __future__ import annotations

import heapq
from typing import NamedTuple

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["INF", "KERNEL", "OUT_ROWS", "Outputs", "Scratch", "pin", "run", "search"]

INF = np.int32(2**31 - 1)
OUT_ROWS = 64           # journeys a point query's search may write (`collect`'s cap for it)

# `_search`'s leading arguments (`Search.kernel`) as `pin` packs them for `search`: dtype
# and dimensions of each array, None for a scalar (an int or a bool)
KERNEL = (
    (np.int64, 1), (np.int32, 1), (np.bool_, 1), (np.bool_, 1), (np.int32, 1), (np.int32, 1),
    (np.int32, 1), (np.int64, 1), (np.int64, 1), (np.int32, 1), (np.int32, 1), (np.int64, 1),
    (np.int32, 1), (np.int32, 1), (np.int32, 1),
    (np.bool_, 1), (np.bool_, 1), (np.bool_, 1), None,
    (np.int64, 1), (np.int32, 2), None, None, None, (np.int64, 1), None, (np.int16, 2),
    (np.int64, 1),
)
# a Scratch's arrays as `pin` packs them for `search`: egress, labels, tgts, tgt_improved,
# flags, lists, q_state
_SCRATCH = ((np.int32, 1), (np.int32, 3), (np.int32, 2), (np.bool_, 1), (np.bool_, 2),
            (np.int32, 2), (np.int32, 2))
_OUTPUTS = ((np.int32, 2), (np.int32, 3), (np.int32, 1))     # an Outputs' rows, rides, found


def pin(values: tuple, spec: tuple) -> np.ndarray:
    """`values` (arrays and scalars, as `spec` says each is: `KERNEL`) as one int64 block for
    `search`, a row each: an array's address and shape, a scalar's value. A numba call types
    and unboxes each argument (an array ~0.3 us cache-cold; a call of 45 arguments ~17 us
    against ~6 for one): two blocks (this and a Scratch's) for 30 arrays. The block does not
    keep the arrays alive: its holder must (a `Search` its `kernel`, a `Scratch` its arrays)."""
    if len(values) != len(spec):
        raise TypeError(f"{len(values)} values for {len(spec)} arguments")
    block = np.zeros((len(values), 4), np.int64)
    for i, (v, want) in enumerate(zip(values, spec)):
        if want is None:
            if not isinstance(v, (int, np.integer, bool, np.bool_)):
                raise TypeError(f"argument {i}: a scalar, not {type(v).__name__}")
            block[i, 0] = int(v)
            continue
        dtype, ndim = want
        if not (isinstance(v, np.ndarray) and v.dtype == dtype and v.ndim == ndim
                and v.flags.c_contiguous):
            raise TypeError(f"argument {i}: a C-contiguous {ndim}-d {np.dtype(dtype)} array, "
                            f"not {getattr(v, 'dtype', type(v).__name__)} {np.shape(v)}")
        block[i, 0] = v.ctypes.data
        block[i, 1:1 + ndim] = v.shape
    return block


class Outputs(NamedTuple):
    """Where `search` writes the journeys it finds (one a row, rides target-first),
    `squeeze_rows` their squeezed rides and `_found` the lot as `collect` reads them. Three
    blocks, not eight arrays, and `search` takes them as one (`pinned`): numba types and
    unboxes every argument of a call (~0.2-0.5 us an array cache-cold)."""

    rows: np.ndarray            # (4, cap): the run's start, rounds (rides), rides written,
    #                             the latest its first boarding may leave (see `_chain`)
    rides: np.ndarray           # (4, cap, rounds + 1) per ride: trip instance, board and
    #                             alight positions, stops of its pattern (`squeeze_rows`)
    found: np.ndarray           # (cap * (1 + 4 * (rounds + 1)),) the squeezed journeys in
    #                             one run of ints, as `collect` makes its Rides (`_found`)
    pinned: np.ndarray          # the three as `pin` packs them for `search` (`_OUTPUTS`)


class Scratch:
    """Per-query state, sized for (rounds, stops, day patterns); reusable via reset().
    The arrays are views of a few blocks (`search` takes the blocks: numba types every
    argument of a call, ~0.13 us each; `run` the arrays)."""

    def __init__(self, rounds: int, n_stops: int, n_q: int) -> None:
        K = rounds + 1
        self.rounds = rounds
        self.n_stops = n_stops
        self.n_q = n_q
        self.labels = np.zeros((6, K, n_stops), dtype=np.int32)
        (self.ready, self.ready_from, self.veh_inst, self.veh_board, self.veh_alight,
         self.veh) = self.labels
        self.tgts = np.zeros((4, K), dtype=np.int32)
        self.tgt, self.tgt_inst, self.tgt_board, self.tgt_alight = self.tgts
        self.ready_from.fill(-1)
        self.veh_inst.fill(-1)
        self.reset()
        self.tgt_improved = np.zeros(K, dtype=np.bool_)
        self.flags = np.zeros((2, n_stops), dtype=np.bool_)
        self.marked, self.veh_flag = self.flags
        self.lists = np.empty((4, n_stops), dtype=np.int32)
        # lb: `_lower_bounds`; src_times: a run's source labels (sources are distinct stops)
        self.marked_list, self.veh_marked, self.lb, self.src_times = self.lists
        self.q_state = np.full((2, max(n_q, 1)), -1, dtype=np.int32)
        self.q_pos, self.queue = self.q_state
        self.egress = np.full(n_stops, -1, dtype=np.int32)   # s -> walk to target; -1 if none
        self._out = self._outputs(OUT_ROWS)     # `search`'s rows for a point query
        self.pinned = pin((self.egress, self.labels, self.tgts, self.tgt_improved, self.flags,
                           self.lists, self.q_state), _SCRATCH)     # `search`'s view of them

    def _outputs(self, cap: int) -> Outputs:
        K = self.rounds + 1
        out = (np.empty((4, cap), np.int32), np.empty((4, cap, K), np.int32),
               np.empty(cap * (1 + 4 * K), np.int32))
        return Outputs(*out, pin(out, _OUTPUTS))

    def outputs(self, cap: int) -> Outputs:
        """Room for `cap` journeys of `search`: this scratch's own rows when they are enough
        (a point query's), else fresh ones (a range query's, not kept: they grow with it)."""
        return self._out if cap <= OUT_ROWS else self._outputs(cap)

    def reset(self) -> None:
        self.ready.fill(INF)
        self.veh.fill(INF)
        self.tgt.fill(INF)
        self.tgt_inst.fill(-1)


@numba.njit(cache=True, nogil=True)
def _earliest(t_dep, tbase, L, i, lo, hi, need, inst_ok, ibase, unfiltered):
    """First instance j in [lo, hi) with departure at position i >= need and allowed."""
    a, b = lo, hi
    while a < b:
        m = (a + b) >> 1
        if t_dep[tbase + m * L + i] < need:
            a = m + 1
        else:
            b = m
    while not unfiltered and a < hi and not inst_ok[ibase + a]:
        a += 1
    return a


@numba.njit(cache=True, nogil=True)
def run(
    # static patterns
    pat_stop_start, pat_stops, pat_board_ok, pat_alight_ok, board_slack, alight_slack,
    # day
    q_pattern, q_inst_start, q_time_start, t_arr, t_dep, stop_q_start, stop_q, stop_q_pos,
    # query filters (`unfiltered`: all true, not read)
    q_ok, inst_ok, stop_ok, unfiltered,
    # footpaths (`Footpaths.rows`: to, walk, floor, metres or -1)
    fp_start, fp_rows, min_conn, max_walk,
    # sources, targets
    src_stops, src_times, max_wait, egress, slack_at_target, rounds, lb,
    # state
    ready, ready_from, veh_inst, veh_board, veh_alight, veh,
    tgt, tgt_inst, tgt_board, tgt_alight, tgt_improved, marked, q_pos,
    marked_list, veh_marked, veh_flag, queue,
):
    K = ready.shape[0]      # labels stay monotone in k: an improvement in round k is written
    tgt_improved[:] = False  # to every later round too (no per-round copy of all stops)
    n_marked = 0
    for k in range(len(src_stops)):
        s = src_stops[k]
        t = src_times[k]
        if t < ready[0, s]:
            ready[0, s] = t         # sources only in ready[0]: rounds >= 1 are after a ride
            ready_from[0, s] = -1
            if not marked[s]:
                marked[s] = True
                marked_list[n_marked] = s
                n_marked += 1
    for k in range(1, rounds + 1):
        if n_marked == 0:
            break
        bound = INF
        for j in range(k + 1):
            if tgt[j] < bound:
                bound = tgt[j]
        # collect day patterns through marked stops, from the earliest marked position
        n_queue = 0
        for m in range(n_marked):
            s = marked_list[m]
            marked[s] = False
            for r in range(stop_q_start[s], stop_q_start[s + 1]):
                q = stop_q[r]
                if not unfiltered and not q_ok[q]:
                    continue
                pos = stop_q_pos[r]
                if q_pos[q] < 0:
                    q_pos[q] = pos
                    queue[n_queue] = q
                    n_queue += 1
                elif pos < q_pos[q]:
                    q_pos[q] = pos
        n_marked = 0
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
            cur = -1
            bpos = -1
            row = tbase - L         # t_arr/t_dep row of instance cur: tbase + cur * L
            for i in range(start_pos, L):
                pi = ps + i
                s = pat_stops[pi]
                # target pruning first: a ride's labels at s are never below its arrival
                # there, nor its target values below that plus lb[s] (alight slacks and
                # egress walks are >= 0; not beating `bound`, a k-ride arrival is no
                # Pareto improvement, whatever tgt[k] holds)
                if cur >= 0 and t_arr[row + i] + lb[s] < bound and pat_alight_ok[pi] and \
                        (unfiltered or stop_ok[s]):
                    a = t_arr[row + i]
                    e = egress[s]
                    if e >= 0:
                        v = a + e
                        if slack_at_target or e > 0:
                            v += alight_slack[pi]
                        if v < tgt[k]:
                            tgt[k] = v
                            tgt_inst[k] = ibase + cur
                            tgt_board[k] = bpos
                            tgt_alight[k] = i
                            tgt_improved[k] = True
                            if v < bound:
                                bound = v
                    la = a + alight_slack[pi]
                    if la < veh[k, s] and la + lb[s] < bound:
                        for kk in range(k, K):
                            if la < veh[kk, s]:
                                veh[kk, s] = la
                        veh_inst[k, s] = ibase + cur
                        veh_board[k, s] = bpos
                        veh_alight[k, s] = i
                        if not veh_flag[s]:
                            veh_flag[s] = True
                            veh_marked[n_veh] = s
                            n_veh += 1
                r = ready[k - 1, s]
                if r + lb[s] < bound and pat_board_ok[pi] and (unfiltered or stop_ok[s]):
                    need = r + board_slack[pi]
                    # a first boarding (round 1: from the source label, start + walk)
                    # leaves by the window end: at most max_wait after that label
                    last = need + max_wait if k == 1 and max_wait < INF else INF
                    if cur < 0:
                        j = _earliest(t_dep, tbase, L, i, 0, n_inst, need, inst_ok, ibase,
                                      unfiltered)
                        if j < n_inst and t_dep[tbase + j * L + i] <= last:
                            cur = j
                            bpos = i
                            row = tbase + j * L
                    elif cur > 0 and need <= t_dep[row - L + i]:
                        # an earlier instance is catchable: step back (usually one or two)
                        j = cur - 1
                        while j > 0 and t_dep[tbase + (j - 1) * L + i] >= need:
                            j -= 1
                        while not unfiltered and j < cur and not inst_ok[ibase + j]:
                            j += 1
                        if j < cur and t_dep[tbase + j * L + i] <= last:
                            cur = j
                            bpos = i
                            row = tbase + j * L
        # footpaths and changes from every stop reached by a vehicle this round
        for m in range(n_veh):
            s = veh_marked[m]
            veh_flag[s] = False
            v = veh[k, s]
            if v + lb[s] >= bound:  # (the target improved since): no walk from s beats it
                continue
            for e in range(fp_start[s], fp_start[s + 1]):
                s2 = fp_rows[e, 0]
                dm = fp_rows[e, 3]      # -1: transfers.txt or the change at s, never dropped
                # max_walk 0: no walk to another stop, even one 0 m away (transfers.txt only)
                if dm >= 0 and (dm > max_walk or max_walk <= 0):
                    continue
                fl = fp_rows[e, 2]
                w = fp_rows[e, 1]
                if fl < 0:
                    fl = min_conn
                t = v + (w if w > fl else fl)
                # no later than the source label (fewer rides) unless that one is capped
                if t < ready[k, s2] and t + lb[s2] < bound and (t < ready[0, s2] or max_wait < INF):
                    for kk in range(k, K):
                        if t < ready[kk, s2]:
                            ready[kk, s2] = t
                    ready_from[k, s2] = s
                    if not marked[s2]:
                        marked[s2] = True
                        marked_list[n_marked] = s2
                        n_marked += 1
    for m in range(n_marked):
        marked[marked_list[m]] = False


@numba.njit(cache=True, nogil=True)
def _chain(k, pat_stop_start, pat_stops, board_slack, q_pattern, q_inst_start, q_time_start,
           t_dep, inst_q, ready, ready_from, veh_inst, veh_board, veh_alight,
           tgt_inst, tgt_board, tgt_alight, out_inst, out_board, out_alight, out_last, row,
           max_wait):
    """Follow the pointers of round k back to a source; rides written target-first.
    `max_wait`: how long after its source label a first boarding may leave (see `run`);
    out_last[row] is set to the latest `need` (departure - board slack) the first ride may
    have at its boarding stop, so `squeeze_rows` keeps a range journey inside its window
    (INF without a window)."""
    g = tgt_inst[k]
    b = tgt_board[k]
    a = tgt_alight[k]
    rnd = k
    n = 0
    while True:
        q = inst_q[g]
        p = q_pattern[q]
        ps = pat_stop_start[p]
        L = pat_stop_start[p + 1] - ps
        out_inst[row, n] = g
        out_board[row, n] = b
        out_alight[row, n] = a
        n += 1
        s_b = pat_stops[ps + b]
        need = t_dep[q_time_start[q] + (g - q_inst_start[q]) * L + b] - board_slack[ps + b]
        j = 0
        if need > ready[0, s_b] + max_wait:
            j = 1               # too late to be the first boarding (after the window end)
        while j < rnd and ready[j, s_b] > need:
            j += 1
        if j == 0 or j >= rnd:
            out_last[row] = ready[0, s_b] + max_wait if max_wait < INF else INF
            break
        s0 = ready_from[j, s_b]
        g = veh_inst[j, s0]
        b = veh_board[j, s0]
        a = veh_alight[j, s0]
        rnd = j
    return n


@intrinsic
def _address(typingctx, address):
    """An int64 address as a pointer (`pin`'s rows)."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(address), codegen


@numba.njit(cache=True, nogil=True, inline="always")
def _at(block, i, dtype):
    """The 1-d array of `pin`'s row i (C-contiguous; no reference of its own)."""
    return numba.carray(_address(block[i, 0]), block[i, 1], dtype)


@numba.njit(cache=True, nogil=True, inline="always")
def _at2(block, i, dtype):
    return numba.carray(_address(block[i, 0]), (block[i, 1], block[i, 2]), dtype)


@numba.njit(cache=True, nogil=True, inline="always")
def _at3(block, i, dtype):
    return numba.carray(_address(block[i, 0]), (block[i, 1], block[i, 2], block[i, 3]), dtype)


@numba.njit(cache=True, nogil=True)
def search(kernel, scratch, src, dst, starts, point, latest, slack_at_target, squeeze, out):
    """`_search` with its leading arguments as `pin`'s block `kernel` (`Search.pinned`: the
    arrays and scalars `KERNEL` lists), a Scratch's arrays as its block `scratch`
    (`Scratch.pinned`), the sources' and the targets' stops and walks as the two rows of
    `src` and `dst` (`Sources.rows`) and the outputs as `out` (`Outputs.pinned`): 10
    arguments for numba to type and unbox, not 46 (14 cost ~2 us more cache-cold)."""
    k, sc = kernel, scratch
    i32, i64, b1 = np.int32, np.int64, np.bool_
    return _search(
        _at(k, 0, i64), _at(k, 1, i32), _at(k, 2, b1), _at(k, 3, b1), _at(k, 4, i32),
        _at(k, 5, i32), _at(k, 6, i32), _at(k, 7, i64), _at(k, 8, i64), _at(k, 9, i32),
        _at(k, 10, i32), _at(k, 11, i64), _at(k, 12, i32), _at(k, 13, i32), _at(k, 14, i32),
        _at(k, 15, b1), _at(k, 16, b1), _at(k, 17, b1), k[18, 0] != 0,
        _at(k, 19, i64), _at2(k, 20, i32), k[21, 0], k[22, 0], k[23, 0], _at(k, 24, i64),
        k[25, 0] != 0, _at2(k, 26, np.int16), _at(k, 27, i64),
        src[0], src[1], dst[0], dst[1], starts, point, latest, _at(sc, 0, i32),
        slack_at_target, squeeze, _at3(sc, 1, i32), _at2(sc, 2, i32), _at(sc, 3, b1),
        _at2(sc, 4, b1), _at2(sc, 5, i32), _at2(sc, 6, i32), _at2(out, 0, i32),
        _at3(out, 1, i32), _at(out, 2, i32))


@numba.njit(cache=True, nogil=True)
def _search(
    pat_stop_start, pat_stops, pat_board_ok, pat_alight_ok, board_slack, alight_slack,
    q_pattern, q_inst_start, q_time_start, t_arr, t_dep, stop_q_start, stop_q, stop_q_pos, inst_q,
    q_ok, inst_ok, stop_ok, unfiltered,
    fp_start, fp_rows, min_conn, max_walk, rounds, pat_len, reverse, bounds, bounds_graph,
    src_stops, src_walk, dst_stops, dst_walk, starts, point, latest, egress, slack_at_target,
    squeeze, labels, tgts, tgt_improved, flags, lists, q_state, out_rows, out_rides, out_found,
):
    """rRAPTOR: one run per start (`starts`, decreasing; or, `point` < INF, the one start of
    a point query: no array written from Python for it), each Pareto improvement's rides
    recorded, then with `squeeze` squeezed (`squeeze_rows`: in the same call, as one call from Python
    costs ~10 us cache-cold in numba's dispatch alone) and laid out for `collect` (`_found`;
    `reverse`: the day is searched backwards).
    `latest`: the latest start of the window (INF: none); a run's first boarding may wait
    at the origin until then, not later: a journey leaving after the window must not set
    labels that hide the in-window journeys with the same arrival.
    Resets the labels first (`Scratch.reset`). The targets' walks `dst_*` go into `egress`
    (s -> walk to the target, -1 if none) for the call and out again (numpy's item
    assignment from Python cost ~10 us a query cache-cold). Returns the number of journeys
    written (capped by the output size), the best target value (INF: none) and the ints
    `_found` wrote (0 without `squeeze`)."""
    ready, ready_from, veh_inst = labels[0], labels[1], labels[2]
    veh_board, veh_alight, veh = labels[3], labels[4], labels[5]
    tgt, tgt_inst, tgt_board, tgt_alight = tgts[0], tgts[1], tgts[2], tgts[3]
    marked, veh_flag, marked_list, veh_marked = flags[0], flags[1], lists[0], lists[1]
    lb, src_times = lists[2], lists[3]
    q_pos, queue = q_state[0], q_state[1]
    out_start, out_k, out_len, out_last = out_rows[0], out_rows[1], out_rows[2], out_rows[3]
    out_inst, out_board, out_alight = out_rides[0], out_rides[1], out_rides[2]
    for m in range(len(dst_stops)):
        egress[dst_stops[m]] = dst_walk[m]
    _lower_bounds(bounds, bounds_graph, dst_stops, dst_walk, lb)
    ready[:] = INF
    veh[:] = INF
    tgt[:] = INF
    tgt_inst[:] = -1
    n_out = 0
    cap = len(out_k)
    for it in range(1 if point < INF else len(starts)):
        t0 = point if point < INF else starts[it]
        for m in range(len(src_stops)):
            src_times[m] = t0 + src_walk[m]
        max_wait = latest - t0 if latest < INF else latest
        run(pat_stop_start, pat_stops, pat_board_ok, pat_alight_ok, board_slack, alight_slack,
            q_pattern, q_inst_start, q_time_start, t_arr, t_dep, stop_q_start, stop_q, stop_q_pos,
            q_ok, inst_ok, stop_ok, unfiltered,
            fp_start, fp_rows, min_conn, max_walk,
            src_stops, src_times, max_wait, egress, slack_at_target, rounds, lb,
            ready, ready_from, veh_inst, veh_board, veh_alight, veh,
            tgt, tgt_inst, tgt_board, tgt_alight, tgt_improved, marked, q_pos,
            marked_list, veh_marked, veh_flag, queue)
        best = INF
        for k in range(1, rounds + 1):
            v = tgt[k]
            if tgt_improved[k] and v < best and n_out < cap:
                out_start[n_out] = t0
                out_k[n_out] = k
                out_len[n_out] = _chain(
                    k, pat_stop_start, pat_stops, board_slack, q_pattern, q_inst_start,
                    q_time_start, t_dep, inst_q, ready, ready_from, veh_inst, veh_board,
                    veh_alight, tgt_inst, tgt_board, tgt_alight, out_inst, out_board, out_alight,
                    out_last, n_out, max_wait)
                n_out += 1
            if v < best:
                best = v
    n_found = 0
    if squeeze:
        squeeze_rows(n_out, out_rows, out_rides, pat_len, pat_stop_start, pat_stops, board_slack,
                     alight_slack, q_pattern, q_inst_start, q_time_start, t_arr, t_dep, inst_q,
                     inst_ok, fp_start, fp_rows, min_conn)
        n_found = _found(n_out, out_rows, out_rides, reverse, out_found)
    for m in range(len(dst_stops)):
        egress[dst_stops[m]] = -1
    top = INF
    for k in range(len(tgt)):
        top = min(top, tgt[k])
    return n_out, top, n_found


@numba.njit(cache=True, nogil=True)
def _found(n, out_rows, out_rides, reverse, found):
    """The `n` squeezed journeys into `found` as `collect` makes them: each its number of
    rides, then each ride's trip instance, board and alight positions and stop count in
    travel order, the positions forward (a reversed day's run backwards along a reversed
    trip). One `tolist` of a slice, not a conversion of each row and ride: ~8-11 us of
    Python a plan cache-cold. Returns the ints written."""
    out_len = out_rows[2]
    out_inst, out_board, out_alight, out_length = out_rides[0], out_rides[1], out_rides[2], \
        out_rides[3]
    w = 0
    for i in range(n):
        m_len = out_len[i]
        found[w] = m_len
        w += 1
        for r in range(m_len):
            m = r if reverse else m_len - 1 - r     # rides were written target-first
            length = out_length[i, m]
            found[w] = out_inst[i, m]
            if reverse:
                found[w + 1] = length - 1 - out_alight[i, m]
                found[w + 2] = length - 1 - out_board[i, m]
            else:
                found[w + 1] = out_board[i, m]
                found[w + 2] = out_alight[i, m]
            found[w + 3] = length
            w += 4
    return w


@numba.njit(cache=True, nogil=True)
def _lower_bounds(bounds, graph, dst_stops, dst_walk, lb):
    """lb[s]: a lower bound of the time from s to the targets (`bounds[t, s]` plus the walk
    from t; a row not yet made is made first, `_fill_row`); all 0 without a table (no
    pruning)."""
    if bounds.shape[0] == 0:
        lb[:] = 0
        return
    n = len(lb)
    lb[:] = INF
    for m in range(len(dst_stops)):
        t = dst_stops[m]
        if bounds[t, n] == 0:
            _fill_row(bounds, graph, t)
        row = bounds[t]
        w = dst_walk[m]
        for s in range(n):
            v = w + row[s]
            if v < lb[s]:
                lb[s] = v


@numba.njit(cache=True, nogil=True)
def fill_rows(bounds, graph):
    """Every row of a `bound_graph`'s table not yet made (`_fill_row`)."""
    n = bounds.shape[0]
    for t in range(n):
        if bounds[t, n] == 0:
            _fill_row(bounds, graph, t)


@numba.njit(cache=True, nogil=True)
def _fill_row(bounds, graph, t):
    """Row t of a `bound_graph`'s table (made all 0): each stop's shortest path to t,
    searched backwards from t over the graph's edges, capped at 32767 s (int16), then
    bounds[t, n] = 1 (made). Only ever raised from 0 to the path's length: a search on
    another thread reading the row meanwhile reads lower bounds still."""
    n = bounds.shape[0]
    in_start = graph[:n + 1]
    n_e = (len(graph) - n - 1) // 2
    in_from = graph[n + 1:n + 1 + n_e]
    in_w = graph[n + 1 + n_e:]
    cap = 32767
    dist = np.full(n, cap, np.int64)
    dist[t] = 0
    heap = [(np.int64(0), np.int64(t))]
    while len(heap) > 0:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue                # a stale entry: u was reached sooner since
        for x in range(in_start[u], in_start[u + 1]):
            v = in_from[x]
            nd = d + in_w[x]
            if nd < dist[v]:
                dist[v] = nd
                heapq.heappush(heap, (nd, v))
    for s in range(n):
        bounds[t, s] = dist[s]
    bounds[t, n] = 1


@numba.njit(cache=True, nogil=True)
def _rides(pat_stop_start, pat_stops, q_pattern, q_inst_start, q_time_start, t_arr, t_dep):
    """Each pair of consecutive stops of each day pattern with a trip: (from, to, the
    shortest ride of the day between them, >= 0)."""
    n = 0
    for q in range(len(q_pattern)):
        p = q_pattern[q]
        if q_inst_start[q + 1] > q_inst_start[q]:
            n += pat_stop_start[p + 1] - pat_stop_start[p] - 1
    e_from = np.empty(n, np.int64)
    e_to = np.empty(n, np.int64)
    e_w = np.empty(n, np.int64)
    n = 0
    for q in range(len(q_pattern)):
        p = q_pattern[q]
        ps = pat_stop_start[p]
        L = pat_stop_start[p + 1] - ps
        tb = q_time_start[q]
        n_inst = q_inst_start[q + 1] - q_inst_start[q]
        if n_inst == 0:
            continue
        for i in range(L - 1):
            w = t_arr[tb + i + 1] - t_dep[tb + i]
            for j in range(1, n_inst):
                w = min(w, t_arr[tb + j * L + i + 1] - t_dep[tb + j * L + i])
            e_from[n] = pat_stops[ps + i]
            e_to[n] = pat_stops[ps + i + 1]
            e_w[n] = max(w, 0)
            n += 1
    return e_from, e_to, e_w


@numba.njit(cache=True, nogil=True)
def bound_graph(pat_stop_start, pat_stops, q_pattern, q_inst_start, q_time_start, t_arr,
                t_dep, fp_start, fp_rows, n_stops):
    """The graph the lower bounds are shortest paths of (`_fill_row`), each stop's incoming
    edges as one int64 array: in_start (n_stops + 1), then the edges' from stops, then
    their weights. An edge: the shortest ride of the day between two consecutive stops of a
    day pattern (to a later stop it is at least their sum, dwells being >= 0), or a
    footpath's walk (its floor, the slacks and the query's filters left out: they only
    add). A path's length is then no more than any journey's time between its ends."""
    r_from, r_to, r_w = _rides(pat_stop_start, pat_stops, q_pattern, q_inst_start,
                               q_time_start, t_arr, t_dep)
    n_r = len(r_from)
    n_e = n_r + len(fp_rows)
    e_from = np.empty(n_e, np.int64)
    e_to = np.empty(n_e, np.int64)
    e_w = np.empty(n_e, np.int64)
    e_from[:n_r] = r_from
    e_to[:n_r] = r_to
    e_w[:n_r] = r_w
    m = n_r
    for s in range(n_stops):
        for e in range(fp_start[s], fp_start[s + 1]):
            e_from[m] = s
            e_to[m] = fp_rows[e, 0]
            e_w[m] = max(fp_rows[e, 1], 0)
            m += 1
    graph = np.empty(n_stops + 1 + 2 * n_e, np.int64)
    in_start = graph[:n_stops + 1]
    in_start[:] = 0
    for e in range(n_e):
        in_start[e_to[e] + 1] += 1
    for s in range(n_stops):
        in_start[s + 1] += in_start[s]
    fill = in_start[:-1].copy()
    for e in range(n_e):
        x = fill[e_to[e]]
        graph[n_stops + 1 + x] = e_from[e]
        graph[n_stops + 1 + n_e + x] = e_w[e]
        fill[e_to[e]] += 1
    return graph


@numba.njit(cache=True, nogil=True)
def graph_bounds(graph, n_stops, pat_stop_start, pat_stops, q_pattern, q_inst_start,
                 q_time_start, t_arr, t_dep):
    """Whether `graph` (`bound_graph` of another day, the same footpaths) bounds this day
    too: each of this day's ride edges u -> v has an edge u -> v in `graph` no longer than
    it (so each path of this day one no longer). A realtime day may ride faster, or skip a
    stop; another day of service may run other patterns."""
    r_from, r_to, r_w = _rides(pat_stop_start, pat_stops, q_pattern, q_inst_start,
                               q_time_start, t_arr, t_dep)
    n_e = (len(graph) - n_stops - 1) // 2
    for e in range(len(r_from)):
        v = r_to[e]
        ok = False
        for x in range(graph[v], graph[v + 1]):
            if graph[n_stops + 1 + x] == r_from[e] and graph[n_stops + 1 + n_e + x] <= r_w[e]:
                ok = True
                break
        if not ok:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def squeeze_rows(n, out_rows, out_rides, pat_len,
                 pat_stop_start, pat_stops, board_slack, alight_slack,
                 q_pattern, q_inst_start, q_time_start, t_arr, t_dep, inst_q, inst_ok,
                 fp_start, fp_rows, min_conn):
    """`routing.search.squeeze` of the first `n` journeys `search` wrote (`Outputs`; rides
    target-first), in place: each ride's instance becomes the latest of its day pattern that
    still makes the next connection (the last ride: the same arrival); each ride's stop
    count (`pat_len` of its pattern) goes to `out_rides[3]`. The same arithmetic as `squeeze`
    without `inst_class`, on the arrays instead of a Ride per ride, but the first ride is not
    moved past the latest departure its run allows (`out_rows[3]`, from `_chain`): squeezed
    past a range query's window end, an in-window journey would start outside the window and
    be dropped (its later twin having hidden it in the search)."""
    out_len, out_last = out_rows[2], out_rows[3]
    out_inst, out_board, out_alight, out_length = out_rides[0], out_rides[1], out_rides[2], \
        out_rides[3]
    for i in range(n):
        m_len = out_len[i]
        deadline = 0
        for m in range(m_len):
            inst = out_inst[i, m]
            q = inst_q[inst]
            ps = pat_stop_start[q_pattern[q]]
            length = pat_len[q_pattern[q]]
            out_length[i, m] = length
            base = q_time_start[q]
            i0 = q_inst_start[q]
            j = inst - i0
            bd = out_board[i, m]
            al = out_alight[i, m]
            if m == 0:
                deadline = t_arr[base + j * length + al]
            last = q_inst_start[q + 1] - i0
            # the first ride leaves no later than its run allows (a range query's window)
            first_by = out_last[i] if m == m_len - 1 else INF
            for k in range(j + 1, last):       # FIFO: arrivals never decrease with k
                if t_arr[base + k * length + al] > deadline:
                    break
                if t_dep[base + k * length + bd] - board_slack[ps + bd] > first_by:
                    break                       # departures never decrease with k either
                if inst_ok[i0 + k]:
                    j = k
            out_inst[i, m] = i0 + j
            if m + 1 < m_len:
                pq = inst_q[out_inst[i, m + 1]]
                pps = pat_stop_start[q_pattern[pq]]
                p_al = out_alight[i, m + 1]
                s_b = pat_stops[ps + bd]
                s_a = pat_stops[pps + p_al]
                conn = min_conn         # `search._conn`: footpath or change at one stop
                for e in range(fp_start[s_a], fp_start[s_a + 1]):
                    if fp_rows[e, 0] == s_b:
                        fl = fp_rows[e, 2]
                        w = fp_rows[e, 1]
                        conn = max(w, fl if fl >= 0 else min_conn)
                        break
                deadline = (t_dep[base + j * length + bd] - board_slack[ps + bd]
                            - conn - alight_slack[pps + p_al])
