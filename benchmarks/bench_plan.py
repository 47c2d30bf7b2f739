"""Journey planner benchmark: engine alone, over HTTP, and peers in the same run.

    .venv/bin/python benchmarks/bench_plan.py --feed nyc-subway-2018 --queries 100 --http
    .venv/bin/python benchmarks/bench_plan.py --demo-scale 10 --queries 50
    .venv/bin/python benchmarks/bench_plan.py --feed nyc-subway-2018 --no-peers --mapped

Random reachable queries (origin, destination, time 07:00-19:00) on the busiest service day.
Measured: earliest-arrival Pareto query and 2-hour range query p50/p95 (Planner.plan, i.e.
rounds + itinerary assembly), the same over HTTP (GET /v1/plan on the real app, loopback),
network load time (compile + Planner.build + day expansion) and memory (RSS growth).
Peers, same queries: a plain pure-Python connection scan (benchmarks/peers/csa_peer.py, run
side by side with the HTTP plans: `--http` reports http_vs_csa_p50), a networkx time-expanded Dijkstra (earliest arrival only; built here) and
pyraptor (in its own venv, /work/bench-venvs/pyraptor, from the same expanded trips).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import proc_cpu_s, rss_mb  # noqa: E402
from benchmarks.peers.csa_peer import CsaPeer  # noqa: E402
from benchmarks.peers.nx_peer import NxPeer  # noqa: E402
from feeds.compile import compile_feed  # noqa: E402
from routing import itinerary  # noqa: E402
from routing.config import RoutingConfig  # noqa: E402
from routing.network import Network, merge  # noqa: E402
from routing.planner import Planner, Query  # noqa: E402

# side by side with the scan: queries taken in turns of this many (see _side_by_side)
BLOCK = 10
PYRAPTOR = Path(os.environ.get("PYRAPTOR_PY", "/work/bench-venvs/pyraptor/bin/python"))


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q)) if len(xs) else float("nan")


def load_network(args) -> tuple[Network, str]:
    if args.demo_scale:
        from feeds.demo import write_demo_feeds

        tmp = tempfile.mkdtemp(prefix="bench-plan-")
        written = write_demo_feeds(tmp, start_date=date(2026, 11, 23), days=7, scale=args.demo_scale)
        nets = []
        for name, _op, path in written:
            with zipfile.ZipFile(path) as z:
                nets.append(compile_feed({m: z.read(m) for m in z.namelist()}, feed=name, version="1"))
        return merge(nets), f"demo scale {args.demo_scale}"
    path = ROOT / "tests" / "data" / "real" / f"{args.feed}.zip"
    with zipfile.ZipFile(path) as z:
        return compile_feed({m: z.read(m) for m in z.namelist()}, feed=args.feed.split("-")[0],
                            version="1"), args.feed


def busiest_day(net: Network) -> tuple[date, int]:
    hops = np.diff(net.trip_st_start) - 1
    per_day = (net.service_days[net.trip_service].astype(np.int64) * hops[:, None]).sum(axis=0)
    col = int(per_day.argmax())
    return date.fromordinal(net.service_base_date + col), int(per_day[col])


def make_queries(pl: Planner, d: date, n: int, seed: int) -> list[Query]:
    net = pl.network
    served = np.unique(net.st_stop)
    rng = np.random.default_rng(seed)
    out: list[Query] = []
    tries = 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        a, b = rng.choice(served, 2, replace=False)
        q = Query(str(net.stop_id[a]), str(net.stop_id[b]), d, int(rng.integers(7 * 3600, 19 * 3600)))
        if pl.plan(q):
            out.append(q)
    return out


CPU: dict[str, list[float]] = {}


def time_queries(pl: Planner, qs: list[Query], name: str = "", fares=None) -> list[float]:
    """Wall-clock seconds per query; process CPU seconds go to CPU[name] (the machine is
    shared, so CPU time shows what a query costs without waiting for a core)."""
    secs, cpu = [], []
    pl._reach_cache.clear()             # the query filter above planned these already,
    pl.catalog.forget_rides()           # and memoised their legs and ids
    itinerary._IDS.clear()
    for q in qs:
        t, c = time.perf_counter(), time.process_time()
        pl.plan(q) if fares is None else pl.plan(q, fares=fares)
        secs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU[name] = cpu
    return secs


def expanded_trips(pl: Planner, d: date):
    """The trip instances of the query day's expansion whose run touches that day, as
    (stops, arr, dep) in seconds since the Day origin."""
    day = pl.day(d)
    p = pl.fwd
    tz = ZoneInfo(pl.network.timezones[0])
    lo = int(datetime.combine(d, dtime(0), tz).timestamp()) - day.origin
    hi = lo + 30 * 3600
    trips = []
    for q in range(day.n_q):
        pat = int(day.q_pattern[q])
        stops = p.stops[p.stop_start[pat]:p.stop_start[pat + 1]]
        L = len(stops)
        base = int(day.q_time_start[q])
        for j in range(int(day.q_inst_start[q + 1] - day.q_inst_start[q])):
            arr = day.t_arr[base + j * L: base + (j + 1) * L]
            dep = day.t_dep[base + j * L: base + (j + 1) * L]
            if arr[-1] >= lo and dep[0] <= hi:
                trips.append((stops, arr, dep))
    return trips, day.origin


def query_rel(pl: Planner, q: Query, origin: int) -> tuple[int, int, int]:
    tz = ZoneInfo(pl.stop_tz(pl.stop(q.origin)))
    t = int((datetime.combine(q.date, dtime(0), tz) + timedelta(seconds=q.time_s)).timestamp())
    return pl.stop(q.origin), pl.stop(q.destination), t - origin


def run_nx(trips, rel_qs, n) -> dict:
    m0, t0 = rss_mb(), time.perf_counter()
    peer = NxPeer(trips)
    build, mem = time.perf_counter() - t0, rss_mb() - m0
    secs = []
    for o, d, t in rel_qs[:n]:
        t1 = time.perf_counter()
        peer.earliest(o, d, t)
        secs.append(time.perf_counter() - t1)
    del peer
    return {"build_s": build, "mem_mb": mem, "secs": secs}


def csa_peer(pl: Planner, trips) -> CsaPeer:  # type: ignore[no-untyped-def]
    fp = pl.fps
    return CsaPeer(trips, (fp.start, fp.to, fp.walk_s))


def run_csa(pl: Planner, trips, rel_qs) -> dict:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    peer = csa_peer(pl, trips)
    build = time.perf_counter() - t0
    secs, cpu, found = [], [], 0
    for o, d, t in rel_qs:
        t1, c1 = time.perf_counter(), time.process_time()
        found += peer.earliest(o, d, t) is not None
        secs.append(time.perf_counter() - t1)
        cpu.append(time.process_time() - c1)
    return {"build_s": build, "secs": secs, "cpu": cpu, "found": found, "connections": len(peer.conns)}


def run_pyraptor(trips, n_stops, rel_qs, n, rounds) -> dict | None:
    if not PYRAPTOR.exists():
        print(f"pyraptor venv not found at {PYRAPTOR}; skipped", file=sys.stderr)
        return None
    start = np.zeros(len(trips) + 1, np.int64)
    np.cumsum([len(s) for s, _, _ in trips], out=start[1:])
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        qs = np.array(rel_qs[:n], dtype=np.int64).reshape(-1, 3)
        np.savez(inp, n_stops=n_stops, trip_start=start,
                 st_stop=np.concatenate([s for s, _, _ in trips]),
                 st_arr=np.concatenate([a for _, a, _ in trips]),
                 st_dep=np.concatenate([x for _, _, x in trips]),
                 q_from=qs[:, 0], q_to=qs[:, 1], q_time=qs[:, 2], rounds=rounds)
        subprocess.run([str(PYRAPTOR), str(ROOT / "benchmarks" / "peers" / "pyraptor_peer.py"),
                        str(inp), str(out)], check=True)
        return json.loads(out.read_text())


def _serve_child(pl: Planner, net: Network, settings, conn) -> None:  # type: ignore[no-untyped-def]
    """The forked server: the real app over this planner, on a free loopback port (sent back
    through `conn`), until SIGTERM; run as a `maas serve` worker runs (the settings' event
    loop, the heap frozen once it is ready: maas/serve.py, maas/heap.py)."""
    import asyncio
    import dataclasses
    import signal as sig

    from aiohttp import web

    from maas import heap
    from maas.app import create_app
    from maas.appkeys import LIVE
    from maas.serve import run_loop

    prof = None
    if os.environ.get("BENCH_PLAN_PROFILE"):   # cProfile of the server, written on SIGTERM
        import cProfile

        prof = cProfile.Profile(time.thread_time)

    split: dict[str, float] = {}
    if os.environ.get("BENCH_PLAN_SPLIT"):   # thread CPU in parts of a plan request, on SIGTERM
        import maas.api.plan as plan_api

        def timed(name, fn):  # type: ignore[no-untyped-def]
            def run(*a, **k):  # type: ignore[no-untyped-def]
                t = time.thread_time()
                try:
                    return fn(*a, **k)
                finally:
                    split.setdefault(name, []).append(time.thread_time() - t)
            return run
        plan_api.render_json = timed("render_json", plan_api.render_json)
        plan_api.itinerary_quote = timed("prices", plan_api.itinerary_quote)
        if hasattr(plan_api, "_prices"):    # the pricer, looked up once a response
            plan_api._prices = timed("prices lookup", plan_api._prices)
        plan_api._Gauge.plan = timed("planner", plan_api._Gauge.plan)
        plan_api.to_query = timed("to_query", plan_api.to_query)
        import maas.http as http_edge
        http_edge.parse_query = timed("parse_query", http_edge.parse_query)

    async def go() -> None:
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder = app[LIVE]
        holder.current = dataclasses.replace(holder.current, planner=pl, network=net, loaded=True)
        heap.enable()
        heap.freeze()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(sig.SIGTERM, stop.set)
        conn.send(site._server.sockets[0].getsockname()[1])
        if prof is not None:
            prof.enable()
        await stop.wait()
        if prof is not None:
            prof.disable()
            prof.dump_stats(os.environ["BENCH_PLAN_PROFILE"])
        if split:
            print("server CPU split (ms per call, mean / p50 of the last 200 calls):",
                  {k: (round(float(np.mean(v)) * 1000, 3), round(pct(v[-200:], 50), 3))
                   for k, v in split.items()}, file=sys.stderr, flush=True)
        await runner.cleanup()

    run_loop(go(), settings.event_loop)


def _get(sock, buf: bytearray, path: str) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    """One GET over a keep-alive socket; (status, body). A minimal client, so the time is the
    server's (an aiohttp client in this process cost as much as a short plan)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(rest) < n:
        rest += sock.recv(65536)
    buf[:] = rest[n:]
    return int(head.split(b" ", 2)[1]), rest[:n]


def _side_by_side(sock, buf, server, sets, peer, path, block: int = BLOCK) -> dict:  # type: ignore[no-untyped-def]
    """The plans over HTTP and the scan's earliest-arrival answers to the same queries in one
    run, taking turns in blocks of `block` queries (HTTP first in one block, the scan first in
    the next), so both see the same machine load within a second. Query by query (block 1)
    the scan's walk over ~200k Python tuples between two plans evicts the server's caches: the
    planner's CPU alone rose 40-70 % that way while the scan's moved 5 % (bench notes in
    BENCHMARKS.md), so block 1 is reported too, as `*_q1`, not as the figure. `sets`: two
    (queries, the scan's queries) lists, one per run, that the server has not seen before (its
    memos of rides and leg texts start cold for them, as for the first plans of a new day)."""
    out: dict = {}
    for (qs, rel), b, tag in zip(sets, (block, 1), ("", "_q1"), strict=True):
        secs, peer_secs, peer_cpu = [], [], []
        c0 = proc_cpu_s(server)
        for n, s in enumerate(range(0, len(qs), b)):
            idx = range(s, min(s + b, len(qs)))
            for turn in ((0, 1) if n % 2 == 0 else (1, 0)):
                for i in idx:
                    if turn == 0:
                        t = time.perf_counter()
                        status, body = _get(sock, buf, path(qs[i], 0))
                        secs.append(time.perf_counter() - t)
                        assert status == 200, body[:300]
                    else:
                        o, d, t0 = rel[i]
                        t, c = time.perf_counter(), time.process_time()
                        peer.earliest(o, d, t0)
                        peer_secs.append(time.perf_counter() - t)
                        peer_cpu.append(time.process_time() - c)
        c1 = proc_cpu_s(server)
        out["side" + tag], out["peer" + tag], out["peer_cpu" + tag] = secs, peer_secs, peer_cpu
        out["side_server_cpu_ms" + tag] = (c1 - c0) / len(qs) * 1000
    return out


def run_http(pl: Planner, net: Network, qs: list[Query], window: int, peer=None, side_sets=None) -> dict:  # type: ignore[no-untyped-def]
    """GET /v1/plan on the real app in a forked server process, one request at a time over one
    keep-alive connection; with `peer`, also side by side with its earliest-arrival answers
    to the same queries (`_side_by_side`, on `side_sets`). Also the server process's CPU per
    request."""
    import multiprocessing
    import socket
    from urllib.parse import urlencode

    import psutil

    from maas.embedded import embedded_services
    from maas.settings import Settings

    def path(q: Query, w: int) -> str:
        h, m, s = q.time_s // 3600, q.time_s // 60 % 60, q.time_s % 60
        p = {"from": q.origin, "to": q.destination, "date": q.date.isoformat(), "time": f"{h:02d}:{m:02d}:{s:02d}"}
        if w:
            p["window_min"] = str(w // 60)
        return "/v1/plan?" + urlencode(p)

    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        with embedded_services(Path(tmp), database_url=None, redis_url=None) as emb:
            settings = Settings(database_url=emb.database_url, redis_url=emb.redis_url,
                                data_dir=Path(tmp) / "data", log_level="WARNING")
            ctx = multiprocessing.get_context("fork")
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve_child, args=(pl, net, settings, child), daemon=True)
            proc.start()
            try:
                port = parent.recv() if parent.poll(120) else None
                assert port, "the benchmark server did not start"
                server = psutil.Process(proc.pid)
                with socket.create_connection(("127.0.0.1", port)) as sock:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    buf = bytearray()
                    for q in qs[:5]:   # warm: first requests of a fresh app
                        _get(sock, buf, path(q, 0))
                    c0 = proc_cpu_s(server)   # the HTTP floor: the same stack, no planning
                    for _ in range(len(qs)):
                        _get(sock, buf, "/healthz")
                    c1 = proc_cpu_s(server)
                    res["healthz_server_cpu_ms"] = (c1 - c0) / len(qs) * 1000
                    for name, w in (("pareto", 0), ("range", window)):
                        secs = []
                        c0 = proc_cpu_s(server)
                        for q in qs:
                            t = time.perf_counter()
                            status, body = _get(sock, buf, path(q, w))
                            secs.append(time.perf_counter() - t)
                            assert status == 200, body[:300]
                        c1 = proc_cpu_s(server)
                        res[name] = secs
                        res[name + "_server_cpu_ms"] = (c1 - c0) / len(qs) * 1000
                    if peer is not None and side_sets:
                        res.update(_side_by_side(sock, buf, server, side_sets, peer, path))
            finally:
                proc.terminate()
                proc.join(30)
    return res


def run_price(pl: Planner, qs: list[Query]) -> dict:
    """criteria=price vs the two-criteria query, same queries, alternating query by query
    (both see the same machine load); plus the fare table build and the answer sizes."""
    from maas.services import booking_config
    from maas.settings import Settings
    from ticketing.fares import search_fares

    fares_cfg = booking_config(Settings().bookings).fares
    t = time.perf_counter()
    table = search_fares(pl.network, fares_cfg, pl.fare_classes())
    build = time.perf_counter() - t
    for q in qs[:5]:
        pl.plan(q, fares=table)                                 # warm (numba, caches)
    two, three, two_cpu, three_cpu, n2, n3 = [], [], [], [], [], []
    for q in qs:
        for fares, secs, cpu, n in ((None, two, two_cpu, n2), (table, three, three_cpu, n3)):
            w, c = time.perf_counter(), time.process_time()
            its = pl.plan(q) if fares is None else pl.plan(q, fares=fares)
            secs.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
            n.append(len(its))
    return {"fare_classes": pl.fare_classes().n_classes,
            "fare_entries": int((table.full >= 0).sum()), "fare_table_build_s": round(build, 2),
            "price_two_criteria_p50_ms": round(pct(two, 50), 3),
            "price_two_criteria_p95_ms": round(pct(two, 95), 3),
            "price_three_criteria_p50_ms": round(pct(three, 50), 3),
            "price_three_criteria_p95_ms": round(pct(three, 95), 3),
            "price_two_cpu_p50_ms": round(pct(two_cpu, 50), 3),
            "price_three_cpu_p50_ms": round(pct(three_cpu, 50), 3),
            "price_ratio_p50": round(pct(three, 50) / pct(two, 50), 1),
            "price_ratio_p95": round(pct(three, 95) / pct(two, 95), 1),
            "price_ratio_cpu_p50": round(pct(three_cpu, 50) / pct(two_cpu, 50), 1),
            "itineraries_two_mean": round(float(np.mean(n2)), 2),
            "itineraries_three_mean": round(float(np.mean(n3)), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feed", default="nyc-subway-2018")
    ap.add_argument("--demo-scale", type=float, default=0)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--nx-queries", type=int, default=100)
    ap.add_argument("--pyraptor-queries", type=int, default=10)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--price", action="store_true",
                    help="also criteria=price (the default settings' fares) on the same queries, "
                         "interleaved with the two-criteria query")
    ap.add_argument("--mapped", action="store_true",
                    help="plan on the network and planner structures mapped read-only from "
                         "disk (maas.netcache), as a maas worker does")
    args = ap.parse_args()
    cfg = RoutingConfig()
    m0 = rss_mb()
    t0 = time.perf_counter()
    net, label = load_network(args)
    t_compile = time.perf_counter() - t0
    shared = None
    if args.mapped:     # as a maas worker plans: network and planner structures mapped from disk
        from maas.netcache import shared_generation
        from routing.network import to_bytes

        where = Path(tempfile.mkdtemp(prefix="bench-plan-map-"))
        atexit.register(shutil.rmtree, where, True)
        gen = shared_generation([("bench", "1", to_bytes(net))], where)
        net, shared = gen.network, gen.shared(cfg)
    t1 = time.perf_counter()
    pl = Planner.build(net, cfg, shared)
    t_build = time.perf_counter() - t1
    d, conns = busiest_day(net)
    t2 = time.perf_counter()
    pl.day(d)
    t_day = time.perf_counter() - t2
    mem = rss_mb() - m0
    qs = make_queries(pl, d, args.queries, args.seed)
    time_queries(pl, qs[:5])                                  # warm caches
    ea = time_queries(pl, qs, "pareto")
    rq = [Query(q.origin, q.destination, q.date, q.time_s, window_s=7200) for q in qs]
    rng = time_queries(pl, rq, "range")
    label += " (mapped)" if args.mapped else ""
    r = {"network": label, "date": str(d), "connections_day": conns, "stops": net.n_stops,
         "trips": net.n_trips, "stop_times": int(len(net.st_stop)),
         "compile_s": round(t_compile, 2), "planner_build_s": round(t_build, 2),
         "day_expand_s": round(t_day, 2), "rss_growth_mb": round(mem),
         "queries": len(qs),
         "pareto_p50_ms": round(pct(ea, 50), 3), "pareto_p95_ms": round(pct(ea, 95), 3),
         "range2h_p50_ms": round(pct(rng, 50), 3), "range2h_p95_ms": round(pct(rng, 95), 3),
         "pareto_cpu_p50_ms": round(pct(CPU["pareto"], 50), 3),
         "range2h_cpu_p50_ms": round(pct(CPU["range"], 50), 3),
         "load_avg_1m": round(os.getloadavg()[0], 1), "cpus": os.cpu_count()}
    if args.price:
        r.update(run_price(pl, qs))
    if not args.no_peers:
        trips, origin = expanded_trips(pl, d)
        rel = [query_rel(pl, q, origin) for q in qs]
        csa = run_csa(pl, trips, rel)
        r["csa_connections"] = csa["connections"]
        r["csa_build_s"] = round(csa["build_s"], 2)
        r["csa_found"] = csa["found"]
        r["csa_p50_ms"] = round(pct(csa["secs"], 50), 3)
        r["csa_p95_ms"] = round(pct(csa["secs"], 95), 3)
        r["csa_ratio_p50"] = round(pct(csa["secs"], 50) / pct(ea, 50), 1)
        nx_r = run_nx(trips, rel, args.nx_queries)
        r["peer_trip_instances"] = len(trips)
        n = len(nx_r["secs"])
        r["nx_build_s"] = round(nx_r["build_s"], 2)
        r["nx_mem_mb"] = round(nx_r["mem_mb"])
        r["nx_p50_ms"] = round(pct(nx_r["secs"], 50), 3)
        r["nx_p95_ms"] = round(pct(nx_r["secs"], 95), 3)
        r["nx_ratio_p50"] = round(pct(nx_r["secs"], 50) / pct(ea[:n], 50), 1)
        pr = run_pyraptor(trips, net.n_stops, rel, args.pyraptor_queries, cfg.max_transfers + 1) \
            if args.pyraptor_queries > 0 else None
        if pr:
            n = len(pr["secs"])
            r["pyraptor_build_s"] = round(pr["build_s"], 2)
            r["pyraptor_queries"] = n
            r["pyraptor_p50_ms"] = round(pct(pr["secs"], 50), 1)
            r["pyraptor_ratio_p50"] = round(pct(pr["secs"], 50) / pct(ea[:n], 50))
    if args.http:
        peer = None
        if not args.no_peers:
            peer = csa_peer(pl, trips)
        side_sets = []
        if peer is not None:   # fresh queries for each side-by-side run (see _side_by_side)
            for k in (1, 2):
                more = make_queries(pl, d, args.queries, args.seed + k)
                side_sets.append((more, [query_rel(pl, q, origin) for q in more]))
        h = run_http(pl, net, qs, 7200, peer, side_sets)
        if peer is not None:   # the same queries, HTTP and the scan taking turns in blocks
            for tag, label in (("", ""), ("_q1", "_query_by_query")):
                r[f"http_side_by_side_p50_ms{label}"] = round(pct(h["side" + tag], 50), 3)
                r[f"http_csa_side_by_side_p50_ms{label}"] = round(pct(h["peer" + tag], 50), 3)
                r[f"http_csa_side_by_side_cpu_p50_ms{label}"] = round(pct(h["peer_cpu" + tag], 50), 3)
                r[f"http_csa_side_by_side_cpu_mean_ms{label}"] = round(float(np.mean(h["peer_cpu" + tag])) * 1000, 3)
                r[f"http_side_by_side_server_cpu_ms{label}"] = round(h["side_server_cpu_ms" + tag], 3)
                r[f"http_vs_csa_p50{label}"] = round(pct(h["peer" + tag], 50) / pct(h["side" + tag], 50), 2)
                # CPU: the server process's mean CPU per plan request against the scan's mean
                r[f"http_server_cpu_vs_csa_cpu_mean{label}"] = round(
                    float(np.mean(h["peer_cpu" + tag])) * 1000 / h["side_server_cpu_ms" + tag], 2)
            r["http_side_by_side_block"] = BLOCK
        r["http_healthz_server_cpu_ms"] = round(h["healthz_server_cpu_ms"], 3)
        r["http_pareto_server_cpu_ms"] = round(h["pareto_server_cpu_ms"], 3)
        r["http_range2h_server_cpu_ms"] = round(h["range_server_cpu_ms"], 3)
        r["http_pareto_p50_ms"] = round(pct(h["pareto"], 50), 3)
        r["http_pareto_p95_ms"] = round(pct(h["pareto"], 95), 3)
        r["http_range2h_p50_ms"] = round(pct(h["range"], 50), 3)
        r["http_range2h_p95_ms"] = round(pct(h["range"], 95), 3)
    print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
