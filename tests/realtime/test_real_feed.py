"""A real GTFS-RT snapshot (Sound Transit Link, tests/data/realtime/SOURCES.md) on its static feed."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2 as rt

from feeds.ingest import import_feed
from tests.polling import eventually
from maas.appkeys import DB, LIVE
from maas.clock import FrozenClock

DATA = Path(__file__).resolve().parents[1] / "data" / "realtime"
SNAPSHOT = DATA / "soundtransit-link-2023-trip-updates-1683740698.json"
STAMP = 1683740698       # 2023-05-10 10:44:58 PDT


@pytest.fixture
def clock():
    return FrozenClock(datetime.fromtimestamp(STAMP + 30, timezone.utc))


async def test_the_sound_transit_snapshot_applies_on_its_static_feed(app, client, make_key):
    result = await import_feed(app[DB], DATA / "soundtransit-link-2023.zip", feed="st",
                               operator_id="sound-transit", activate=True, today=date(2023, 5, 10))
    assert not result.rejected, [n for n in result.report if n["severity"] == "error"]
    await app[LIVE].reload()
    key = await make_key("operator", operator="sound-transit")
    raw = SNAPSHOT.read_text()
    body = json_format.Parse(raw, rt.FeedMessage()).SerializeToString()
    r = await client.post("/v1/realtime", params={"feed": "st"}, data=body,
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"})
    got = await r.json()
    assert r.status == 200, got
    duplicated = [e["id"] for e in json.loads(raw)["entity"]
                  if e["trip_update"]["trip"]["schedule_relationship"] == "DUPLICATED"]
    assert (got["trip_updates"], got["ignored"], got["reasons"]) == (13, 1, {"unsupported_relationship": 1})
    assert [i["entity_id"] for i in got["ignored_entities"]] == duplicated
    await eventually(lambda: app[LIVE].current.realtime.revisions.get("st") == 1)
    updates = app[LIVE].current.realtime.updates["st"]
    assert len(updates) == 13 and all(u.service_date == date(2023, 5, 10) for u in updates)
    delays = [s.arrival.delay for u in updates for s in u.stop_updates if s.arrival and s.arrival.delay is not None]
    assert min(delays) < 0 < max(delays) <= 438
