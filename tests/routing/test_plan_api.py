"""GET /v1/plan over HTTP on a small network put into the live holder."""

from __future__ import annotations

import dataclasses

import pytest

from builders import timetable
from maas.appkeys import LIVE
from routing.itinerary import decode_id
from routing.planner import Planner


@pytest.fixture
async def planned(client, app):
    net = timetable("""
        F1 KE846 air TAO@10:00 ICN@11:30
        B2 6001 bus ICN@13:30 SEL@14:40
        T1 R1 bus A@08:00 B@08:30
    """, stops={"A": (36.60, 117.00), "B": (36.70, 117.00)},
        stop_tz={"ICN": "Asia/Seoul", "SEL": "Asia/Seoul"}, trip_tz={"B2": "Asia/Seoul"}, n_days=3)
    holder = app[LIVE]
    holder.current = dataclasses.replace(holder.current, planner=Planner.build(net), network=net,
                                         loaded=True)
    return client


async def test_plan_renders_the_contract(planned):
    r = await planned.get("/v1/plan", params={"from": "t:TAO", "to": "t:SEL", "date": "2026-11-25",
                                              "time": "08:00"})
    assert r.status == 200, await r.text()
    [it] = (await r.json())["itineraries"]
    assert it["departure"] == "2026-11-25T10:00:00+08:00"
    assert it["arrival"] == "2026-11-25T14:40:00+09:00"
    assert it["duration_s"] == 3 * 3600 + 40 * 60 and it["transfers"] == 1
    flight, bus = it["legs"]
    assert flight["mode"] == "air" and flight["trip_id"] == "t:F1" and flight["feed"] == "t"
    assert flight["route"] == {"id": "t:KE846", "short_name": "KE846", "long_name": "Route KE846"}
    assert flight["from"]["id"] == "t:TAO" and set(flight["from"]) == {"id", "name", "lat", "lon"}
    assert flight["arrival"] == "2026-11-25T12:30:00+09:00" and flight["stops"] == 1
    assert bus["departure"] == "2026-11-25T13:30:00+09:00" and bus["operator"]
    assert [leg.trip_id for leg in decode_id(it["id"]).legs] == ["t:F1", "t:B2"]


async def test_plan_from_coordinates_has_walk_legs(planned):
    r = await planned.get("/v1/plan", params={"from": "36.6027,117.0", "to": "t:B",
                                              "date": "2026-11-25", "time": "07:30"})
    assert r.status == 200, await r.text()
    walk, bus = (await r.json())["itineraries"][0]["legs"]
    assert walk["mode"] == "walk" and walk["distance_m"] > 250 and walk["duration_s"] > 0
    assert walk["from"]["id"] is None and walk["to"]["id"] == "t:A"


async def test_walk_only_when_walking_is_the_answer(planned):
    # two coordinates 45 m apart: one walk leg, no transit
    r = await planned.get("/v1/plan", params={"from": "36.6001,117.0", "to": "36.6005,117.0",
                                              "date": "2026-11-25", "time": "07:30"})
    assert r.status == 200, await r.text()
    [it] = (await r.json())["itineraries"]
    [walk] = it["legs"]
    assert walk["mode"] == "walk" and 40 < walk["distance_m"] < 70 and it["transfers"] == 0
    assert it["departure"] == "2026-11-25T07:30:00+08:00" and it["duration_s"] == walk["duration_s"] > 0
    assert walk["from"]["id"] is None and walk["to"]["id"] is None
    assert decode_id(it["id"]).legs == ()
    # coordinates 300 m from stop A: walking there beats waiting for any bus
    r = await planned.get("/v1/plan", params={"from": "36.6027,117.0", "to": "t:A",
                                              "date": "2026-11-25", "time": "07:30"})
    [it] = (await r.json())["itineraries"]
    assert [leg["mode"] for leg in it["legs"]] == ["walk"] and it["legs"][0]["to"]["id"] == "t:A"
    # a walk-only itinerary has nothing to book
    token = (await (await planned.post("/v1/accounts")).json())["token"]
    r = await planned.post("/v1/bookings", json={"itinerary_id": it["id"], "passengers": [
        {"name": "张三", "id_number": "11010519491231002X", "category": "adult"}]},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "walk-1"})
    assert r.status == 422 and r.content_type == "application/problem+json"
    assert (await r.json())["code"] == "itinerary_invalid"


@pytest.mark.parametrize("params,status,word", [
    ({"from": "t:NOPE", "to": "t:B"}, 404, "t:NOPE"),
    ({"from": "t:A", "to": "t:A"}, 400, "same"),
    ({"from": "t:A", "to": "t:B", "date": "2026-13-01"}, 400, "date"),
    ({"from": "t:A", "to": "t:B", "time": "25:00"}, 400, "time"),
    ({"from": "t:A", "to": "t:B", "time": "8h"}, 400, "time"),
    ({"from": "91.0,10.0", "to": "t:B"}, 400, "coordinates"),
    ({"from": "t:A", "to": "t:B", "date": "2030-01-01"}, 422, "2026-11-27"),
    ({"from": "t:A", "to": "t:B", "modes": "rail,teleport"}, 400, "teleport"),
    ({"from": "t:A", "to": "t:B", "window_min": "-5"}, 400, "window_min"),
])
async def test_bad_input(planned, params, status, word):
    q = {"date": "2026-11-25", "time": "07:00", **params}
    r = await planned.get("/v1/plan", params=q)
    assert r.status == status, await r.text()
    assert r.content_type == "application/problem+json"
    assert word in await r.text()


async def test_absurd_values_are_capped(planned):
    r = await planned.get("/v1/plan", params={"from": "t:A", "to": "t:B", "date": "2026-11-25",
                                              "time": "07:00", "window_min": "100000",
                                              "limit": "100000", "max_transfers": "1000"})
    assert r.status == 200
    assert len((await r.json())["itineraries"]) == 1


async def test_plan_is_documented(planned):
    doc = await (await planned.get("/openapi.json")).json()
    params = {p["name"] for p in doc["paths"]["/v1/plan"]["get"]["parameters"]}
    assert {"from", "to", "date", "time", "arrive_by", "window_min", "modes", "max_transfers",
            "wheelchair", "max_walk_m", "min_transfer_s", "limit"} <= params
    text = str(doc)
    for name in ("duration_s", "transfers", "headsign", "short_name", "distance_m"):
        assert name in text


# --- the fast JSON body is the response model, byte for byte ----------------------------------

@pytest.fixture
async def sample(client, app):
    """The priced bus + rail sample network (ticketing.sample) live."""
    from maas.live import Snapshot
    from ticketing.sample import sample_network

    net = sample_network()
    app[LIVE].current = Snapshot(network=net, planner=Planner.build(net), loaded=True,
                                 versions=dict(zip(net.feeds, net.feed_versions)))
    return client


@pytest.mark.parametrize("on_loop", [False, True])
@pytest.mark.parametrize("params", [
    {"from": "bus:B1", "to": "rail:R4", "time": "07:00"},                    # bus, walk, rail, fare
    {"from": "bus:B1", "to": "rail:R4", "time": "07:00", "window_min": "120", "limit": "20"},
    {"from": "36.6615,117.0200", "to": "rail:R3", "time": "09:10"},          # walk from a point
    {"from": "bus:B2", "to": "36.0650,120.3100", "time": "18:00", "arrive_by": "true"},
    {"from": "bus:B1", "to": "bus:B5", "time": "23:50"},                      # none left today
    {"from": "bus:B1", "to": "rail:R4", "time": "07:00", "lang": "zh"},      # named legs: not memoised
])
async def test_plan_body_is_the_response_model(sample, app, params, on_loop):
    from aiohttp.test_utils import make_mocked_request

    import dataclasses

    from maas.api.plan import PlanQuery, PlanResponse, _gauge, _in_lang, add_prices, render, to_query

    _gauge(app[LIVE].current.planner).typical = 0.0 if on_loop else 1.0
    q = {"date": "2026-11-25", **params}
    r = await sample.get("/v1/plan", params=q)
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    body = await r.text()
    its = app[LIVE].current.planner.plan(to_query(PlanQuery.model_validate(q)))
    request = make_mocked_request("GET", "/v1/plan", app=app)
    if "lang" in params:
        its = [dataclasses.replace(it, legs=tuple(_in_lang(request, leg, params["lang"])
                                                  for leg in it.legs)) for it in its]
    model = PlanResponse(itineraries=[add_prices(request, render(it), it) for it in its])
    assert body == model.model_dump_json(by_alias=True)
    if "23:50" not in params["time"]:
        legs = [leg for it in model.itineraries for leg in it.legs]
        assert any(leg.mode == "walk" for leg in legs) and any(leg.price for leg in legs)
        assert all(it.total for it in model.itineraries)


async def test_a_plan_asked_again_writes_the_same_body_from_its_memoised_legs(sample, app):
    from maas.api import plan_json
    from maas.api.plan import _BODIES, _Bodies

    _BODIES[app[LIVE]] = _Bodies(0)     # bodies not kept: every request renders its legs
    q = {"from": "bus:B1", "to": "rail:R4", "time": "07:00", "date": "2026-11-25"}
    plan_json.clear()
    first = await (await sample.get("/v1/plan", params=q)).read()
    def rides() -> set[int]:   # transit legs memoised (a walk may be a new object each time)
        return {k for k, (leg, _) in plan_json._LEG_JSON.items() if leg.key is not None}
    cached = rides()
    assert cached
    again = await (await sample.get("/v1/plan", params=q)).read()
    assert again == first and rides() == cached   # the same Leg objects: written once
    plan_json.clear()
    assert await (await sample.get("/v1/plan", params=q)).read() == first


def test_point_queries_run_on_the_loop_only_once_known_to_be_short():
    from maas.api.plan import _Gauge

    g = _Gauge()
    assert not g.inline()                   # a planner not measured yet: in a thread
    for _ in range(100):
        g.record(0.0005)
    assert g.inline()
    for _ in range(30):                     # the network got slow to search: back to a thread
        g.record(0.05)
    assert not g.inline()


def test_a_fast_planner_runs_on_the_loop_after_a_few_queries_even_after_a_slow_first():
    from maas.api.plan import _Gauge

    g = _Gauge()
    g.record(2.0)                           # the first query expanded a day: seconds
    assert not g.inline()
    for _ in range(10):
        g.record(0.0005)
    assert g.inline()
    slow = _Gauge()
    for _ in range(10):                     # a planner that is always slow stays in a thread
        slow.record(0.003)
    assert not slow.inline()


def test_a_gauge_once_known_measures_one_point_query_in_every_few():
    """The thread CPU clock is a system call: after the first measurements, most plans
    run without it."""
    from maas.api.plan import _ALPHA, _EVERY, _Gauge

    class Planner:
        def plan(self, q):  # type: ignore[no-untyped-def]
            return []

    g, first = _Gauge(), round(1 / _ALPHA)
    for _ in range(first):
        g.plan(Planner(), None)     # type: ignore[arg-type]
    assert g.seen == first          # the mean of the first queries: every one measured
    for _ in range(10 * _EVERY):
        g.plan(Planner(), None)     # type: ignore[arg-type]
    assert g.seen == first + 10
    assert g.inline()


async def test_plan_body_of_realtime_legs_is_the_response_model(sample, app):
    """A realtime planner's legs (departure != scheduled, a delay) written by the fast
    renderer are the models' bytes, from fresh legs and from their memo."""
    from aiohttp.test_utils import make_mocked_request

    from maas.api import plan_json
    from maas.api.plan import PlanQuery, PlanResponse, add_prices, render, render_json, to_query
    from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate

    snap = app[LIVE].current
    q = to_query(PlanQuery.model_validate({"from": "bus:B1", "to": "rail:R4", "time": "07:00",
                                           "date": "2026-11-25"}))
    ride = next(leg for it in snap.planner.plan(q) for leg in it.legs if leg.key is not None)
    late = TripUpdate(ride.trip_id, ride.key.service_date, stop_updates=(StopTimeUpdate(
        stop_id=ride.key.from_stop, arrival=StopTimeEvent(delay=150),
        departure=StopTimeEvent(delay=150)),))
    app[LIVE].current = dataclasses.replace(snap, planner=snap.planner.with_realtime([late]))
    its = app[LIVE].current.planner.plan(q)
    legs = [leg for it in its for leg in it.legs]
    assert any(leg.realtime and leg.departure != leg.scheduled_departure for leg in legs)
    request = make_mocked_request("GET", "/v1/plan", app=app)
    model = PlanResponse(itineraries=[add_prices(request, render(it), it) for it in its])
    plan_json.clear()
    assert render_json(request, its) == model.model_dump_json(by_alias=True).encode()
    assert render_json(request, its) == model.model_dump_json(by_alias=True).encode()


# --- point-plan bodies kept by what decides them (Settings.plan_memo) -------------------------

def _fresh(app, params: dict) -> bytes:
    """The body of `params` made from scratch: the current planner's itineraries, rendered."""
    from aiohttp.test_utils import make_mocked_request

    from maas.api.plan import PlanQuery, render_json, to_query
    from maas.lang import request_lang

    request = make_mocked_request("GET", "/v1/plan", app=app)
    its = app[LIVE].current.planner.plan(to_query(PlanQuery.model_validate(params)))
    render_json = getattr(render_json, "original", render_json)     # (not counted)
    return render_json(request, its, params.get("lang"), request_lang(request, params.get("lang")))


def _count_renders(monkeypatch) -> list[int]:
    import maas.api.plan as plan_api

    made, render = [0], plan_api.render_json

    def counted(*args, **kw):  # type: ignore[no-untyped-def]
        made[0] += 1
        return render(*args, **kw)
    counted.original = render   # type: ignore[attr-defined]
    monkeypatch.setattr(plan_api, "render_json", counted)
    return made


async def test_point_plans_at_other_times_are_answered_from_kept_bodies_byte_for_byte(
        sample, app, monkeypatch):
    """A stream of point queries (pairs, stops and coordinates, depart-at and arrive-by,
    times every 10 minutes of a day, languages): every body is the one made from scratch for
    its own query, and queries at other times that find the same journeys (before a line's
    next departure) are answered without rendering again."""
    made = _count_renders(monkeypatch)
    pairs = [("bus:B1", "rail:R4"), ("bus:B1", "bus:B5"), ("36.6615,117.0200", "rail:R3"),
             ("bus:B2", "36.0650,120.3100")]
    asked, bodies = 0, {}
    for a, b in pairs:
        for arrive_by in ("false", "true"):
            for m in range(5 * 60, 23 * 60, 10):
                for lang in (None, "zh"):
                    params = {"from": a, "to": b, "date": "2026-11-25", "arrive_by": arrive_by,
                              "time": f"{m // 60:02d}:{m % 60:02d}", **({"lang": lang} if lang else {})}
                    r = await sample.get("/v1/plan", params=params)
                    assert r.status == 200, await r.text()
                    body = await r.read()
                    assert body == _fresh(app, params), params
                    asked += 1
                    bodies.setdefault((a, b, arrive_by, lang, body), []).append(m)
    assert made[0] < asked / 2                  # most answered from kept bodies
    assert made[0] >= len(bodies)               # each distinct body made at least once
    assert any(len(times) > 1 for times in bodies.values())    # the same body at other times


async def test_kept_bodies_follow_a_new_realtime_state(sample, app, monkeypatch):
    """A delay swapped in (a new snapshot) is shown at once: the kept bodies were of the
    snapshot before."""
    from maas.api.plan import PlanQuery, to_query
    from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate

    made = _count_renders(monkeypatch)
    params = {"from": "bus:B1", "to": "rail:R4", "time": "07:00", "date": "2026-11-25"}
    first = await (await sample.get("/v1/plan", params=params)).read()
    assert await (await sample.get("/v1/plan", params=params)).read() == first
    assert made[0] == 1
    snap = app[LIVE].current
    ride = next(leg for it in snap.planner.plan(to_query(PlanQuery.model_validate(params)))
                for leg in it.legs if leg.key is not None)
    late = TripUpdate(ride.trip_id, ride.key.service_date, stop_updates=(StopTimeUpdate(
        stop_id=ride.key.from_stop, arrival=StopTimeEvent(delay=150),
        departure=StopTimeEvent(delay=150)),))
    app[LIVE].current = dataclasses.replace(snap, planner=snap.planner.with_realtime([late]))
    now = await (await sample.get("/v1/plan", params=params)).read()
    assert made[0] == 2 and now != first and now == _fresh(app, params)
    assert b'"delay_s":150' in now


async def test_a_walk_offered_is_timed_by_each_query_not_kept_across_times(planned, app):
    """The walk-only itinerary leaves at the query's time: another time, another body."""
    q = {"from": "36.6001,117.0", "to": "36.6005,117.0", "date": "2026-11-25"}
    a = await (await planned.get("/v1/plan", params={**q, "time": "07:30"})).json()
    b = await (await planned.get("/v1/plan", params={**q, "time": "07:40"})).json()
    assert a["itineraries"][0]["departure"].endswith("07:30:00+08:00")
    assert b["itineraries"][0]["departure"].endswith("07:40:00+08:00")


def test_kept_bodies_are_bounded_and_can_be_off():
    from maas.api.plan import _Bodies

    assert _Bodies(0).of(object()) is None
    kept, snap = _Bodies(2), object()
    memo = kept.of(snap)
    for k in range(3):
        kept.keep(memo, (k,), b"x")
    assert len(memo) == 1 and kept.of(snap) is memo     # cleared when full, then kept
    assert kept.of(object()) == {}                      # another snapshot: empty


# --- point queries known but for their time, answered before parsing (maas.api.plan) ----------

def _count_prepares(monkeypatch) -> list[int]:
    made, prepared = [0], Planner.prepared

    def counted(self, *args, **kw):  # type: ignore[no-untyped-def]
        made[0] += 1
        return prepared(self, *args, **kw)
    monkeypatch.setattr(Planner, "prepared", counted)
    return made


async def test_a_query_known_but_for_its_time_is_planned_from_what_it_was_prepared_to(
        sample, app, monkeypatch):
    """The same query text at other times (the time written HH:MM, HH%3AMM, HH:MM:SS, first
    or last): one `prepared`, every body the one made from scratch for its own time; another
    Accept-Language, option or date is another query; every one of them byte for byte."""
    import maas.api.plan as plan_api

    made = _count_prepares(monkeypatch)
    monkeypatch.setattr(plan_api, "_INLINE_CPU_S", 60.0)   # every point query on the loop
    base = "from=bus%3AB1&to=rail%3AR4&date=2026-11-25"
    seen, asked = set(), 0
    for m in range(6 * 60, 10 * 60, 7):
        hh, mm = divmod(m, 60)
        for text in (f"{base}&time={hh:02d}:{mm:02d}", f"{base}&time={hh:02d}%3A{mm:02d}",
                     f"time={hh}:{mm:02d}:30&{base}"):
            before = made[0]
            r = await sample.get("/v1/plan?" + text)
            asked += made[0] - before       # (`_fresh` below prepares too)
            assert r.status == 200, await r.text()
            seconds = 30 if text.startswith("time") else 0
            params = {"from": "bus:B1", "to": "rail:R4", "date": "2026-11-25",
                      "time": f"{hh:02d}:{mm:02d}:{seconds:02d}"}
            assert await r.read() == _fresh(app, params), text
            seen.add(await r.read())
    assert asked == 1 and len(seen) > 1
    made[0] = 0
    for extra, headers in (("&lang=zh", {}), ("", {"Accept-Language": "zh"}),
                           ("&max_transfers=0", {}), ("&arrive_by=true", {})):
        for t in ("08:00", "09:00"):
            r = await sample.get(f"/v1/plan?{base}{extra}&time={t}", headers=headers)
            assert r.status == 200
    assert made[0] == 4
    r = await sample.get("/v1/plan?from=bus%3AB1&to=rail%3AR4&date=2026-11-26&time=09:00")
    assert r.status == 200 and made[0] == 5


@pytest.mark.parametrize("time_text, status, code", [
    ("25:00", 400, "invalid_query"), ("9:5", 400, "invalid_query"), ("", 400, "invalid_query"),
    ("09:00&time=10:00", 400, "invalid_parameter"), ("+09:00", 200, None),
    ("09%3A00%3A99", 400, "invalid_query"), ("09:00&tim%65=10:00", 400, "invalid_parameter"),
])
async def test_a_known_query_with_a_time_not_plain_is_parsed_as_any_other(
        sample, app, monkeypatch, time_text, status, code):
    """The known way reads a plain HH:MM[:SS] only; any other time text goes the usual way
    and gets its answer or its problem, as on a worker that never saw the query."""
    import maas.api.plan as plan_api

    monkeypatch.setattr(plan_api, "_INLINE_CPU_S", 60.0)   # every point query on the loop
    base = "from=bus%3AB1&to=rail%3AR4&date=2026-11-25"
    assert (await sample.get(f"/v1/plan?{base}&time=07:00")).status == 200
    assert (await sample.get(f"/v1/plan?{base}&time=07:10")).status == 200    # known now
    r = await sample.get(f"/v1/plan?{base}&time={time_text}")
    assert r.status == status, await r.text()
    if code is not None:
        assert (await r.json())["code"] == code


async def test_known_queries_are_bounded_of_their_snapshot_and_off_with_the_bodies(sample, app):
    from maas.api.plan import _BODIES, _KNOWN_TEXT, _Bodies

    kept = _BODIES[app[LIVE]] = _Bodies(3)
    for n in range(1, 6):
        r = await sample.get(f"/v1/plan?from=bus%3AB1&to=rail%3AR4&date=2026-11-25&limit={n}"
                             "&time=07:00")
        assert r.status == 200
        assert 1 <= len(kept.known) <= 3        # cleared when full
    long_lang = "zh," + ",".join(["en;q=0.1"] * 60)
    assert len(long_lang) > _KNOWN_TEXT
    before = dict(kept.known)
    r = await sample.get("/v1/plan?from=bus%3AB1&to=rail%3AR4&date=2026-11-25&time=07:00",
                         headers={"Accept-Language": long_lang})
    assert r.status == 200 and kept.known == before     # a long text is not kept
    app[LIVE].current = dataclasses.replace(app[LIVE].current)      # another snapshot
    assert kept.of(app[LIVE].current) == {} and kept.known == {}
    off = _BODIES[app[LIVE]] = _Bodies(0)
    for t in ("07:00", "07:10"):
        assert (await sample.get("/v1/plan?from=bus%3AB1&to=rail%3AR4&date=2026-11-25"
                                 f"&time={t}")).status == 200
    assert off.known == {}


def test_a_query_time_is_read_as_the_time_pattern_reads_it():
    """`time_s` (by hand) takes exactly the texts `_TIME.match(text.strip())` takes, with
    their seconds, and refuses the rest: random texts of digits (ASCII and other scripts'),
    colons, spaces and signs."""
    import random

    from maas.api.plan import _TIME, time_s
    from routing.errors import InvalidQuery

    def reference(text: str) -> int | None:
        m = _TIME.match(text.strip())
        if not m:
            return None
        h, mi, sec = (int(g or 0) for g in m.groups())
        return h * 3600 + mi * 60 + sec if h <= 23 and mi <= 59 and sec <= 59 else None

    def read(text: str) -> int | None:
        try:
            return time_s(text)
        except InvalidQuery:
            return None

    rng = random.Random(17)
    alphabet = "0123456789:::: \n+-a\u0660\u0669\u00b2"
    texts = ["09:00", "9:05", "23:59:59", "24:00", "09:60", "٠٩:٠٠", "09:00\n", "009:00", "9:5"]
    texts += ["".join(rng.choice(alphabet) for _ in range(n)) for n in range(10) for _ in range(3000)]
    taken = 0
    for text in texts:
        assert read(text) == reference(text), repr(text)
        taken += reference(text) is not None
    assert taken > 50
