"""Connection protection: the time from a realtime update to the `disrupted` event, and to the
`rebooked` event, on every booking it breaks, with 10,000 confirmed bookings of which 500 ride
the updated trip.

Starts `maas serve --demo --workers N` on a fresh embedded data folder; books two template
journeys on the demo jinan-bus feed through the API (plan, hold, confirm); seeds the other
bookings straight through ticketing/store.py (hold + confirm; 500 clones of the first template
on one trip, the rest on the second); pushes one GTFS-RT message cancelling the first trip and
waits until all 500 bookings have their `disrupted` event, then their `rebooked` (or
`rebook_failed`) event. Latency per booking = the event's time - the moment the push was sent.
Seats: the clones were seeded past the buses' 80 seats, so the server runs with a large seat
capacity per mode (MAAS_BOOKINGS__CAPACITY) and the rebookings find room on the next bus.

    .venv/bin/python benchmarks/bench_protection.py --bookings 10000 --hit 500 --workers 2

Prints p50 / p95 / max (s) of both, the counts of rebooked and rebook_failed, and the searches
the planner ran for them. The server runs the code of the current directory.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, os.getcwd())   # the tree under test
import aiohttp
import asyncpg

from benchmarks.bench_realtime_latency import FEED, _message, _stops
from loadtests.runner import SHANGHAI
from loadtests.server import Server, server_environment


async def _book(s: aiohttp.ClientSession, url: str, token: str, params: dict) -> str:
    async with s.get(f"{url}/v1/plan", params=params) as r:
        its = (await r.json())["itineraries"]
    it = next(it for it in its if len([g for g in it["legs"] if g["trip_id"]]) == 1)
    h = {"Authorization": f"Bearer {token}"}
    async with s.post(f"{url}/v1/bookings", json={"itinerary_id": it["id"], "passengers": [
            {"name": "张三", "id_number": "11010519491231002X"}]},
            headers={**h, "Idempotency-Key": str(uuid.uuid4())}) as r:
        assert r.status == 201, await r.text()
        bid = (await r.json())["id"]
    async with s.post(f"{url}/v1/bookings/{bid}/confirm", json={"payment_ref": "p"}, headers=h) as r:
        assert r.status == 200, await r.text()
    return bid


async def run(a, url: str, db_url: str) -> None:
    from maas import auth
    from ticketing import store
    from ticketing.inventory import CapacityConfig
    from ticketing.offers import OfferLeg

    from maas.db import create_pool
    pool = await create_pool(db_url, min_size=8, max_size=8)
    owner = await pool.fetchval("SELECT operator_id FROM feeds WHERE name = $1", FEED)
    _, key = await auth.create_key(pool, "operator", operator=owner, name="bench")
    account, token = await auth.create_account(pool)
    day = str(datetime.now(SHANGHAI).date() + timedelta(days=1))
    origin, destination = _stops(a.data_dir)
    async with aiohttp.ClientSession() as s:
        templates = [await _book(s, url, token, {"from": origin, "to": destination, "date": day,
                                                 "time": t, "limit": "1"}) for t in ("08:00", "10:00")]
    legs = {}
    for bid in templates:
        rows = await pool.fetch("SELECT * FROM booking_legs WHERE booking_id = $1 ORDER BY leg_no", bid)
        legs[bid] = [store.NewLeg(**{f.name: (0 if f.name == "trip" else r[f.name]) for f in fields(OfferLeg)},
                                  unit_minor=r["unit_minor"], price_source=r["price_source"],
                                  price_minor=r["price_minor"]) for r in rows]
    hit_trip = legs[templates[0]][0].trip_id
    assert hit_trip != legs[templates[1]][0].trip_id, "the two templates ride the same trip"
    pax = [store.NewPassenger(0, "adult", "prc_id", "bench", b"x" * 40, b"x" * 40, "张*", "1***")]
    cap = CapacityConfig(default=10**6)
    now = lambda: datetime.now(timezone.utc)  # noqa: E731

    async def one(i: int) -> None:
        tpl = templates[0] if i < a.hit else templates[1]
        bid = store.new_booking_id()
        total = sum(g.price_minor for g in legs[tpl])
        await store.hold(pool, store.NewBooking(bid, account, "bench", {}, "CNY", total, legs[tpl], pax),
                         capacity=cap, ttl=timedelta(minutes=15), now=now)
        await store.confirm(pool, bid, account, "bench", now=now)

    t = time.perf_counter()
    for start in range(0, a.bookings, 64):
        await asyncio.gather(*(one(i) for i in range(start, min(a.bookings, start + 64))))
    print(f"seeded {a.bookings} confirmed bookings ({a.hit} on {hit_trip}) in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    hit = await pool.fetchval("SELECT count(DISTINCT booking_id) FROM booking_legs "
                              "WHERE trip_id = $1 AND status = 'confirmed'", hit_trip)

    from google.transit import gtfs_realtime_pb2 as rt
    e = rt.FeedEntity(id="bench-cancel")
    e.trip_update.trip.trip_id = hit_trip.removeprefix(FEED + ":")
    e.trip_update.trip.start_date = legs[templates[0]][0].service_date.strftime("%Y%m%d")
    e.trip_update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    sent = datetime.now(timezone.utc)
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{url}/v1/realtime", params={"feed": FEED}, data=_message([e]),
                          headers={"Authorization": f"Bearer {key}",
                                   "Content-Type": "application/x-protobuf"}) as r:
            assert r.status == 200, await r.text()
    deadline = time.monotonic() + 600
    while True:
        rows = await pool.fetch("SELECT occurred_at FROM booking_events WHERE event = 'disrupted'")
        if len(rows) >= hit or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    _report("update -> disrupted event", rows, sent, hit, a.workers)
    while True:
        rows = await pool.fetch("SELECT event, occurred_at FROM booking_events "
                                "WHERE event IN ('rebooked', 'rebook_failed')")
        if len(rows) >= hit or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    _report("update -> rebooked event", [r for r in rows if r["event"] == "rebooked"], sent, hit,
            a.workers)
    failed = [r for r in rows if r["event"] == "rebook_failed"]
    if failed:
        _report("update -> rebook_failed event", failed, sent, hit, a.workers)
    jobs = await pool.fetch("SELECT outcome, count(*) AS n FROM protection_jobs GROUP BY 1 ORDER BY 1")
    print("jobs by outcome:", {r["outcome"]: r["n"] for r in jobs})
    await pool.close()


def _report(what: str, rows, sent: datetime, hit: int, workers: int) -> None:
    xs = sorted((r["occurred_at"] - sent).total_seconds() for r in rows)
    if not xs:
        print(f"{what}: 0/{hit} bookings")
        return
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    print(f"{what}: {len(xs)}/{hit} bookings; p50 {statistics.median(xs):.2f} s, "
          f"p95 {p95:.2f} s, max {xs[-1]:.2f} s ({workers} workers)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bookings", type=int, default=10_000)
    ap.add_argument("--hit", type=int, default=500)
    a = ap.parse_args()
    data_dir = a.data_dir = Path(tempfile.mkdtemp(prefix="maas-prot-", dir="/tmp"))
    out = Path(tempfile.mkdtemp(prefix="prot-out-"))
    server = Server(["--workers", str(a.workers), "--port", "0", "--host", "127.0.0.1",
                     "--data-dir", str(data_dir), "--demo"],
                    server_environment({"MAAS_LOG_LEVEL": "WARNING",
                                        "MAAS_BOOKINGS__CAPACITY": json.dumps(
                                            {m: 100_000 for m in ("bus", "coach", "rail", "metro",
                                                                  "tram", "ferry", "air", "other")})}),
                    out / "server.log")
    handle = None
    try:
        url = server.wait_listening(600)
        from maas.embedded import start_postgres
        handle, db_url = start_postgres(data_dir / "postgres")
        asyncio.run(run(a, url, db_url))
    finally:
        server.stop()
        if handle is not None:
            handle.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"server log in {out}")


if __name__ == "__main__":
    main()
