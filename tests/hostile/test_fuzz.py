"""Schemathesis over /openapi.json against a real `maas serve` (embedded PostgreSQL and Redis,
the Shandong demo feeds live), with every role's credential: no 5xx, and every response in
the shape the document promises (problem+json for errors).

Bounded: FUZZ_EXAMPLES cases per operation, role and mode (positive and negative), about
three minutes in all on 2 cores. Path and query parameters are half the time real ones (the
gate's id, a confirmed booking, a live feed version, stops and dates of the demo network), so
the cases reach the code behind the 404s and 400s.
MAAS_FUZZ_EXAMPLES raises the count for a longer run (docs/RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import subprocess
import sys
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.errors import Unsatisfiable

from maas import auth
from maas.demo import load_demo
from maas.settings import DataKeys, Settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
)

pytestmark = pytest.mark.slow

FUZZ_EXAMPLES = int(os.environ.get("MAAS_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
GATE, STATION = "fuzz-g1", "china-railway:jinanxi"
OPERATOR = "china-railway"


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


# zip bodies: raw bytes, zips of random members, zips of GTFS names holding random text
_GTFS_NAMES = ["agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt", "calendar.txt",
               "../x.txt", "a/b.txt", "x\\y.txt"]
ZIPS = st.one_of(
    st.binary(max_size=2048),
    st.dictionaries(st.sampled_from(_GTFS_NAMES), st.binary(max_size=512), max_size=6).map(_zip),
    st.dictionaries(st.sampled_from(_GTFS_NAMES[:6]),
                    st.text(alphabet=st.characters(codec="utf-8"), max_size=300).map(str.encode),
                    max_size=6).map(_zip),
)
schemathesis.openapi.media_type("application/zip", ZIPS)
# GTFS-realtime pushes: random bytes, and protobuf-looking ones (field 1 = header, truncated)
schemathesis.openapi.media_type("application/x-protobuf", st.one_of(
    st.binary(max_size=1024), st.binary(max_size=256).map(lambda b: b"\x0a" + bytes([len(b) % 128]) + b)))


def _feed_message(entities: list[tuple[str, str, int | None, bool, int]]) -> bytes:
    from google.transit import gtfs_realtime_pb2 as rt

    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    for eid, trip, delay, deleted, incr in entities:
        msg.header.incrementality = incr % 2
        e = msg.entity.add(id=eid or "e", is_deleted=deleted)
        if delay is None:
            e.alert.header_text.translation.add(text=trip, language="en")
            e.alert.informed_entity.add().stop_id = trip
            continue
        e.trip_update.trip.trip_id = trip
        e.trip_update.stop_time_update.add(stop_sequence=abs(delay) % 40).arrival.delay = delay
    return msg.SerializeToString()


# GTFS-Realtime bodies (POST /v1/realtime): raw bytes, or FeedMessages of random entities
PROTOBUFS = st.one_of(
    st.binary(max_size=1024),
    st.lists(st.tuples(st.text(max_size=8), st.text(max_size=20),
                       st.none() | st.integers(-(2**31), 2**31 - 1), st.booleans(),
                       st.integers(0, 1)), max_size=5).map(_feed_message),
)
schemathesis.openapi.media_type("application/x-protobuf", PROTOBUFS)


@dataclass
class Served:
    url: str
    keys: dict[str, str | None]            # role -> bearer secret (None: anonymous)
    known: dict[str, list[str]] = field(default_factory=dict)   # path parameter -> real values


async def _prepare(db_url: str, data_dir: Path, secret_keys: str) -> dict[str, str | None]:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
    try:
        s = Settings(database_url=db_url, redis_url="unix:///nonexistent", data_dir=data_dir,
                     secret_keys=secret_keys)
        await load_demo(pool, s, scale=0.2, start_date=date.today() - timedelta(days=1))
        _, op = await auth.create_key(pool, "operator", operator=OPERATOR)
        _, gate = await auth.create_key(pool, "gate", gate=GATE, station=STATION)
        _, account = await auth.create_account(pool)
    finally:
        await pool.close()
    return {"anonymous": None, "account": account, "gate": gate, "operator": op}


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "maas.cli", "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]  # blocks until ready
    assert "listening on http://" in line, line
    return proc, line.split("listening on ", 1)[1].split()[0]


def _booking(url: str, token: str) -> tuple[list[str], list[str]]:
    """A confirmed booking on the demo network (its id), and the stops tried."""
    h = {"Authorization": f"Bearer {token}"}
    places = requests.get(f"{url}/v1/stops", params={"near": "36.67,117.0", "radius_m": 5000,
                                                     "limit": 20}, timeout=30).json()["stops"]
    ids = [p["id"] for p in places]
    day = (date.today() + timedelta(days=1)).isoformat()
    for a, b in zip(ids, reversed(ids)):
        if a == b:
            continue
        r = requests.get(f"{url}/v1/plan", params={"from": a, "to": b, "date": day, "time": "09:00"},
                         timeout=60)
        its = r.json().get("itineraries") if r.status_code == 200 else None
        if not its:
            continue
        r = requests.post(f"{url}/v1/bookings", json={"itinerary_id": its[0]["id"], "passengers": [
            {"name": "张三", "id_number": "11010519491231002X"}]},
            headers={**h, "Idempotency-Key": uuid.uuid4().hex}, timeout=30)
        if r.status_code != 201:
            continue
        bid = r.json()["id"]
        requests.post(f"{url}/v1/bookings/{bid}/confirm", json={"payment_ref": "fuzz"}, headers=h,
                      timeout=30)
        return [bid], ids
    return [], ids


@pytest.fixture(scope="module")
def served(services, tmp_path_factory):  # type: ignore[no-untyped-def]
    name = asyncio.run(services.create_db())
    db_url = services.db_url(name)
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    secret_keys = DataKeys.generate_text("fuzz1")
    keys = asyncio.run(_prepare(db_url, data_dir, secret_keys))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env.update(DATABASE_URL=db_url, REDIS_URL=services.redis_url, MAAS_DATA_DIR=str(data_dir),
               MAAS_SECRET_KEYS=secret_keys, MAAS_LOG_LEVEL="WARNING")
    proc, url = _serve(env)
    try:
        bookings, stops = _booking(url, keys["account"])  # type: ignore[arg-type]
        versions = [v["version"] for f in requests.get(
            f"{url}/v1/feeds", headers={"Authorization": f"Bearer {keys['operator']}"}, timeout=30
        ).json()["feeds"] for v in f["versions"]]
        day = date.today() + timedelta(days=1)
        known = {"gate": [GATE], "id": bookings + [OPERATOR], "version": versions,
                 "feed": [OPERATOR], "leg": [0, 1], "from": stops[:5], "to": stops[-5:],
                 "date": [day.isoformat(), (day + timedelta(days=1)).isoformat()],
                 "time": ["07:00", "09:30:00", "23:59"]}
        yield Served(url, keys, known)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        asyncio.run(services.drop_db(name))


def _operations(url: str):  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    # Server-Sent Events streams never end: a client reading one waits for its timeout
    # (tests/protection reads GET /v1/events with a real client)
    return [op for op in (r.ok() for r in schema.get_all_operations())
            if "text/event-stream" not in str(op.definition.raw.get("responses", {}))]


@dataclass
class Tally:
    requests: int = 0
    server_errors: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _fuzz(served: Served, operation, mode: GenerationMode, role: str, tally: Tally) -> None:  # type: ignore[no-untyped-def]
    secret = served.keys[role]
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    session = requests.Session()
    try:
        strategy = operation.as_strategy(generation_mode=mode)
    except Exception:  # noqa: BLE001 — nothing to negate in this operation
        return

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy, real=st.booleans(), pick=st.integers(0, 1000))
    def run(case, real, pick):  # type: ignore[no-untyped-def]
        if real:   # real ids and stops, so the case gets past the 404s and reaches the code
            for params in (case.path_parameters, case.query):
                for name in params or {}:
                    values = served.known.get(name)
                    if values:
                        params[name] = values[pick % len(values)]
        # the role's credential (schemathesis would send a random one: 401 every time)
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        case.headers.update(headers)
        response = case.call(base_url=served.url, session=session, timeout=60)
        tally.requests += 1
        tally.server_errors += response.status_code >= 500
        tally.statuses[f"{operation.method.upper()} {operation.path} {response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:   # negative mode, nothing to negate (no parameters, no body)
        pass
    except Exception as exc:  # noqa: BLE001 — gather every operation's failure, then fail once
        tally.failures.append(f"{operation.method.upper()} {operation.path} [{role}, {mode.value}]: "
                              f"{str(exc)[:1500]}")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("role", ["anonymous", "account", "gate", "operator"])
def test_no_5xx_and_every_response_as_documented(served, role):  # type: ignore[no-untyped-def]
    tally = Tally()
    random.seed(0)
    for operation in _operations(served.url):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(served, operation, mode, role, tally)
    print(f"fuzz {role}: {tally.requests} requests, {tally.server_errors} 5xx")
    if os.environ.get("MAAS_FUZZ_VERBOSE"):
        print("\n".join(f"{k}: {n}" for k, n in sorted(tally.statuses.items())))
    assert tally.requests > 0
    assert not tally.failures, "\n\n".join(tally.failures)
