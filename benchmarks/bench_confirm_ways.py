"""Confirm the locking way against the two-round-trip way, one booking each in turn.

    .venv/bin/python benchmarks/bench_confirm_ways.py [--n 300]

An embedded PostgreSQL in a temporary folder (migrated), the sample network
(ticketing/sample.py), one pooled connection: 2n + 40 two-leg, two-passenger holds (spread
over trips and days, as bench_bookings.py's "spread"), then every hold confirmed with an
Idempotency-Key (a 2.8 KB stored response), alternately the locking way (BEGIN,
maas_booking_for_write, the write, COMMIT: `store.confirm` without `capacity`) and the two
round trips (maas_booking_current, then maas_confirm_rows). Prints CPU per confirm of the
PostgreSQL backend (its /proc schedstat) and of this thread (the client: the store's Python,
asyncpg), each way apart, the first 40 confirms left out.

    .venv/bin/python benchmarks/bench_confirm_ways.py --memo [--n 300]

The worker's way instead (`Bookings.confirm`, then `Bookings.cancel`, each with its key):
alternately from the worker's memory of the booking it held and confirmed (`store.Memo`: the
write alone) and with that memory dropped first (the read, then the write).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_bookings import LIVE_VERSIONS, NET, PEOPLE, legs  # noqa: E402
from maas import auth  # noqa: E402
from maas.clock import FrozenClock  # noqa: E402
from maas.db import create_pool, migrate  # noqa: E402
from maas.embedded import start_postgres  # noqa: E402
from maas.services import booking_config  # noqa: E402
from maas.settings import BookingSettings, DataKeys  # noqa: E402
from routing.itinerary import ItineraryKey  # noqa: E402
from ticketing import store  # noqa: E402
from ticketing.bookings import Status  # noqa: E402
from ticketing.pii import Keyring  # noqa: E402
from ticketing.service import Bookings  # noqa: E402

CLOCK = FrozenClock(datetime(2026, 11, 28, 8, tzinfo=timezone.utc))  # before every sample trip
WARM = 40


def backend_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


async def run(url: str, n: int, memo: bool) -> None:
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        account, _ = await auth.create_account(pool)
        cfg = booking_config(BookingSettings())
        keys = DataKeys.parse(DataKeys.generate_text("b1"))
        svc = Bookings(pool, cfg, Keyring(keys.keys, keys.active), CLOCK.now)
        backend = await pool.fetchval("SELECT pg_backend_pid()")
        rng = random.Random(1)
        ids = []
        for _ in range(2 * n + WARM):
            key = ItineraryKey(tuple(LIVE_VERSIONS.items()), tuple(legs(False, rng)))
            ids.append((await svc.hold(account, "bench", key, NET, LIVE_VERSIONS, PEOPLE)).id)
        ways = (("from memory", "read first") if memo else ("locking way", "two round trips"))
        ops = ("confirm", "cancel") if memo else ("confirm",)
        spent = {(way, op): [0.0, 0.0] for way in ways for op in ops}
        for i, booking in enumerate(ids):
            way = ways[i % 2]
            for op in ops:
                idem = store.Idempotent("account:" + account, f"{op}{i}", b"h" * 32,
                                        lambda v: b"x" * 2800)
                if way == "read first":     # forgotten: the read goes first
                    svc.batches.memo.take(booking, account, Status.HELD if op == "confirm"
                                          else Status.CONFIRMED)
                pg0, me0 = backend_cpu_s(backend), time.thread_time()
                if not memo:
                    await store.confirm(pool, booking, account, "pay", now=CLOCK.now,
                                        idempotent=idem, capacity=cfg.capacity
                                        if way == "two round trips" else None)
                elif op == "confirm":
                    await svc.confirm(account, booking, "pay", idempotent=idem)
                else:
                    await svc.cancel(account, booking, idempotent=idem)
                pg1, me1 = backend_cpu_s(backend), time.thread_time()
                if i >= WARM:
                    spent[way, op][0] += pg1 - pg0
                    spent[way, op][1] += me1 - me0
        for (way, op), (pg, me) in spent.items():
            print(f"{way:16s} PostgreSQL {pg / n * 1e6:5.0f} us, client {me / n * 1e6:5.0f} us "
                  f"per {op}")
    finally:
        await pool.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300, help="confirms each way")
    ap.add_argument("--memo", action="store_true",
                    help="confirm and cancel from the worker's memory against read first")
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="maas-bench-confirm-", dir="/tmp"))
    pg, url = start_postgres(root / "pg")
    try:
        asyncio.run(run(url, a.n, a.memo))
    finally:
        pg.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
