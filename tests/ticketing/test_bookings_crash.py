"""A process killed between hold and confirm: nothing is ever half-written, and after the
restart each hold either confirms or expires.

A child process holds and confirms bookings in a loop on real PostgreSQL and is SIGKILLed
at an arbitrary moment (possibly inside a transaction); the parent then checks every
booking is whole, confirms a surviving hold, and lets the others expire.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from maas import auth
from maas.clock import FrozenClock
from maas.db import create_pool
from ticketing import store
from ticketing.errors import HoldExpired
from ticketing.pii import Keyring
from tests.polling import eventually
from tests.ticketing.test_bookings_store import CONFIG, DAY, LIVE, NET, T0

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import asyncio, sys
from maas.clock import FrozenClock
from maas.db import create_pool
from routing.itinerary import ItineraryKey
from ticketing.pii import Keyring
from ticketing.sample import leg_key
from ticketing.service import Bookings, PassengerInput
from tests.ticketing.test_bookings_store import CONFIG, DAY, LIVE, NET, T0

async def main(url, account):
    pool = await create_pool(url, min_size=1, max_size=2)
    svc = Bookings(pool, CONFIG, Keyring({"k1": bytes(32)}, "k1"), FrozenClock(T0).now)  # the test clock: DAY stays in the future
    key = ItineraryKey(tuple(LIVE.items()), (leg_key(NET, "bus:K5-0700", DAY, 0, 4),
                                            leg_key(NET, "rail:G-0800", DAY, 0, 3)))
    people = [PassengerInput("张三", "11010519491231002X"), PassengerInput("李四", "440524188001010014")]
    i = 0
    while True:
        b = await svc.hold(account, "itin", key, NET, LIVE, people)
        print("held", b.id, flush=True)
        if i % 2:
            await svc.confirm(account, b.id, "pay")
            print("confirmed", b.id, flush=True)
        i += 1

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


CHILD_NAME = "maas-crash-child"


async def _child_gone(pool) -> bool:
    return await pool.fetchval("SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = $1",
                               CHILD_NAME)


async def _read_lines(proc: subprocess.Popen, n: int) -> list[str]:
    lines = []
    loop = asyncio.get_running_loop()
    while len(lines) < n:
        line = await loop.run_in_executor(None, proc.stdout.readline)
        if not line:
            raise AssertionError("child died: " + proc.stderr.read())
        lines.append(line.split()[0])
    return lines


async def _check_whole(pool) -> dict[str, str]:
    """Every booking is complete for its state; returns id -> status."""
    states = {}
    for b in await pool.fetch("SELECT id, status FROM bookings"):
        legs = await pool.fetch("SELECT status FROM booking_legs WHERE booking_id=$1", b["id"])
        pax = await pool.fetchval("SELECT count(*) FROM booking_passengers WHERE booking_id=$1",
                                  b["id"])
        tickets = await pool.fetchval("SELECT count(*) FROM tickets WHERE booking_id=$1", b["id"])
        events = [r["event"] for r in await pool.fetch(
            "SELECT event FROM booking_events WHERE booking_id=$1 ORDER BY id", b["id"])]
        assert len(legs) == 2 and pax == 2
        if b["status"] == "held":
            assert {r["status"] for r in legs} == {"held"} and tickets == 0 and events == ["hold"]
        else:
            assert b["status"] == "confirmed"
            assert {r["status"] for r in legs} == {"confirmed"} and tickets == 4
            assert events == ["hold", "confirm"]
        states[b["id"]] = b["status"]
    return states


@pytest.mark.parametrize("round_", range(3))
async def test_killed_between_hold_and_confirm(database_url, round_):
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        account, _ = await auth.create_account(pool)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child_url = database_url + f"&application_name={CHILD_NAME}"
        proc = subprocess.Popen([sys.executable, "-c", CHILD, child_url, account], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            await _read_lines(proc, 8 + round_ * 3)
            await asyncio.sleep(random.uniform(0, 0.05))     # somewhere inside the loop
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
            proc.stderr.close()
        # PostgreSQL notices the dropped connections and rolls back what was in flight
        await eventually(lambda: _child_gone(pool), message="the child's sessions ended")
        states = await _check_whole(pool)
        held = [b for b, s in states.items() if s == "held"]
        confirmed = [b for b, s in states.items() if s == "confirmed"]
        assert len(held) >= 2 and confirmed    # b0, b2, b4 were never confirmed

        # "restart": a fresh service over the same database
        from ticketing.service import Bookings
        clock = FrozenClock(T0)
        svc = Bookings(pool, CONFIG, Keyring({"k1": bytes(32)}, "k1"), clock.now)
        assert (await svc.confirm(account, held[0], "pay-after-restart")).status == "confirmed"
        clock.advance(seconds=CONFIG.hold_ttl.total_seconds() + 1)
        with pytest.raises(HoldExpired):
            await svc.confirm(account, held[-1], "too-late")
        await svc.sweep()
        final = await pool.fetch("SELECT status, count(*) AS n FROM bookings GROUP BY status")
        counts = {r["status"]: r["n"] for r in final}
        assert counts.get("held", 0) == 0
        assert counts["confirmed"] == len(confirmed) + 1
        assert counts.get("expired", 0) == len(held) - 1
        taken = await store.occupancy(pool, [("rail:G-0800", DAY, 0)], clock.now())
        assert taken[("rail:G-0800", DAY, 0)] == 2 * counts["confirmed"]
    finally:
        await pool.close()

