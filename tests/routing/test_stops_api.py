"""GET /v1/stops over HTTP, on the demo network loaded through maas.demo.load_demo."""

from __future__ import annotations

from datetime import date

import pytest

from maas.appkeys import DB, LIVE
from maas.demo import load_demo

START = date(2026, 11, 23)


@pytest.fixture
async def demo_client(app, client, settings):
    await load_demo(app[DB], settings, scale=0.2, start_date=START)
    await app[LIVE].reload()
    return client


async def get(client, **params):
    r = await client.get("/v1/stops", params=params)
    return r.status, await r.json()


async def test_search_by_pinyin_groups_platforms_under_the_station(demo_client):
    status, body = await get(demo_client, q="jinanxi")
    assert status == 200
    first = body["stops"][0]
    assert first["id"] == "china-railway:jinanxi" and first["kind"] == "station"
    assert first["name"] == "济南西站" and first["names"]["en"] == "Jinan West Railway Station"
    assert {p["id"] for p in first["platforms"]} == {"china-railway:jinanxi-jinghu",
                                                     "china-railway:jinanxi-jiqing"}
    assert first["modes"] == ["rail"] and first["score"] == 100
    assert "jinan-bus:" in " ".join(s["id"] for s in body["stops"])   # the bus stop beside it
    for q, expected in [("济南西", "济南西站"), ("ji nan xi", "济南西站"), ("Jinan West", "济南西站"),
                        ("INCHEON", "首尔仁川国际机场"), ("qingdoa bei", "青岛北站"),
                        ("TAO", "青岛胶东国际机场")]:
        status, body = await get(demo_client, q=q, limit=3)
        assert status == 200 and body["stops"][0]["name"] == expected, q


async def test_near_lists_the_station_and_the_bus_stop_beside_it(demo_client):
    status, body = await get(demo_client, near="36.6697,116.8907", radius_m=300)
    assert status == 200
    ids = [s["id"] for s in body["stops"]]
    assert ids[0] == "china-railway:jinanxi" and any(i.startswith("jinan-bus:") for i in ids)
    dists = [s["distance_m"] for s in body["stops"]]
    assert dists == sorted(dists) and max(dists) <= 300
    assert all(s["score"] is None for s in body["stops"])
    # q and near together: names in reach only
    status, body = await get(demo_client, q="济南", near="36.6697,116.8907", radius_m=300)
    assert status == 200 and body["stops"]
    assert all(s["distance_m"] <= 300 and "济南" in s["name"] for s in body["stops"])


@pytest.mark.parametrize("params, status", [
    ({}, 400), ({"near": "36.6"}, 400), ({"near": "abc,def"}, 400), ({"near": "91,0"}, 400),
    ({"near": "36,117", "radius_m": "0"}, 400), ({"near": "36,117", "radius_m": "99999"}, 400),
    ({"q": "x", "limit": "0"}, 400), ({"q": "x", "limit": "51"}, 400), ({"q": ""}, 400),
])
async def test_bad_input_is_a_problem(client, params, status):
    r = await client.get("/v1/stops", params=params)
    assert r.status == status
    assert r.content_type == "application/problem+json"
    assert (await r.json())["status"] == status


async def test_empty_network_finds_nothing(client):
    status, body = await get(client, q="jinan")
    assert status == 200 and body == {"stops": []}


async def test_load_demo_is_idempotent(app, demo_client, settings):
    before = await app[DB].fetch("SELECT id, status FROM feed_versions ORDER BY id")
    assert [r["status"] for r in before] == ["active"] * 6
    assert await load_demo(app[DB], settings, scale=0.2, start_date=START) == []
    after = await app[DB].fetch("SELECT id, status FROM feed_versions ORDER BY id")
    assert before == after
    owners = dict(await app[DB].fetch("SELECT name, operator_id FROM feeds"))
    assert owners["china-railway"] == "china-railway" and owners["jinan-bus"] == "jinan-bus"
    snap = app[LIVE].current
    assert set(snap.versions) == {"jinan-bus", "qingdao-bus", "shandong-coach", "china-railway",
                                  "shandong-airlines", "bohai-ferry"}
    assert snap.planner is not None and set(snap.network.route_mode) == {"bus", "coach", "rail",
                                                                         "air", "ferry"}


async def test_load_demo_at_another_scale_loads_every_feed_again(app, demo_client, settings):
    before = {r["feed"]: r["id"] for r in await app[DB].fetch(
        "SELECT feed, id FROM feed_versions WHERE status = 'active'")}
    activated = await load_demo(app[DB], settings, scale=0.4, start_date=START)
    assert len(activated) == 6          # every demo feed imported and activated again
    after = {r["feed"]: r["id"] for r in await app[DB].fetch(
        "SELECT feed, id FROM feed_versions WHERE status = 'active'")}
    assert set(after) == set(before) and set(after.values()) == set(activated)
    # (not "every id new": a version id hashes the zip, and at these small scales a feed may
    # come back byte for byte the same when both writes fall in one zip-timestamp second)
    assert (settings.data_dir / "demo-feeds" / "SCALE").read_text().strip() == "0.4"
    assert await load_demo(app[DB], settings, scale=0.4, start_date=START) == []
