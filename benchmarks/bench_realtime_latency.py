"""Update-to-visible latency: a GTFS-RT push through HTTP until plans on every worker show it.

Starts `maas serve --demo --workers N` on a fresh embedded data folder, plans one journey to
pick a trip, then per round pushes a DIFFERENTIAL message to `POST /v1/realtime` and polls
`GET /v1/plan` on fresh connections (SO_REUSEPORT spreads them over the workers) until
`--probes` plans in a row all reflect the update. Two kinds of update:

- alert: a new alert on the trip; visible when every itinerary riding it carries the alert
  (the path: commit, NOTIFY, each worker re-reads the feed's state, swaps its snapshot);
- cancel (when the planner has routing's realtime overlay): the trip cancelled; visible when
  no plan rides it any more (the same path plus `Planner.with_realtime`); then restored.

    .venv/bin/python benchmarks/bench_realtime_latency.py --workers 2 --rounds 20

Prints, per kind, the latency to the first plan that shows it and to "every worker shows it"
(p50 / p95 / max, ms). The server runs the code of the current directory.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, os.getcwd())   # the tree under test
import aiohttp
import asyncpg
from google.transit import gtfs_realtime_pb2 as rt

from loadtests.runner import SHANGHAI
from loadtests.server import Server, server_environment

FEED = "jinan-bus"


def _message(entities: list[rt.FeedEntity]) -> bytes:
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = rt.FeedHeader.DIFFERENTIAL
    msg.header.timestamp = int(time.time())
    for e in entities:
        msg.entity.add().CopyFrom(e)
    return msg.SerializeToString()


def alert_on(trip: str, eid: str) -> bytes:
    e = rt.FeedEntity(id=eid)
    e.alert.informed_entity.add().trip.trip_id = trip
    e.alert.header_text.translation.add(text=f"bench {eid}", language="en")
    return _message([e])


def cancel(trip: str, service_date: str, cancelled: bool) -> bytes:
    e = rt.FeedEntity(id=f"cancel-{trip}")
    if cancelled:
        e.trip_update.trip.trip_id = trip
        e.trip_update.trip.start_date = service_date.replace("-", "")
        e.trip_update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    else:
        e.is_deleted = True
    return _message([e])


async def _plan(url: str, params: dict) -> list[dict]:
    # a connection of its own per request, so the kernel may hand it to any worker
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        async with s.get(f"{url}/v1/plan", params=params) as r:
            return (await r.json())["itineraries"]


async def _visible(url: str, params: dict, shows, probes: int, timeout: float = 30.0) -> tuple[float, float]:
    """(perf_counter when the first plan showing it came back, perf_counter when the first of
    `probes` plans in a row that all show it was sent)."""
    t0, first, streak = time.perf_counter(), None, None
    row = 0
    while time.perf_counter() - t0 < timeout:
        sent = time.perf_counter()
        ok = shows(await _plan(url, params))
        if ok:
            first = time.perf_counter() if first is None else first
            streak = sent if row == 0 else streak
            row += 1
            if row >= probes:
                return first, streak
        else:
            row = 0
    raise TimeoutError("the update never became visible")


async def _push(session: aiohttp.ClientSession, url: str, key: str, body: bytes) -> float:
    t = time.perf_counter()
    async with session.post(f"{url}/v1/realtime", params={"feed": FEED}, data=body,
                            headers={"Authorization": f"Bearer {key}",
                                     "Content-Type": "application/x-protobuf"}) as r:
        got = await r.json()
        assert r.status == 200 and got["applied"] + got["removed"] >= 1, got
    return t


def _stats(name: str, xs: list[float]) -> str:
    xs = sorted(x * 1000 for x in xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return f"{name}: p50 {statistics.median(xs):.0f} ms, p95 {p95:.0f} ms, max {xs[-1]:.0f} ms (n={len(xs)})"


def _stops(data_dir: Path) -> tuple[str, str]:
    """The 1st and 6th stop of the demo jinan-bus feed's first trip."""
    import csv
    import io
    import zipfile

    path = next((data_dir / "demo-feeds").glob(f"*{FEED}*.zip"))
    with zipfile.ZipFile(path) as z:
        rows = list(csv.DictReader(io.TextIOWrapper(z.open("stop_times.txt"), "utf-8-sig")))
    first = [r for r in rows if r["trip_id"] == rows[0]["trip_id"]]
    first.sort(key=lambda r: int(r["stop_sequence"]))
    return f"{FEED}:{first[0]['stop_id']}", f"{FEED}:{first[min(5, len(first) - 1)]['stop_id']}"


async def run(a, url: str, db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        from maas import auth
        owner = await conn.fetchval("SELECT operator_id FROM feeds WHERE name = $1", FEED)
        _, key = await auth.create_key(conn, "operator", operator=owner, name="bench")
    finally:
        await conn.close()
    day = str(datetime.now(SHANGHAI).date() + timedelta(days=1))
    origin, destination = _stops(a.data_dir)
    params = {"from": origin, "to": destination, "date": day, "time": "08:00", "limit": "3"}
    its = await _plan(url, params)
    leg = next(leg for it in its for leg in it["legs"] if leg["trip_id"])
    trip, service_date = leg["trip_id"], leg["service_date"]
    raw = trip.removeprefix(FEED + ":")
    print(f"trip {trip} on {service_date}; {a.workers} workers; {a.probes} plans in a row", flush=True)
    first: dict[str, list[float]] = {"alert": [], "cancel": []}
    every: dict[str, list[float]] = {"alert": [], "cancel": []}
    overlay = True
    async with aiohttp.ClientSession() as s:
        for i in range(a.rounds):
            eid = f"bench-{i}"
            t = await _push(s, url, key, alert_on(raw, eid))
            f, e = await _visible(url, params, lambda its: any(
                any(al["id"] == f"{FEED}:{eid}" for al in it["alerts"]) for it in its), a.probes)
            first["alert"].append(f - t)
            every["alert"].append(max(0.0, e - t))
            if not overlay:
                continue
            t = await _push(s, url, key, cancel(raw, service_date, True))
            try:
                f, e = await _visible(url, params, lambda its: all(
                    leg["trip_id"] != trip for it in its for leg in it["legs"]), a.probes, timeout=10)
            except TimeoutError:
                overlay = False
                print("cancellations are not visible in plans (no realtime overlay in this tree)")
                continue
            first["cancel"].append(f - t)
            every["cancel"].append(max(0.0, e - t))
            await _push(s, url, key, cancel(raw, service_date, False))
            await _visible(url, params, lambda its: any(
                leg["trip_id"] == trip for it in its for leg in it["legs"]), a.probes)
        async with s.get(f"{url}/metrics") as r:
            lag = [line for line in (await r.text()).splitlines() if line.startswith("maas_realtime_lag")]
        print("metrics:", "; ".join(lag) or "no maas_realtime_lag_seconds line")
    for kind in ("alert", "cancel"):
        if first[kind]:
            print(_stats(f"{kind}: push sent -> first plan showing it", first[kind]))
            print(_stats(f"{kind}: push sent -> {a.probes} plans in a row show it", every[kind]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--probes", type=int, default=8, help="plans in a row that must show it")
    a = ap.parse_args()
    data_dir = a.data_dir = Path(tempfile.mkdtemp(prefix="maas-rt-", dir="/tmp"))
    out = Path(tempfile.mkdtemp(prefix="rt-out-"))
    server = Server(["--workers", str(a.workers), "--port", "0", "--host", "127.0.0.1",
                     "--data-dir", str(data_dir), "--demo"],
                    server_environment({"MAAS_LOG_LEVEL": "WARNING"}), out / "server.log")
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
