"""What the `/v1/events` wake-up costs a cancel: one server, the cancels alternating in blocks
between the booking_events trigger as the tree has it and the trigger disabled.

    .venv/bin/python benchmarks/bench_cancel_notify.py --blocks 12 --per 60

Starts `maas serve --demo --workers 2` of the current tree on a fresh embedded data folder
(bench_requests.start: seeded as the load test does), waits until the workers have refrozen
their heaps, then per block holds and confirms `per` bookings (not measured) and cancels them
(measured: worker and PostgreSQL CPU per cancel, PostgreSQL counting every backend, the
workers' LISTEN connections' too). Between blocks `ALTER TABLE booking_events ENABLE|DISABLE
TRIGGER booking_events_notify` switches the wake-up; the arms alternate, the order swapped
every pair. `--streams N` keeps N `GET /v1/events` streams of the booking account open
meanwhile (the case where someone listens). Prints the medians of the blocks, their ratio,
and the median ratio of the pairs of neighbouring blocks (drift cancels out).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.getcwd())
import aiohttp
import asyncpg

from benchmarks.bench_requests import cpu, spent, start, stop_all
from loadtests.payloads import passengers

TRIGGER = "booking_events_notify"


async def run(a, url: str, seeded: dict, groups: dict, db_url: str) -> None:
    acct = seeded["pool"][0]["token"]
    auth = {"Authorization": f"Bearer {acct}"}
    db = await asyncpg.connect(db_url)
    results: dict[str, list[float]] = {"on": [], "off": []}
    pairs: list[float] = []          # on / off of each pair of neighbouring blocks
    w_pg: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=64)) as s:
        its = []
        for p in seeded["plan_pairs"][:60]:
            async with s.get("/v1/plan", params={"from": p[0], "to": p[1],
                                                 "date": seeded["plan_date"], "time": "09:00"}) as r:
                for it in (await r.json())["itineraries"]:
                    if any(leg["mode"] != "walk" for leg in it["legs"]):
                        its.append(it["id"])
        streams = []
        for _ in range(a.streams):
            streams.append(await s.get("/v1/events", headers=auth,
                                       timeout=aiohttp.ClientTimeout(total=None)))

        async def drain(resp):
            try:
                async for _ in resp.content:
                    pass
            except (aiohttp.ClientError, asyncio.CancelledError):
                pass
        drains = [asyncio.ensure_future(drain(r)) for r in streams]

        async def many(n, make):
            it = iter(range(n))

            async def loop():
                for i in it:
                    await make(i)
            await asyncio.gather(*(loop() for _ in range(8)))

        k = 0
        for block in range(a.blocks):
            arm = ("on", "off") if (block // 2) % 2 == 0 else ("off", "on")
            arm = arm[block % 2]
            await db.execute(f"ALTER TABLE booking_events "
                             f"{'ENABLE' if arm == 'on' else 'DISABLE'} TRIGGER {TRIGGER}")
            made = []

            async def book(i):
                body = {"itinerary_id": its[(k + i) % len(its)],
                        "passengers": passengers(__import__("random").Random(k + i))}
                h = {**auth, "Idempotency-Key": str(uuid.uuid4())}
                async with s.post("/v1/bookings", json=body, headers=h) as r:
                    d = await r.json()
                    if r.status == 201:
                        made.append(d["id"])

            async def confirm(i):
                h = {**auth, "Idempotency-Key": str(uuid.uuid4())}
                async with s.post(f"/v1/bookings/{made[i]}/confirm", json={"payment_ref": "p"},
                                  headers=h) as r:
                    await r.read()

            async def cancel(i):
                h = {**auth, "Idempotency-Key": str(uuid.uuid4())}
                async with s.post(f"/v1/bookings/{made[i]}/cancel", json={}, headers=h) as r:
                    await r.read()
                    assert r.status == 200, r.status
            await many(a.per, book)
            k += a.per
            await many(len(made), confirm)
            await asyncio.sleep(0.5)
            spies = []
            if a.spy:
                import subprocess
                for wi, w in enumerate(groups["workers"]):
                    raw = a.out / f"spy-{arm}-{block}-{wi}.txt"
                    spies.append(subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking",
                         "-r", "500", "--format", "raw", "-o", str(raw), "-p", str(w.pid),
                         "-d", "600", *(["--gil"] if a.spy == "gil" else [])],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                await asyncio.sleep(1.0)
            c0 = cpu(groups)
            await many(len(made), cancel)
            await asyncio.sleep(0.2)          # the listeners' wake-ups are counted too
            c1 = cpu(groups)
            for sp in spies:
                import signal
                sp.send_signal(signal.SIGINT)
                sp.wait()
            per = {g: v / len(made) * 1000 for g, v in spent(c0, c1).items()}
            results[arm].append(per["workers"] + per["postgres"])
            if block % 2:
                pairs.append(results["on"][-1] / results["off"][-1])
            w_pg[arm].append((per["workers"], per["postgres"]))
            print(f"block {block:2d} trigger {arm:3s} n={len(made)} w {per['workers']:.3f} "
                  f"pg {per['postgres']:.3f} ms/cancel", flush=True)
        for d in drains:
            d.cancel()
        for r in streams:
            r.close()
    await db.execute(f"ALTER TABLE booking_events ENABLE TRIGGER {TRIGGER}")
    await db.close()
    med = {arm: statistics.median(v) for arm, v in results.items()}
    for arm in ("on", "off"):
        w = statistics.median(x[0] for x in w_pg[arm])
        p = statistics.median(x[1] for x in w_pg[arm])
        print(f"trigger {arm:3s}: median w {w:.3f} + pg {p:.3f} = {med[arm]:.3f} ms per cancel")
    print(f"on / off: {med['on'] / med['off']:.1%} of the medians, "
          f"{statistics.median(pairs):.1%} the median of {len(pairs)} pairs of neighbouring blocks "
          f"(load average {os.getloadavg()})")
    if a.spy:
        from loadtests.report import summarise_pyspy
        for arm in ("on", "off"):
            merged = a.out / f"spy-{arm}.txt"
            merged.write_text("".join(f.read_text() for f in sorted(a.out.glob(f"spy-{arm}-*.txt"))))
            print(f"==== py-spy, trigger {arm} ====")
            print(summarise_pyspy(merged, top=25))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=12)
    ap.add_argument("--per", type=int, default=60)
    ap.add_argument("--streams", type=int, default=0)
    ap.add_argument("--spy", default="", help="py-spy the workers per arm: 'all' or 'gil'")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pool", type=int, default=300)
    ap.add_argument("--settle", type=float, default=35.0)
    ap.add_argument("--log-level", default="INFO")
    a = ap.parse_args()
    a.out = Path(tempfile.mkdtemp(prefix="probe-out-"))
    started = []
    try:
        started.append(("ab", start(a, Path(os.getcwd()), sys.executable, "ab")))
        _server, url, seeded, data_dir, groups = started[0][1]
        from maas.embedded import start_postgres
        handle, db_url = start_postgres(data_dir / "postgres")
        try:
            time.sleep(a.settle)
            asyncio.run(run(a, url, seeded, groups, db_url))
        finally:
            handle.cleanup()
    finally:
        stop_all(started)


if __name__ == "__main__":
    main()
