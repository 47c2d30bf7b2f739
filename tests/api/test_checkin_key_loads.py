"""A worker's first tokens and scans arrive together while its key cache is cold: one of them
reads the keys on a pooled connection, the others wait for that read holding none (each used
to hold one, and the pool opened new connections for them: a backend's start and warm-up each,
maas/db.py)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from maas.api.checkin import checkin_state
from maas.clock import FrozenClock
from tests.api.checkin_fixtures import T0, insert_booking
from tests.conftest import bearer

NOW = T0 + timedelta(hours=1, minutes=35)   # the rail leg admits at crh:QDN
TOGETHER = 6


@pytest.fixture
def clock():
    return FrozenClock(NOW)


class _HeldCount:
    """The real pool, counting the connections its users hold at once."""

    def __init__(self, pool):
        self.pool, self.held, self.most = pool, 0, 0

    @asynccontextmanager
    async def acquire(self):
        async with self.pool.acquire() as conn:
            self.held += 1
            self.most = max(self.most, self.held)
            try:
                yield conn
            finally:
                self.held -= 1


async def test_first_tokens_and_scans_hold_one_connection_for_the_keys(client, app, db,
                                                                       make_account, make_key):
    svc = checkin_state(app)
    pool = svc.pool = _HeldCount(db)
    acc, tok = await make_account()
    bids = [await insert_booking(db, acc) for _ in range(TOGETHER)]
    got = await asyncio.gather(*(client.get(f"/v1/bookings/{b}/token", headers=bearer(tok))
                                 for b in bids))
    assert [r.status for r in got] == [200] * TOGETHER
    # the token reads (one batch, or a lone read and a batch) and the signer's one read
    assert pool.most <= 2
    qrs = [(await r.json())["qr"] for r in got]
    gate = bearer(await make_key("gate", gate="rail-1", station="crh:QDN"))
    pool.most = 0
    got = await asyncio.gather(*(client.post("/v1/gates/rail-1/validate", json={"qr": q},
                                             headers=gate) for q in qrs))
    assert [(await r.json())["code"] for r in got] == ["ok"] * TOGETHER
    # the verification keys' one read, then the accepts (their statements, the station's
    # secrets): never a connection per scan waiting for the keys
    assert pool.most <= 3
