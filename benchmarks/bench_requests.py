"""CPU per request, per endpoint: maas workers, PostgreSQL and the client, measured apart.

Starts `maas serve --demo --workers N` on a fresh embedded data folder, seeds it as the load
test does (loadtests/seed.py), then sends N requests per endpoint from one aiohttp client
(GET /healthz, /v1/plan, /v1/stops, the QR token, gate validations accepted and replayed;
with --book also hold, confirm, cancel) and prints CPU ms per request of each process group.

    .venv/bin/python benchmarks/bench_requests.py --n 1500 --book
    .venv/bin/python benchmarks/bench_requests.py --spy plan,validate   # + py-spy of worker 0

The server runs the code of the current directory (`python -m maas.cli` from it), so one
script measures another tree too: `cd /tmp/old-tree && python /path/to/bench_requests.py`.
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


def procs(server: Server, data_dir: Path) -> dict[str, list[psutil.Process]]:
    g = {"workers": server.workers()}
    pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    pm = psutil.Process(pid)
    g["postgres"] = [pm, *pm.children(recursive=True)]
    return g


def cpu(groups) -> dict[str, float]:
    out = {}
    for k, ps in groups.items():
        t = 0.0
        for p in ps:
            try:
                c = p.cpu_times()
                t += c.user + c.system
            except psutil.Error:
                pass
        out[k] = t
    me = psutil.Process().cpu_times()
    out["client"] = me.user + me.system
    return out


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
    """n requests made by make(i), conc at a time; prints rate, latency and CPU per request."""
    spy = None
    if name.split()[0] in a.spy.split(","):
        import subprocess
        raw = a.out / f"spy-{name.split()[0]}.txt"
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-r", "200", "--format", "raw",
                                "-o", str(raw), "-p", str(groups["workers"][0].pid), "-d", "600"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1.0)
    c0 = cpu(groups)
    t0 = time.perf_counter()
    lat = await fire(n, conc, make)
    wall = time.perf_counter() - t0
    c1 = cpu(groups)
    per = {k: (c1[k] - c0[k]) / n * 1000 for k in c0}
    if spy is not None:
        import signal
        spy.send_signal(signal.SIGINT)
        spy.wait()
        from loadtests.report import summarise_pyspy
        print(summarise_pyspy(raw, top=30))
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print(f"{name:22s} n={n} {n / wall:7.0f}/s  p50 {pct(.5):6.1f} p99 {pct(.99):6.1f} ms | CPU ms/req "
          + " ".join(f"{k} {v:.2f}" for k, v in per.items()), flush=True)


async def main_async(a, url, seeded, groups):
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
            await phase(a, "confirm", groups, len(made), 8, confirm)
            await phase(a, "cancel", groups, len(made), 8, cancel)
            if a.book_only:
                return
        await phase(a, "plan warm", groups, 200, 4, plan)
        await phase(a, "plan", groups, a.n, a.conc, plan)
        await phase(a, "stops", groups, a.n, a.conc, stops)
        tickets = seeded["pool"]
        toks = []

        async def token(i):
            t = tickets[i % len(tickets)]
            async with s.get(f"/v1/bookings/{t['booking']}/token",
                             headers={"Authorization": f"Bearer {t['token']}"}) as r:
                d = await r.json()
                assert r.status == 200, r.status
                toks.append((t, d["qr"]))
        await phase(a, "token", groups, min(a.n, len(tickets)), a.conc, token)
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
        print("  outcomes", res)
        res.clear()
        await phase(a, "validate (replay)", groups, len(toks), a.conc, validate)
        print("  outcomes", res)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--pool", type=int, default=1500)
    ap.add_argument("--log-level", default="INFO")
    ap.add_argument("--spy", default="")
    ap.add_argument("--book", action="store_true", help="also hold, confirm and cancel bookings")
    ap.add_argument("--book-only", action="store_true", help="only the booking phases")
    a = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="maas-probe-", dir="/tmp"))
    senv = {"MAAS_LOG_LEVEL": a.log_level, "MAAS_GATES__WINDOW_MIN": json.dumps(WIDE_WINDOWS)}
    env = server_environment(senv)
    os.environ.update(senv)
    a.out = out = Path(tempfile.mkdtemp(prefix="probe-out-"))
    server = Server(["--workers", str(a.workers), "--port", "0", "--host", "127.0.0.1",
                     "--data-dir", str(data_dir), "--demo"], env, out / "server.log")
    handle = None
    try:
        url = server.wait_listening(600)
        from maas.embedded import start_postgres
        handle, db_url = start_postgres(data_dir / "postgres")
        tomorrow = datetime.now(SHANGHAI).date() + timedelta(days=1)
        t = time.monotonic()
        seeded = asyncio.run(seed(url, db_url, SeedPlan(plan_date=tomorrow, pool=a.pool, pairs=120,
                                                        log=lambda m: None, min_bookings=a.pool // 3), out))
        print(f"seeded in {time.monotonic() - t:.0f}s; {len(seeded['pool'])} bookings", flush=True)
        seeded["plan_date"] = str(seeded["plan_date"])
        groups = procs(server, data_dir)
        asyncio.run(main_async(a, url, seeded, groups))
    finally:
        server.stop()
        if handle is not None:
            handle.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"server log and profiles in {out}")


if __name__ == "__main__":
    main()
