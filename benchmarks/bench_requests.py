"""CPU per request, per endpoint: maas workers, PostgreSQL and the client, measured apart.

Starts `maas serve --demo --workers N` on a fresh embedded data folder, seeds it as the load
test does (loadtests/seed.py), then sends N requests per endpoint from one aiohttp client
(GET /healthz, /v1/plan, /v1/stops, the QR token, gate validations accepted and replayed;
with --book also hold, confirm, cancel) and prints CPU ms per request of each process group.

    .venv/bin/python benchmarks/bench_requests.py --n 1500 --book
    .venv/bin/python benchmarks/bench_requests.py --spy plan,validate   # + py-spy of worker 0

The server runs the code of the current directory (`python -m maas.cli` from it), so one
script measures another tree too: `cd /tmp/old-tree && python /path/to/bench_requests.py`.

Two trees in the same run (absolute figures move from machine to machine and minute to
minute on a shared one): `--against DIR` also starts DIR's server (DIR/.venv/bin/python, or
--against-python), seeds it with DIR's own seed code, waits until the workers have frozen
their heaps again (--settle), and runs every phase on both trees before the next phase, which
tree goes first alternating from phase to phase (--new-first: the other way round; quote
medians of runs both ways); the end prints worker + PostgreSQL CPU ms per request of both and
the ratio new/old:

    git worktree add --detach /tmp/a05 a05cdb2 && (cd /tmp/a05 && python3 -m venv .venv &&
        .venv/bin/pip install -e ".[test,load]")
    .venv/bin/python benchmarks/bench_requests.py --book --n 1000 --against /tmp/a05
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, os.getcwd())   # the tree under test: see the docstring
import aiohttp
import psutil

from loadtests.runner import WIDE_WINDOWS, SHANGHAI
from loadtests.seed import SeedPlan, seed
from loadtests.payloads import passengers
from loadtests.server import Server, server_environment


def procs(server: Server, data_dir: Path) -> dict[str, object]:
    """Process groups whose CPU is counted: maas workers, and PostgreSQL as a callable that
    lists the postmaster and its children anew at every reading (pools open backends later)."""
    pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    pm = psutil.Process(pid)
    return {"workers": server.workers(), "postgres": lambda: [pm, *pm.children(recursive=True)]}


def cpu(groups) -> dict[str, dict[int, float]]:
    """CPU seconds per process of each group (and of this client), keyed by pid."""
    # here, not at the top: `--seed-only` runs this file on an older tree's path, whose
    # benchmarks/measure.py may not have it
    from benchmarks.measure import proc_cpu_s

    out = {}
    for k, ps in groups.items():
        seen = {}
        for p in (ps() if callable(ps) else ps):
            try:
                seen[p.pid] = proc_cpu_s(p)
            except psutil.Error:
                pass
        out[k] = seen
    me = psutil.Process()
    out["client"] = {me.pid: proc_cpu_s(me)}
    return out


def spent(c0, c1) -> dict[str, float]:
    """CPU seconds of each group between two readings; a process that started in between
    (a new pool connection's backend) counts from zero."""
    return {k: sum(t - c0[k].get(pid, 0.0) for pid, t in c1[k].items()) for k in c1}


async def fire(n: int, conc: int, make):
    """make(i) -> coroutine doing one request; returns latencies."""
    lat = []
    it = iter(range(n))

    async def loop():
        for i in it:
            t = time.perf_counter()
            await make(i)
            lat.append(time.perf_counter() - t)
    await asyncio.gather(*(loop() for _ in range(conc)))
    lat.sort()
    return lat


async def phase(a, name, groups, n, conc, make):
    """n requests made by make(i), conc at a time; prints rate, latency and CPU per request
    (and returns the CPU ms per request of each process group)."""
    spy = None
    if name.split()[0] in a.spy.split(","):
        import subprocess
        raw = a.out / f"spy-{name.split()[0]}.txt"
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-r", "200", "--format", "raw",
                                "-o", str(raw), "-p", str(groups["workers"][0].pid), "-d", "600",
                                *(["--gil"] if a.spy_gil else [])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1.0)
    c0 = cpu(groups)
    t0 = time.perf_counter()
    lat = await fire(n, conc, make)
    wall = time.perf_counter() - t0
    c1 = cpu(groups)
    per = {k: v / n * 1000 for k, v in spent(c0, c1).items()}
    name += getattr(a, "pass_tag", "")
    if spy is not None:
        import signal
        spy.send_signal(signal.SIGINT)
        spy.wait()
        from loadtests.report import summarise_pyspy
        print(summarise_pyspy(raw, top=30))
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print(f"{a.label}{name:22s} n={n} {n / wall:7.0f}/s  p50 {pct(.5):6.1f} p99 {pct(.99):6.1f} ms | CPU ms/req "
          + " ".join(f"{k} {v:.2f}" for k, v in per.items())
          + f" | pg backends {len(c1['postgres']) - len(c0['postgres']):+d}", flush=True)
    RESULTS.setdefault(a.label, {})[name] = per
    return per


RESULTS: dict[str, dict[str, dict[str, float]]] = {}   # label -> phase -> group -> CPU ms/request


async def main_async(a, url, seeded, groups):
    """Every phase on one server."""
    async for _ in phases(a, url, seeded, groups):
        pass


async def phases(a, url, seeded, groups):
    """The phases on one server, yielding after each (so two trees can take turns); with
    --passes N, all of them N times (the token and gate phases of pass k on every N-th seeded
    ticket from the k-th, so each pass issues first tokens and accepts fresh tickets)."""
    for k in range(a.passes):
        a.pass_tag = f" #{k + 1}" if a.passes > 1 else ""
        async for _ in _one_pass(a, url, seeded, groups, k):
            yield


async def _one_pass(a, url, seeded, groups, k):
    rng = random.Random(1)
    conn = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(url, connector=conn) as s:
        pairs = seeded["plan_pairs"]

        async def plan(i):
            p = rng.choice(pairs)
            m = rng.randint(7 * 60, 19 * 60 - 1)
            async with s.get("/v1/plan", params={"from": p[0], "to": p[1], "date": seeded["plan_date"],
                                                 "time": f"{m // 60:02d}:{m % 60:02d}"}) as r:
                await r.read()
                assert r.status == 200, r.status

        async def stops(i):
            q = rng.choice(seeded["stop_queries"])
            async with s.get("/v1/stops", params={"q": q}) as r:
                await r.read()
                assert r.status == 200, r.status

        async def health(i):
            async with s.get("/healthz") as r:
                await r.read()
        await phase(a, "healthz", groups, a.n, a.conc, health)
        yield
        if a.book or a.book_only:
            its = []
            for p in pairs[:60]:
                async with s.get("/v1/plan", params={"from": p[0], "to": p[1], "date": seeded["plan_date"], "time": "09:00"}) as r:
                    for it in (await r.json())["itineraries"]:
                        if any(l["mode"] != "walk" for l in it["legs"]):
                            its.append(it["id"])
            acct = seeded["pool"][0]["token"]
            import uuid
            made = []

            async def book(i):
                body = {"itinerary_id": its[i % len(its)], "passengers": passengers(random.Random(i))}
                h = {"Authorization": f"Bearer {acct}", "Idempotency-Key": str(uuid.uuid4())}
                async with s.post("/v1/bookings", json=body, headers=h) as r:
                    d = await r.json()
                    if r.status == 201:
                        made.append(d["id"])

            async def confirm(i):
                b = made[i]
                h = {"Authorization": f"Bearer {acct}", "Idempotency-Key": str(uuid.uuid4())}
                async with s.post(f"/v1/bookings/{b}/confirm", json={"payment_ref": "p" + b}, headers=h) as r:
                    await r.read()

            async def cancel(i):
                b = made[i]
                h = {"Authorization": f"Bearer {acct}", "Idempotency-Key": str(uuid.uuid4())}
                async with s.post(f"/v1/bookings/{b}/cancel", json={}, headers=h) as r:
                    await r.read()
            await phase(a, "book", groups, 300, 8, book)
            yield
            await phase(a, "confirm", groups, len(made), 8, confirm)
            yield
            await phase(a, "cancel", groups, len(made), 8, cancel)
            yield
            if a.book_only:
                return
        await phase(a, "plan warm", groups, 200, 4, plan)
        yield
        await phase(a, "plan", groups, a.n, a.conc, plan)
        yield
        await phase(a, "stops", groups, a.n, a.conc, stops)
        yield
        tickets = seeded["pool"][k::a.passes]
        toks = []

        async def token(i):
            t = tickets[i % len(tickets)]
            async with s.get(f"/v1/bookings/{t['booking']}/token",
                             headers={"Authorization": f"Bearer {t['token']}"}) as r:
                d = await r.json()
                assert r.status == 200, r.status
                toks.append((t, d["qr"]))
        await phase(a, "token", groups, min(a.n, len(tickets)), a.conc, token)
        yield
        gates = seeded["gates"]
        res = {}

        async def validate(i):
            t, qr = toks[i % len(toks)]
            leg, station = t["legs"][0] if not t.get("boards") else (None, t["boards"][0])
            gid, key = gates[station][0]
            async with s.post(f"/v1/gates/{gid}/validate", json={"qr": qr},
                              headers={"Authorization": f"Bearer {key}"}) as r:
                d = await r.json()
                assert r.status == 200, (r.status, d)
                k = d["result"] if d["result"] == "accept" else d.get("code")
                res[k] = res.get(k, 0) + 1
        await phase(a, "validate (accept)", groups, len(toks), a.conc, validate)
        yield
        print(f"  {a.label}outcomes", res)
        res.clear()
        await phase(a, "validate (replay)", groups, len(toks), a.conc, validate)
        yield
        print(f"  {a.label}outcomes", res)


def start(a, tree: Path, python: str, tag: str):
    """One tree's server on a fresh embedded data folder, seeded by that tree's own seed code
    (a subprocess of its interpreter, so its SQL matches its schema): (server, url, seed,
    data_dir, process groups)."""
    import subprocess

    data_dir = Path(tempfile.mkdtemp(prefix=f"maas-probe-{tag}-", dir="/tmp"))
    senv = {"MAAS_LOG_LEVEL": a.log_level, "MAAS_GATES__WINDOW_MIN": json.dumps(WIDE_WINDOWS)}
    env = server_environment(senv)
    os.environ.update(senv)
    server = Server(["--workers", str(a.workers), "--port", "0", "--host", "127.0.0.1",
                     "--data-dir", str(data_dir), "--demo"], env, a.out / f"server-{tag}.log",
                    python=python, cwd=tree)
    try:
        url = server.wait_listening(600)
        seed_file = a.out / f"seed-{tag}.json"
        t = time.monotonic()
        subprocess.run([python, str(Path(__file__).resolve()), "--seed-only", url, str(data_dir),
                        str(seed_file), "--pool", str(a.pool)], cwd=tree, env=env, check=True)
        seeded = json.loads(seed_file.read_text())
        print(f"[{tag}] seeded in {time.monotonic() - t:.0f}s; {len(seeded['pool'])} bookings", flush=True)
        return server, url, seeded, data_dir, procs(server, data_dir)
    except BaseException:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        raise


def seed_only(url: str, data_dir: Path, out: Path, pool: int) -> None:
    from maas.embedded import start_postgres

    handle, db_url = start_postgres(data_dir / "postgres")
    try:
        tomorrow = datetime.now(SHANGHAI).date() + timedelta(days=1)
        seeded = asyncio.run(seed(url, db_url, SeedPlan(plan_date=tomorrow, pool=pool, pairs=120,
                                                        log=lambda m: None, min_bookings=pool // 3), out.parent))
        seeded["plan_date"] = str(seeded["plan_date"])
        out.write_text(json.dumps(seeded, ensure_ascii=False, default=str))
    finally:
        handle.cleanup()


async def take_turns(runs) -> None:
    """Each phase on every server in turn before the next phase, the order reversed from one
    phase to the next: the tree that ran a phase second measured up to ~15 % less CPU than the
    first with the same code (found by floor3), so no tree may always go second. `--new-first`
    swaps every phase's order: give the medians of runs with and without it."""
    order = [phases(a, url, seeded, groups) for a, url, seeded, groups in runs]
    live = set(order)
    while live:
        for g in order:
            if g not in live:
                continue
            try:
                await g.__anext__()
            except StopAsyncIteration:
                live.discard(g)
        order.reverse()


def compare(old: str, new: str) -> None:
    print(f"\nworker + PostgreSQL CPU ms per request, {old} vs {new} (same run):")
    print(f"{'phase':22s} {old + ' w+pg':>14s} {new + ' w+pg':>14s} {'new/old':>8s}")
    for name, o in RESULTS[old].items():
        n = RESULTS[new].get(name)
        if n is None or name.startswith(("healthz", "plan warm")):
            continue
        ov, nv = o["workers"] + o["postgres"], n["workers"] + n["postgres"]
        print(f"{name:22s} {o['workers']:6.2f}+{o['postgres']:5.2f}  {n['workers']:6.2f}+{n['postgres']:5.2f} "
              f"{nv / ov if ov else float('nan'):8.0%}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--pool", type=int, default=1500)
    ap.add_argument("--log-level", default="INFO")
    ap.add_argument("--spy", default="")
    ap.add_argument("--spy-gil", action="store_true",
                    help="py-spy only samples holding the GIL: Python's own CPU, not waits in a syscall")
    ap.add_argument("--book", action="store_true", help="also hold, confirm and cancel bookings")
    ap.add_argument("--book-only", action="store_true", help="only the booking phases")
    ap.add_argument("--against", type=Path, help="an older tree to measure in the same run")
    ap.add_argument("--against-python", help="its interpreter (default DIR/.venv/bin/python)")
    ap.add_argument("--new-first", action="store_true",
                    help="with --against: the new tree runs the first phase first (then they alternate)")
    ap.add_argument("--settle", type=float, default=35.0,
                    help="seconds between the last seed and the first phase (heaps refrozen)")
    ap.add_argument("--passes", type=int, default=1,
                    help="every phase this many times on the same servers (the later passes: a "
                    "long-running server's warm pooled connections)")
    ap.add_argument("--seed-only", nargs=3, metavar=("URL", "DATA_DIR", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.seed_only:
        seed_only(a.seed_only[0], Path(a.seed_only[1]), Path(a.seed_only[2]), a.pool)
        return
    a.out = Path(tempfile.mkdtemp(prefix="probe-out-"))
    trees = [("new", Path(os.getcwd()), sys.executable)]
    if a.against:
        old = a.against.resolve()
        trees.insert(0, ("old", old, a.against_python or str(old / ".venv" / "bin" / "python")))
    started = []
    try:
        for tag, tree, python in trees:
            started.append((tag, start(a, tree, python, tag)))
        # the seed activates a feed, and a worker of this tree thaws its heap for 30 s after
        # an activation (maas/heap.py REFREEZE_S): a full collection of the unfrozen heap (one
        # took 155 ms) would land in the phases of the tree seeded last, so they start after
        # the workers froze again, as a served worker runs
        if a.settle > 0:
            print(f"waiting {a.settle:.0f} s for the workers to freeze their heaps again", flush=True)
            time.sleep(a.settle)
        runs = []
        for tag, (_server, url, seeded, _dd, groups) in started:
            b = argparse.Namespace(**vars(a))
            b.label = f"[{tag}] " if a.against else ""
            runs.append((b, url, seeded, groups))
        asyncio.run(take_turns(runs[::-1] if a.new_first else runs))
        if a.against:
            compare("[old] ", "[new] ")
    finally:
        stop_all(started)
        print(f"server logs and profiles in {a.out}")


def stop_all(started) -> None:
    """Stop the servers `start` started and remove their data folders."""
    for _tag, (server, _url, _seeded, data_dir, _groups) in started:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
