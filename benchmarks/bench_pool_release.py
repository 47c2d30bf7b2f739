"""Gate replays and token re-reads with maas/db.py's pool release and with asyncpg's own, in one
process, alternating.

The test app (real embedded PostgreSQL and Redis, as tests/conftest.py starts them) and its
client in one thread: 100 confirmed bookings, a token and an accept each, then 40 blocks of
their 100 replays and 100 token re-reads (one statement each), every other block with the
app's pool switched to asyncpg's `Pool` class (whose release runs the holder's in
`asyncio.shield`; the same object, the same connections: only `release` differs); thread CPU per
request (client + server) per block, medians and least of each way. Run with pytest:

    .venv/bin/python -m pytest benchmarks/bench_pool_release.py -q -s -p no:cacheprovider
"""
from __future__ import annotations

import statistics
import time
from datetime import timedelta

import asyncpg
import pytest

import maas.db
from maas.clock import FrozenClock
from tests.api.checkin_fixtures import T0, insert_booking
from tests.conftest import (aiohttp_client, app, client, database_url, db, make_account,  # noqa: F401
                            make_key, redis_url, services, settings)
from tests.conftest import bearer

BLOCKS, BOOKINGS = 40, 100


@pytest.fixture
def clock():
    return FrozenClock(T0 + timedelta(hours=1, minutes=35))   # the rail leg admits


async def test_requests_with_either_release(client, app, db, make_key, make_account):  # noqa: F811
    assert type(db) is maas.db._Pool
    acc, tok = await make_account()
    gate = bearer(await make_key("gate", gate="rail-1", station="crh:QDN"))
    bids, qrs = [], []
    for _ in range(BOOKINGS):
        bid = await insert_booking(db, acc, categories=("adult", "child"))
        r = await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))
        bids.append(bid)
        qrs.append((await r.json())["qr"])

    async def validate(qr: str) -> str:
        r = await client.post("/v1/gates/rail-1/validate", json={"qr": qr}, headers=gate)
        assert r.status == 200
        return (await r.json())["code"]

    async def token(bid: str) -> int:
        r = await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))
        await r.read()
        return r.status

    assert {await validate(q) for q in qrs} == {"ok"}
    ways = {"maas.db": maas.db._Pool, "asyncpg": asyncpg.Pool}
    got: dict[tuple[str, str], list[float]] = {
        (w, p): [] for w in ways for p in ("replay", "token")}
    for block in range(BLOCKS):
        for way in ("maas.db", "asyncpg") if block % 2 else ("asyncpg", "maas.db"):
            db.__class__ = ways[way]
            t0 = time.thread_time()
            codes = {await validate(q) for q in qrs}
            t1 = time.thread_time()
            statuses = {await token(b) for b in bids}
            t2 = time.thread_time()
            got[way, "replay"].append((t1 - t0) / len(qrs) * 1e6)
            got[way, "token"].append((t2 - t1) / len(bids) * 1e6)
            assert codes == {"already_used"} and statuses == {200}
    db.__class__ = maas.db._Pool
    for (way, phase), v in got.items():
        print(f"{phase:6s} {way:8s}: median {statistics.median(v):6.1f} us, least {min(v):6.1f} us "
              f"per request (client + server, thread CPU, {BLOCKS // 2} blocks of {BOOKINGS})")
    for phase in ("replay", "token"):
        pairs = [a / b for a, b in zip(got["maas.db", phase], got["asyncpg", phase])]
        print(f"{phase:6s} maas.db / asyncpg, block by block: "
              f"median {statistics.median(pairs):.1%}")
