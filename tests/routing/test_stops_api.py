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


@pytest.mark.parametrize("lang", [None, "en", "zh"])
def test_rendered_bytes_equal_the_response_models(demo_planner, lang):
    # /v1/stops writes plain dicts with orjson: the bytes the pydantic models would write
    from maas.api.stops import StopsResponse, _body, _render
    from routing.stops import StopIndex

    index = StopIndex.build(demo_planner.network)
    cases = [(index.search(q, 50), True) for q in ("ji", "jinanxi", "qingdoa bei", "机场", "站", "TAO", "z")]
    cases += [(index.near(lat, lon, 5000, 50), False) for lat, lon in ((36.6697, 116.8907), (36.07, 120.38))]
    assert sum(len(hits) for hits, _ in cases) > 100
    for hits, with_score in cases:
        places = [_render(index, h, with_score, lang) for h in hits]
        assert _body(places) == StopsResponse(stops=places).model_dump_json(by_alias=True).encode()


async def test_a_repeated_query_gets_the_same_answer_in_its_own_language(demo_client):
    # answers are kept per query and language: asking again, or in another language, is
    # answered as the first time
    asked = [({"q": "jinanxi", "lang": "en"}, {}), ({"q": "jinanxi"}, {"Accept-Language": "zh"}),
             ({"q": "jinanxi"}, {"Accept-Language": "en-GB,en;q=0.9"}), ({"q": "jinanxi"}, {}),
             ({"q": "jinanxi", "limit": "1"}, {}), ({"near": "36.6697,116.8907"}, {}),
             ({"near": "36.6697,116.8907", "radius_m": "100"}, {})]
    first = []
    for params, headers in asked:
        r = await demo_client.get("/v1/stops", params=params, headers=headers)
        first.append(await r.read())
    for (params, headers), body in zip(asked, first):
        r = await demo_client.get("/v1/stops", params=params, headers=headers)
        assert await r.read() == body and r.headers["Content-Type"] == "application/json; charset=utf-8"
    en, zh, en_gb, published, one, near, near_100 = first
    assert b"Jinan West Railway Station" in en.split(b'"names"')[0] and en == en_gb
    assert "济南西站".encode() in zh.split(b'"names"')[0] and zh == published
    assert one.count(b'"kind"') == 1 and len(near) > len(near_100)


def test_kept_answers_stay_within_their_budget_and_go_with_their_index():
    from maas.api.stops import _Answers

    answers, a, b = _Answers(1000), object(), object()
    assert answers.get(a, ("x",)) is None
    for i in range(30):
        answers.put(a, (i,), bytes(100))
        assert answers.size <= 1000 and answers.get(a, (i,)) == bytes(100)
    assert answers.get(a, (0,)) is None and answers.get(a, (29,)) is not None   # oldest went first
    answers.put(a, ("big",), bytes(200))     # over an eighth of the budget: not kept
    assert answers.get(a, ("big",)) is None
    assert answers.get(b, (29,)) is None and answers.size == 0   # another index: emptied
    answers.put(a, (1,), b"late")     # an answer over the old index after the switch: dropped
    assert answers.get(b, (1,)) is None
