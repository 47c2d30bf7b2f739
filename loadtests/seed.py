"""Prepare a running maas for a load run, through its own API (and SQL only for API keys).

- stops and their names from the active feeds' archives (PostgreSQL: feed_versions);
- origin/destination pairs that `GET /v1/plan` answers with itineraries;
- passenger accounts (`POST /v1/accounts`);
- a "hot" trip whose capacity the operator lowers (`PUT /v1/feeds/{feed}/capacity`) so
  that passengers really compete for its last seats (409 sold out is then expected);
- a pool of confirmed bookings (`POST /v1/bookings` + confirm), one gate entry each, for
  the Gate users to check in; gate keys (2 per boarding station) and an operator key.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from loadtests.payloads import prc_id
from maas import auth

__all__ = ["SeedPlan", "seed", "boarding_stops"]


@dataclass
class SeedPlan:
    plan_date: date
    plan_hours: tuple[int, int] = (7, 19)
    pool: int = 300               # gate entries (legs of confirmed bookings) for the gates
    min_bookings: int = 0         # at least this many bookings (legs of one are entered a step apart)
    per_itinerary: int = 20       # bookings of one itinerary at most (capacity stays free)
    pairs: int = 120              # planned origin/destination pairs for passengers
    accounts: int = 20
    hot_seats: int = 2            # seats left on the hot trip
    concurrency: int = 24
    operator_feed: str | None = None   # feed the Operator republishes: None (biggest bus), "smallest", a name
    seed: int = 7
    log: Any = print
    stats: dict[str, Any] = field(default_factory=dict)


def _rows(z: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    member = next((n for n in z.namelist() if n.rsplit("/", 1)[-1] == name), None)
    if member is None:
        return []
    text = z.read(member).decode("utf-8-sig", errors="replace")
    return list(csv.DictReader(io.StringIO(text)))


def boarding_stops(feed: str, archive: bytes) -> list[dict[str, str]]:
    """Stops of a GTFS zip where one can board (location_type empty or 0), ids namespaced."""
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        rows = _rows(z, "stops.txt")
    return [{"id": f"{feed}:{r['stop_id']}", "name": r.get("stop_name", ""), "feed": feed}
            for r in rows if (r.get("location_type") or "0").strip() in ("", "0")]


def _transit(itinerary: dict[str, Any]) -> list[dict[str, Any]]:
    return [leg for leg in itinerary.get("legs", []) if leg.get("mode") != "walk"]


def _stop_id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


class _Api:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.s = session
        self.base = base

    async def call(self, method: str, path: str, *, token: str | None = None,
                   idem: bool = False, **kw: Any) -> tuple[int, Any]:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if idem:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        async with self.s.request(method, self.base + path, headers=headers, **kw) as r:
            try:
                body = await r.json(content_type=None)
            except Exception:  # noqa: BLE001
                body = await r.text()
            return r.status, body


async def _gather_limited(n: int, coros: list[Any]) -> list[Any]:
    sem = asyncio.Semaphore(n)

    async def run(c: Any) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(run(c) for c in coros))


async def seed(base_url: str, db_url: str, plan: SeedPlan, out_dir: Path) -> dict[str, Any]:
    """Everything the locustfile needs, as a JSON-able dict (secrets of a throwaway server)."""
    rng = random.Random(plan.seed)
    conn = await asyncpg.connect(db_url)
    try:
        feeds = await conn.fetch(
            """SELECT v.feed, v.id, f.operator_id, v.archive, length(v.archive) AS size
               FROM feed_versions v JOIN feeds f ON f.name = v.feed
               WHERE v.status = 'active' ORDER BY v.feed""")
        if not feeds:
            raise RuntimeError("no active feed: was maas started with --demo?")
        stops = [s for f in feeds if f["archive"] for s in boarding_stops(f["feed"], f["archive"])]
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            api = _Api(session, base_url)
            out = await _seed_api(api, conn, feeds, stops, plan, rng, out_dir)
    finally:
        await conn.close()
    return out


async def _plan(api: _Api, plan: SeedPlan, pair: tuple[str, str], hhmm: str) -> list[dict[str, Any]]:
    status, body = await api.call("GET", "/v1/plan", params={
        "from": pair[0], "to": pair[1], "date": plan.plan_date.isoformat(), "time": hhmm})
    if status != 200 or not isinstance(body, dict):
        plan.stats.setdefault("plan_errors", []).append([status, str(body)[:200]])
        return []
    return [it for it in body.get("itineraries", []) if it.get("id") and _transit(it)]


def _random_pairs(stops: list[dict[str, str]], n: int, rng: random.Random) -> list[tuple[str, str]]:
    by_feed: dict[str, list[dict[str, str]]] = {}
    for s in stops:
        by_feed.setdefault(s["feed"], []).append(s)
    pairs = []
    for i in range(n):
        if i % 3 == 2:   # across feeds: bus -> rail -> air, coach, ...
            a, b = rng.sample(stops, 2)
        else:            # within one operator's network (city bus mostly)
            feed = rng.choice([f for f, ss in by_feed.items() if len(ss) > 1])
            a, b = rng.sample(by_feed[feed], 2)
        pairs.append((a["id"], b["id"]))
    return pairs


def _hhmm(rng: random.Random, hours: tuple[int, int]) -> str:
    m = rng.randint(hours[0] * 60, hours[1] * 60 - 1)
    return f"{m // 60:02d}:{m % 60:02d}"


async def _seed_api(api: _Api, conn: asyncpg.Connection, feeds: list[asyncpg.Record],
                    stops: list[dict[str, str]], plan: SeedPlan, rng: random.Random,
                    out_dir: Path) -> dict[str, Any]:
    log = plan.log
    # 1. origin/destination pairs with itineraries (and itineraries to book for the pool)
    pairs: list[list[str]] = []
    itineraries: list[tuple[dict[str, Any], str]] = []
    tries = 0
    while len(pairs) < plan.pairs and tries < plan.pairs * 6:
        batch = _random_pairs(stops, min(60, plan.pairs * 2), rng)
        times = [_hhmm(rng, plan.plan_hours) for _ in batch]
        tries += len(batch)
        found = await _gather_limited(plan.concurrency, [_plan(api, plan, p, t) for p, t in zip(batch, times)])
        for p, t, its in zip(batch, times, found):
            if its:
                pairs.append(list(p))
                itineraries.extend((it, t) for it in its)
    if not pairs:
        raise RuntimeError(f"no planned pair had an itinerary after {tries} tries: {plan.stats.get('plan_errors', [])[:3]}")
    log(f"seed: {len(pairs)} planned pairs with itineraries ({tries} tried, {len(itineraries)} itineraries)")

    # 2. accounts
    accounts = []
    for _ in range(plan.accounts):
        status, body = await api.call("POST", "/v1/accounts")
        if status != 201:
            raise RuntimeError(f"POST /v1/accounts -> {status} {body}")
        accounts.append(body["token"])

    # 3. operator keys (one per operator with an active feed)
    operator_keys = {}
    for f in feeds:
        if f["operator_id"] not in operator_keys:
            _, secret = await auth.create_key(conn, "operator", operator=f["operator_id"], name="load test")
            operator_keys[f["operator_id"]] = secret
    owner = {f["feed"]: f["operator_id"] for f in feeds}

    # 4. the hot trip: one single-leg itinerary whose trip keeps only a few seats
    hot_pairs: list[list[str]] = []
    hot_trip = None
    for it, hhmm in itineraries:
        legs = _transit(it)
        if len(legs) == 1 and legs[0].get("trip_id") and legs[0].get("feed") in owner:
            leg = legs[0]
            feed = leg["feed"]
            status, body = await api.call(
                "PUT", f"/v1/feeds/{feed}/capacity", token=operator_keys[owner[feed]],
                json={"trip_id": leg["trip_id"], "seats": plan.hot_seats})
            if status in (200, 201, 204):
                hot_trip = leg["trip_id"]
                hot_pairs.append([_stop_id(leg.get("from")) or "", _stop_id(leg.get("to")) or "", hhmm])
                log(f"seed: hot trip {hot_trip} now has {plan.hot_seats} seats ({feed})")
            else:
                log(f"seed: could not lower a trip's capacity (PUT /v1/feeds/{feed}/capacity -> {status} "
                    f"{str(body)[:200]}); running without a hot trip")
            break

    # 5. the gate pool: confirmed bookings, one gate entry each
    pool = await _book_pool(api, plan, rng, accounts, [
        (it, t) for it, t in itineraries if not any(leg.get("trip_id") == hot_trip for leg in _transit(it))],
        pairs)
    log(f"seed: {len(pool)} confirmed bookings with {sum(len(e['legs']) for e in pool)} legs for the gates")

    # 6. gate keys: two gates at every boarding station of the pool
    stations = sorted({st for e in pool for _, st in e["legs"]})
    gates: dict[str, list[list[str]]] = {}
    for n, st in enumerate(stations):
        gates[st] = []
        for side in ("a", "b"):
            gate_id = f"load-{n}-{side}"
            _, secret = await auth.create_key(conn, "gate", gate=gate_id, station=st, name="load test")
            gates[st].append([gate_id, secret])

    # 7. the operator's feed to republish: the biggest city bus feed (the usual and the
    # heaviest case), the smallest feed ("smallest": quick, for smoke runs), or a named one
    buses = [f for f in feeds if f["feed"].endswith("-bus")] or list(feeds)
    if plan.operator_feed == "smallest":
        chosen = min(feeds, key=lambda f: f["size"] or 0)
    else:
        chosen = next((f for f in feeds if f["feed"] == plan.operator_feed), None) \
            or max(buses, key=lambda f: f["size"] or 0)
    zip_path = out_dir / f"republish-{chosen['feed']}.zip"
    zip_path.write_bytes(chosen["archive"])

    names = sorted({s["name"] for s in stops if s["name"]})
    queries = sorted({n[:k] for n in rng.sample(names, min(40, len(names))) for k in (1, 2, 4) if n[:k]})
    queries += ["Jinan", "qingdao", "jinanxi", "Airport", "West", "机场", "站"]
    return {
        "plan_date": plan.plan_date.isoformat(),
        "plan_hours": list(plan.plan_hours),
        "plan_pairs": pairs,
        "hot_pairs": hot_pairs,
        "hot_trip": hot_trip,
        "stop_queries": queries,
        "pool": pool,
        "gates": gates,
        "gate_stations": stations,
        "operator": {"feed": chosen["feed"], "operator_id": chosen["operator_id"],
                     "key": operator_keys[chosen["operator_id"]], "zip": str(zip_path)},
        "stats": plan.stats,
    }


async def _book_pool(api: _Api, plan: SeedPlan, rng: random.Random, accounts: list[str],
                     itineraries: list[tuple[dict[str, Any], str]], pairs: list[list[str]]) -> list[dict[str, Any]]:
    pool: list[dict[str, Any]] = []
    errors: list[str] = []
    queue: list[tuple[dict[str, Any], int]] = []
    for it, _ in itineraries:
        queue.extend((it, k) for k in range(plan.per_itinerary))
    rng.shuffle(queue)
    # journeys with more legs first: more gate entries per booking made
    queue.sort(key=lambda q: -len(_transit(q[0])))
    sold_out: set[str] = set()
    counted = [0]   # gate entries (booking legs) in the pool

    def _enough() -> bool:
        return counted[0] >= plan.pool and len(pool) >= plan.min_bookings

    async def one(it: dict[str, Any], k: int) -> None:
        if _enough() or it["id"] in sold_out:
            return
        token = accounts[(len(pool) + k) % len(accounts)]
        body = {"itinerary_id": it["id"],
                "passengers": [{"name": "王伟", "id_number": prc_id(rng), "category": "adult"}]}
        status, held = await api.call("POST", "/v1/bookings", token=token, idem=True, json=body)
        if status in (409, 410):
            sold_out.add(it["id"])
            return
        if status != 201 or not isinstance(held, dict):
            errors.append(f"POST /v1/bookings -> {status} {str(held)[:300]}")
            return
        status, done = await api.call("POST", f"/v1/bookings/{held['id']}/confirm", token=token,
                                      idem=True, json={"payment_ref": "load-seed"})
        if status != 200 or not isinstance(done, dict) or done.get("status") != "confirmed":
            errors.append(f"POST /v1/bookings/{{id}}/confirm -> {status} {str(done)[:300]}")
            return
        legs = _booked_legs(done)
        if not legs:
            errors.append(f"no legs in booking {held['id']}: {str(done)[:300]}")
            return
        pool.append({"booking": held["id"], "legs": [list(x) for x in legs],
                     "boards": sorted({s for _, s in legs}), "token": token})
        counted[0] += len(legs)

    for start in range(0, len(queue), 200):
        if _enough():
            break
        await _gather_limited(plan.concurrency, [one(it, k) for it, k in queue[start:start + 200]])
        if len(errors) > 20:
            break
    if errors:
        plan.stats["pool_errors"] = errors[:20]
        if not pool:
            raise RuntimeError("could not pre-book any booking for the gates: " + "; ".join(errors[:3]))
    return pool


def _booked_legs(booking: dict[str, Any]) -> list[tuple[int, str]]:
    """(leg number, boarding stop) of each confirmed leg of a booking (BookingOut.legs)."""
    return [(int(leg["leg"]), leg["from_stop"]) for leg in booking.get("legs", [])
            if leg.get("status") == "confirmed" and leg.get("from_stop")]
