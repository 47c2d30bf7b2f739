"""/v1/plan on realtime: delayed trips boarded at their real times, cancelled trips and skipped
stops not offered, legs with scheduled and realtime times, itineraries with their alerts."""

from __future__ import annotations

from rt_messages import alert, at, message, trip_update
from test_push import push

from tests.polling import eventually
from maas.app import create_app
from maas.appkeys import LIVE


async def plan(client, time: str, frm: str = "town:A", to: str = "town:D", **extra) -> list[dict]:
    r = await client.get("/v1/plan", params={"from": frm, "to": to, "date": "2026-11-23",
                                             "time": time, **extra})
    body = await r.json()
    assert r.status == 200, body
    return body["itineraries"]


def trips(its: list[dict]) -> list[str]:
    return [leg["trip_id"] for it in its for leg in it["legs"] if leg["trip_id"]]


async def _applied(app, revision: int) -> None:
    await eventually(lambda: app[LIVE].current.realtime.revisions.get("town") == revision)


async def test_without_realtime_legs_run_as_scheduled(town):
    (it,) = await plan(town, "07:30", limit=1)
    (leg,) = it["legs"]
    assert leg["trip_id"] == "town:T1" and leg["departure"] == "2026-11-23T08:00:00+08:00"
    assert leg["scheduled_departure"] == leg["departure"] and leg["scheduled_arrival"] == leg["arrival"]
    assert leg["delay_s"] == 0 and leg["realtime"] is False and it["alerts"] == []


async def test_an_itinerary_carries_the_alerts_touching_its_legs(app, town, town_key):
    await push(town, town_key, message(
        alert("bravo", header={"en": "Bravo: lifts out of order", "zh": "Bravo站电梯停用"},
              informed=[{"stop_id": "B"}]),                                    # T1 calls at B
        alert("other-route", header={"en": "x"}, informed=[{"route_id": "Q"}]),
        alert("tomorrow", header={"en": "y"}, informed=[{"agency_id": "A"}],
              periods=[(at("08:00", "20261124"), None)]),                      # not while it rides
        alert("city", header={"en": "z"}, informed=[{"stop_id": "S"}])))
    await _applied(app, 1)
    its = await plan(town, "07:30", lang="zh")
    assert its and all([a["id"] for a in it["alerts"]] == ["town:bravo"] for it in its)
    assert its[0]["alerts"][0]["header"] == "Bravo站电梯停用"
    assert (await plan(town, "07:30", frm="town:C"))[0]["alerts"] == []       # C -> D passes no B


async def test_a_delayed_trip_is_boarded_at_its_real_time(app, town, town_key):
    assert trips(await plan(town, "08:05", limit=1)) == ["town:T2"]      # T1 left at 08:00
    await push(town, town_key, message(trip_update("e1", "T1", delays=[(1, "A", 600)], ts=at("07:29"))))
    await _applied(app, 1)
    (it,) = await plan(town, "08:05", limit=1)
    (leg,) = it["legs"]
    assert leg["trip_id"] == "town:T1" and leg["realtime"] is True and leg["delay_s"] == 600
    assert (leg["scheduled_departure"], leg["departure"]) == ("2026-11-23T08:00:00+08:00",
                                                              "2026-11-23T08:10:00+08:00")
    assert (leg["scheduled_arrival"], leg["arrival"]) == ("2026-11-23T08:30:00+08:00",
                                                          "2026-11-23T08:40:00+08:00")   # propagated


async def test_a_cancelled_trip_and_a_skipped_stop_are_not_offered(app, town, town_key):
    assert trips(await plan(town, "07:30", limit=1)) == ["town:T1"]
    await push(town, town_key, message(trip_update("e1", "T1", canceled=True)))
    await _applied(app, 1)
    assert "town:T1" not in trips(await plan(town, "07:30"))
    await push(town, town_key, message(trip_update("e1", "T1", skipped=[(4, "D")])))
    await _applied(app, 2)
    assert "town:T1" not in trips(await plan(town, "07:30"))              # it no longer stops at D
    assert trips(await plan(town, "07:30", to="town:C", limit=1)) == ["town:T1"]


async def test_a_push_to_one_worker_changes_the_plans_of_another(app, town, town_key, aiohttp_client,
                                                                settings, clock):
    other = create_app(settings, clock=clock)
    other_client = await aiohttp_client(other)
    await eventually(lambda: other[LIVE].current.network.n_trips > 0)
    assert trips(await plan(other_client, "07:30", limit=1)) == ["town:T1"]
    await push(town, town_key, message(trip_update("e1", "T1", canceled=True)))
    await eventually(lambda: other[LIVE].current.realtime.revisions.get("town") == 1)
    assert "town:T1" not in trips(await plan(other_client, "07:30"))
