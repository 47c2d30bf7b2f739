"""Hold, confirm and cancel with maas/db.py's pool release and with asyncpg's own, one
booking each in turn.

    .venv/bin/python benchmarks/bench_pool_book.py [--n 300]

An embedded PostgreSQL in a temporary folder (migrated), the sample network, one pooled
connection (`maas.db.create_pool`, max_size 1); bench_confirm_ways.py's two-leg,
two-passenger holds spread over trips and days, each confirmed and cancelled (the service's
own paths, every step with an Idempotency-Key), every other booking with the pool switched to
asyncpg's `Pool` class (the same object and connection: only `release` differs). Prints CPU
per step (medians) of the PostgreSQL backend (its /proc schedstat) and of this thread (the
client: the service's Python, asyncpg), each way apart, the first 40 bookings left out.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from statistics import median
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import asyncpg  # noqa: E402

import maas.db  # noqa: E402
from bench_bookings import LIVE_VERSIONS, NET, PEOPLE, legs  # noqa: E402
from bench_confirm_ways import CLOCK, WARM, backend_cpu_s  # noqa: E402
from maas import auth  # noqa: E402
from maas.db import create_pool, migrate  # noqa: E402
from maas.embedded import start_postgres  # noqa: E402
from maas.services import booking_config  # noqa: E402
from maas.settings import BookingSettings, DataKeys  # noqa: E402
from routing.itinerary import ItineraryKey  # noqa: E402
from ticketing import store  # noqa: E402
from ticketing.pii import Keyring  # noqa: E402
from ticketing.service import Bookings  # noqa: E402

WAYS = {"maas.db": maas.db._Pool, "asyncpg": asyncpg.Pool}
STEPS = ("hold", "confirm", "cancel")


async def run(url: str, n: int) -> None:
    pool = await create_pool(url, min_size=1, max_size=1)
    assert type(pool) is maas.db._Pool
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        account, _ = await auth.create_account(pool)
        cfg = booking_config(BookingSettings())
        keys = DataKeys.parse(DataKeys.generate_text("b1"))
        svc = Bookings(pool, cfg, Keyring(keys.keys, keys.active), CLOCK.now)
        backend = await pool.fetchval("SELECT pg_backend_pid()")
        rng = random.Random(1)
        spent: dict[tuple[str, str], tuple[list[float], list[float]]] = {
            (w, s): ([], []) for w in WAYS for s in STEPS}
        scope = "account:" + account

        def idem(step: str, i: int) -> store.Idempotent:
            return store.Idempotent(scope, f"{step}{i}", b"h" * 32, lambda v: b"x" * 2800)

        for i in range(2 * n + WARM):
            way = ("maas.db", "asyncpg")[i % 2]
            pool.__class__ = WAYS[way]
            key = ItineraryKey(tuple(LIVE_VERSIONS.items()), tuple(legs(False, rng)))
            marks = [(backend_cpu_s(backend), time.thread_time())]
            b = await svc.hold(account, "bench", key, NET, LIVE_VERSIONS, PEOPLE)
            marks.append((backend_cpu_s(backend), time.thread_time()))
            await svc.confirm(account, b.id, "pay", idempotent=idem("c", i))
            marks.append((backend_cpu_s(backend), time.thread_time()))
            await svc.cancel(account, b.id, idempotent=idem("x", i))
            marks.append((backend_cpu_s(backend), time.thread_time()))
            if i >= WARM:
                for step, (a, z) in zip(STEPS, zip(marks, marks[1:])):
                    spent[way, step][0].append(z[0] - a[0])
                    spent[way, step][1].append(z[1] - a[1])
        med = {k: (median(pg) * 1e6, median(me) * 1e6) for k, (pg, me) in spent.items()}
        for (way, step), (pg, me) in med.items():
            print(f"{step:8s} {way:8s} median PostgreSQL {pg:5.0f} us, client {me:5.0f} us")
        for step in STEPS:
            new, old = med["maas.db", step], med["asyncpg", step]
            print(f"{step:8s} maas.db / asyncpg (medians): client {new[1] / old[1]:.1%}, "
                  f"PostgreSQL {new[0] / old[0]:.1%}")
    finally:
        pool.__class__ = maas.db._Pool
        await pool.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300, help="bookings each way")
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="maas-bench-poolbook-", dir="/tmp"))
    pg, url = start_postgres(root / "pg")
    try:
        asyncio.run(run(url, a.n))
    finally:
        pg.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
