"""Bookings speed: hold + confirm pairs per second and latency, with and without contention.

    .venv/bin/python benchmarks/bench_bookings.py [--seconds 8] [--concurrency 16]
                                                  [--pool 10] [--skip-http]

An embedded PostgreSQL in a temporary folder (migrated), the sample network
(ticketing/sample.py: city bus K5, rail G; 76 trips a day) and closed-loop workers, each
doing hold -> confirm -> next, for a fixed time per scenario:

  spread    every pair books a 2-leg bus+rail itinerary on a random trip pair and one of
            30 service dates: little lock contention (the common case).
  one trip  every pair books the same 2-leg itinerary (same bus and rail run, same day):
            every hold and confirm serialises on the same segment locks.

Each scenario runs twice: through the service layer (ticketing.service.Bookings: pure core +
store, as a handler calls it) and over HTTP (the real app, POST /v1/bookings with an
Idempotency-Key, then POST .../confirm; auth, idempotency row, JSON) served by aiohttp on a
loopback port with the client in the same process. Capacities are set far above the demand
so no request is refused. Everything (client, server, PostgreSQL) shares this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from maas import auth  # noqa: E402
from maas.services import booking_config  # noqa: E402
from maas.app import create_app  # noqa: E402
from maas.appkeys import LIVE  # noqa: E402
from maas.clock import SystemClock  # noqa: E402
from maas.db import create_pool, migrate  # noqa: E402
from maas.embedded import start_postgres, start_redis, stop_redis  # noqa: E402
from maas.live import Snapshot  # noqa: E402
from maas.settings import BookingSettings, DataKeys, Settings  # noqa: E402
from routing.itinerary import ItineraryKey  # noqa: E402
from ticketing.pii import Keyring  # noqa: E402
from ticketing.sample import itinerary_id, leg_key, sample_network  # noqa: E402
from ticketing.service import Bookings, PassengerInput  # noqa: E402

NET = sample_network()
LIVE_VERSIONS = dict(zip(NET.feeds, NET.feed_versions))
FIRST = date(2026, 12, 1)
BUS_TRIPS = [str(t) for t in NET.trip_id if str(t).startswith("bus:")]
RAIL_TRIPS = [str(t) for t in NET.trip_id if str(t).startswith("rail:")]
PEOPLE = [PassengerInput("张三", "11010519491231002X"), PassengerInput("李四", "440524188001010014")]
PEOPLE_JSON = [{"name": p.name, "id_number": p.id_number} for p in PEOPLE]


def legs(contended: bool, rng: random.Random) -> list:
    if contended:
        return [leg_key(NET, "bus:K5-0700", FIRST, 0, 4), leg_key(NET, "rail:G-0800", FIRST, 0, 3)]
    day = FIRST + timedelta(days=rng.randrange(30))
    return [leg_key(NET, rng.choice(BUS_TRIPS), day, 0, 4),
            leg_key(NET, rng.choice(RAIL_TRIPS), day, rng.randrange(2), 3)]


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs), p)) * 1000 if xs else float("nan")


async def closed_loop(seconds: float, workers: int, pair) -> dict:  # type: ignore[no-untyped-def]
    holds: list[float] = []
    confirms: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        rng = random.Random(i)
        while time.perf_counter() < stop:
            try:
                h, c = await pair(rng)
                holds.append(h)
                confirms.append(c)
            except Exception as exc:  # noqa: BLE001 — counted and shown
                errors.append(type(exc).__name__ + ": " + str(exc)[:120])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    elapsed = time.perf_counter() - t0
    pairs = [h + c for h, c in zip(holds, confirms)]
    return {"pairs": len(pairs), "per_s": len(pairs) / elapsed, "errors": len(errors),
            "first_error": errors[0] if errors else "",
            "hold_p50": pct(holds, 50), "hold_p95": pct(holds, 95),
            "confirm_p50": pct(confirms, 50), "confirm_p95": pct(confirms, 95),
            "pair_p50": pct(pairs, 50), "pair_p95": pct(pairs, 95)}


async def service_pairs(url: str, accounts: list[str], pool_size: int, contended: bool,
                        seconds: float, workers: int) -> dict:
    pool = await create_pool(url, min_size=pool_size, max_size=pool_size)
    keys = DataKeys.parse(DataKeys.generate_text("b1"))
    svc = Bookings(pool, booking_config(BookingSettings()), Keyring(keys.keys, keys.active),
                   SystemClock().now)

    async def pair(rng: random.Random) -> tuple[float, float]:
        account = rng.choice(accounts)
        key = ItineraryKey(tuple(LIVE_VERSIONS.items()), tuple(legs(contended, rng)))
        t0 = time.perf_counter()
        b = await svc.hold(account, "bench", key, NET, LIVE_VERSIONS, PEOPLE)
        t1 = time.perf_counter()
        await svc.confirm(account, b.id, "bench-pay")
        return t1 - t0, time.perf_counter() - t1

    try:
        return await closed_loop(seconds, workers, pair)
    finally:
        await pool.close()


async def http_pairs(settings: Settings, tokens: list[str], contended: bool, seconds: float,
                     workers: int) -> dict:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    app[LIVE].current = Snapshot(network=NET, versions=LIVE_VERSIONS, loaded=True)
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers))

    async def pair(rng: random.Random) -> tuple[float, float]:
        auth_h = {"Authorization": "Bearer " + rng.choice(tokens)}
        body = {"itinerary_id": itinerary_id(NET, legs(contended, rng)), "passengers": PEOPLE_JSON}
        t0 = time.perf_counter()
        async with session.post(base + "/v1/bookings", json=body,
                                headers={**auth_h, "Idempotency-Key": uuid.uuid4().hex}) as r:
            b = await r.json()
            if r.status != 201:
                raise RuntimeError(f"hold {r.status} {b.get('code')}")
        t1 = time.perf_counter()
        async with session.post(f"{base}/v1/bookings/{b['id']}/confirm",
                                json={"payment_ref": "bench"}, headers=auth_h) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"confirm {r.status}")
        return t1 - t0, time.perf_counter() - t1

    try:
        return await closed_loop(seconds, workers, pair)
    finally:
        await session.close()
        await runner.cleanup()


def row(name: str, r: dict) -> str:
    return (f"| {name} | {r['pairs']} | {r['per_s']:.0f} | {r['hold_p50']:.1f} / {r['hold_p95']:.1f}"
            f" | {r['confirm_p50']:.1f} / {r['confirm_p95']:.1f} | {r['pair_p50']:.1f} / "
            f"{r['pair_p95']:.1f} | {r['errors']} |")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--pool", type=int, default=10, help="PostgreSQL connections (db_pool_max)")
    ap.add_argument("--skip-http", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="maas-bench-bookings-"))
    pg, url = start_postgres(root / "pg")
    redis_proc, redis_url = start_redis(root / "redis")
    try:
        conn_pool = await create_pool(url, min_size=1, max_size=2)
        async with conn_pool.acquire() as conn:
            await migrate(conn)
        await conn_pool.execute(
            """INSERT INTO seat_capacity (scope, ref_id, feed, seats) VALUES
               ('route', 'bus:K5', 'bus', 1000000), ('route', 'rail:G', 'rail', 1000000)""")
        accounts = [await auth.create_account(conn_pool) for _ in range(50)]
        await conn_pool.close()
        print(f"cores: {os.cpu_count()}  seconds/scenario: {args.seconds}  "
              f"concurrency: {args.concurrency}  pool: {args.pool}")
        print("| scenario | pairs | pairs/s | hold p50 / p95 ms | confirm p50 / p95 ms "
              "| pair p50 / p95 ms | errors |")
        print("|---|---|---|---|---|---|---|")
        for contended, label in ((False, "spread"), (True, "one trip")):
            r = await service_pairs(url, [a for a, _ in accounts], args.pool, contended,
                                    args.seconds, args.concurrency)
            print(row(f"service, {label}", r), flush=True)
            if r["errors"]:
                print("   first error:", r["first_error"])
        if not args.skip_http:
            settings = Settings(database_url=url, redis_url=redis_url, data_dir=root / "data",
                                secret_keys=DataKeys.generate_text("b1"), db_pool_max=args.pool,
                                db_pool_min=args.pool, log_level="WARNING")
            for contended, label in ((False, "spread"), (True, "one trip")):
                r = await http_pairs(settings, [t for _, t in accounts], contended, args.seconds,
                                     args.concurrency)
                print(row(f"HTTP, {label}", r), flush=True)
                if r["errors"]:
                    print("   first error:", r["first_error"])
    finally:
        stop_redis(redis_proc)
        pg.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
