"""POST /v1/realtime: applied / ignored counts, full vs differential, refusals that change nothing."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import TOWN_OP
from rt_messages import alert, at, deleted, message, trip_update

from tests.polling import eventually
from maas.appkeys import DB, LIVE

MONDAY = date(2026, 11, 23)
PB = "application/x-protobuf"


def headers(key: str, ctype: str = PB) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": ctype}


async def push(client, key, body, feed="town", status=200, ctype=PB):
    r = await client.post("/v1/realtime", params={"feed": feed}, data=body, headers=headers(key, ctype))
    got = await r.json()
    assert r.status == status, got
    return got


async def stored(app) -> dict[tuple[str, date], dict]:
    rows = await app[DB].fetch("SELECT trip_id, service_date, body FROM realtime_trip_updates")
    return {(r["trip_id"], r["service_date"]): r["body"] for r in rows}


async def test_a_full_dataset_applies_what_fits_and_counts_the_rest_with_reasons(app, town, town_key):
    body = message(
        trip_update("e1", "T1", delays=[(2, "B", 300)]),
        trip_update("e2", "T2", canceled=True),
        trip_update("e3", "NOPE"),
        trip_update("e4", "T1", start_date="20261124", delays=[(None, "Z", 60)]),  # no stop Z on T1
        trip_update("e5", "W", delays=[(1, "A", 60)]),                         # W runs at weekends
        alert("a1", header={"en": "Detour"}, informed=[{"stop_id": "B"}]),
        ts=at("07:29"))
    got = await push(town, town_key, body)
    assert got["feed"] == "town" and got["incrementality"] == "full_dataset"
    assert got["timestamp"] == at("07:29") and got["revision"] == 1
    assert (got["trip_updates"], got["alerts"], got["applied"], got["ignored"]) == (2, 1, 3, 3)
    assert got["reasons"] == {"unknown_trip": 1, "unknown_stop": 1, "not_running_that_day": 1}
    assert {(i["entity_id"], i["reason"], i["trip_id"]) for i in got["ignored_entities"]} == {
        ("e3", "unknown_trip", "town:NOPE"), ("e4", "unknown_stop", "town:T1"),
        ("e5", "not_running_that_day", "town:W")}
    rows = await stored(app)
    assert set(rows) == {("town:T1", MONDAY), ("town:T2", MONDAY)}
    assert rows[("town:T2", MONDAY)]["canceled"] is True
    await eventually(lambda: app[LIVE].current.realtime.revisions.get("town") == 1)
    state = app[LIVE].current.realtime
    assert {u.trip_id for u in state.updates["town"]} == {"town:T1", "town:T2"}
    assert [a.id for a in state.alerts["town"]] == ["town:a1"]


async def test_a_full_dataset_replaces_a_differential_adds_and_deletes(app, town, town_key):
    await push(town, town_key, message(trip_update("e1", "T1", delays=[(1, "A", 60)]),
                                       trip_update("e2", "T2", delays=[(1, "A", 120)]),
                                       alert("a1", header={"en": "x"}, informed=[{"route_id": "R"}]),
                                       ts=at("07:00")))
    got = await push(town, town_key, message(trip_update("e3", "T1", start_date="20261124",
                                                         delays=[(2, "B", 30)]),
                                             deleted("e2"), full=False, ts=at("07:01")))
    assert got["incrementality"] == "differential" and got["removed"] == 1
    assert set(await stored(app)) == {("town:T1", MONDAY), ("town:T1", date(2026, 11, 24))}
    got = await push(town, town_key, message(deleted("x", "T1"), full=False, ts=at("07:02")))
    assert got["removed"] == 2 and await stored(app) == {}
    assert await app[DB].fetchval("SELECT count(*) FROM realtime_alerts") == 1   # differentials kept it
    # a full dataset without the alert removes it; one with T2 only keeps T2 only
    got = await push(town, town_key, message(trip_update("e1", "T1", delays=[(1, "A", 60)]), ts=at("07:03")))
    assert got["removed"] == 1 and await app[DB].fetchval("SELECT count(*) FROM realtime_alerts") == 0
    got = await push(town, town_key, message(trip_update("e2", "T2", delays=[(1, "A", 60)]), ts=at("07:04")))
    assert got["removed"] == 1 and got["revision"] == 5
    assert set(await stored(app)) == {("town:T2", MONDAY)}


async def test_an_update_older_than_the_stored_one_is_stale(app, town, town_key):
    await push(town, town_key, message(trip_update("e1", "T1", delays=[(1, "A", 600)], ts=at("07:20"))))
    got = await push(town, town_key, message(trip_update("e1", "T1", delays=[(1, "A", 60)], ts=at("07:10")),
                                             trip_update("e2", "T2", delays=[(1, "A", 60)], ts=at("07:10"))))
    assert got["reasons"] == {"stale_timestamp": 1} and got["trip_updates"] == 1
    rows = await stored(app)
    assert rows[("town:T1", MONDAY)]["stop_updates"][0]["arrival"]["delay"] == 600   # kept, full dataset or not
    assert set(rows) == {("town:T1", MONDAY), ("town:T2", MONDAY)}
    got = await push(town, town_key, message(trip_update("e1", "T1", delays=[(1, "A", 60)], ts=at("07:20"))))
    assert got["trip_updates"] == 1        # the same timestamp again is not stale (a re-push)


async def test_an_undated_trip_after_midnight_is_yesterdays_run(app, town, town_key, clock):
    clock.set(clock.now().replace(hour=18))     # 02:30 on Monday in town (UTC+8)
    got = await push(town, town_key, message(trip_update("e1", "W", start_date=None, delays=[(1, "A", 60)]),
                                             trip_update("e2", "T1", start_date=None, delays=[(1, "A", 60)])))
    assert got["trip_updates"] == 2
    # W runs at weekends only: Sunday's run; T1 runs every day: today's (the local date)
    assert set(await stored(app)) == {("town:W", date(2026, 11, 22)), ("town:T1", MONDAY)}
    clock.advance(hours=24)                     # 02:30 on Tuesday: W ran neither day
    got = await push(town, town_key, message(trip_update("e1", "W", start_date=None, delays=[(1, "A", 60)])))
    assert got["reasons"] == {"not_running_that_day": 1}


# --- refusals: nothing applied -------------------------------------------------------------


async def _nothing_changed(app) -> None:
    assert await stored(app) == {}
    assert await app[DB].fetchval("SELECT count(*) FROM realtime_feeds") == 0


@pytest.mark.parametrize("body", [b"\x00\x01garbage", b"{\"header\": {}}", b"\x0a\x05hello"])
async def test_not_protobuf(app, town, town_key, body):
    got = await push(town, town_key, body, status=400)
    assert got["code"] == "not_protobuf"
    await _nothing_changed(app)


async def test_an_empty_body_and_a_json_content_type(app, town, town_key):
    assert (await push(town, town_key, b"", status=400))["code"] == "not_protobuf"
    got = await push(town, town_key, message(trip_update("e1", "T1")), status=415, ctype="application/json")
    assert got["code"] == "unsupported_media_type"
    await _nothing_changed(app)


async def test_unknown_feed_and_a_feed_of_another_operator(app, town, town_key, make_key):
    body = message(trip_update("e1", "T1", delays=[(1, "A", 60)]))
    assert (await push(town, town_key, body, feed="nowhere", status=404))["code"] == "unknown_feed"
    assert (await push(town, town_key, body, feed="city", status=403))["code"] == "feed_owned_by_other_operator"
    assert (await push(town, town_key, body, feed="Bad Name", status=400))["code"] == "invalid_feed_name"
    other = await make_key("operator", operator="someone-else")
    assert (await push(town, other, body, status=403))["code"] == "feed_owned_by_other_operator"
    gate = await make_key("gate", gate="g1", station="town:A")
    assert (await push(town, gate, body, status=403))["code"] == "forbidden"
    await _nothing_changed(app)


async def test_a_trip_of_another_feed_refuses_the_whole_message(app, town, town_key):
    body = message(trip_update("e1", "T1", delays=[(1, "A", 60)]), trip_update("e2", "city:X1"),
                   alert("a1", header={"en": "x"}, informed=[{"stop_id": "A"}]))
    got = await push(town, town_key, body, status=422)
    assert got["code"] == "trip_of_another_feed" and got["other_feed"] == "city"
    await _nothing_changed(app)


async def test_times_older_than_the_horizon_refuse_the_whole_message(app, town, town_key, clock):
    six_hours_ago = int(clock.now().timestamp()) - 6 * 3600
    for body in (message(trip_update("e1", "T1", delays=[(1, "A", 60)]), ts=six_hours_ago - 1),
                 message(trip_update("e1", "T1", times=[(1, "A", six_hours_ago - 60)])),
                 message(trip_update("e1", "T1", ts=six_hours_ago - 1))):
        got = await push(town, town_key, body, status=422)
        assert got["code"] == "time_beyond_horizon"
    await _nothing_changed(app)
    got = await push(town, town_key, message(trip_update("e1", "T1", delays=[(1, "A", 60)]), ts=six_hours_ago))
    assert got["trip_updates"] == 1


async def test_a_message_over_the_size_limit(app, town, town_key, settings):
    settings.realtime.max_body_bytes = 1024
    body = message(*(trip_update(f"e{k}", "T1", delays=[(1, "A", k)]) for k in range(100)))
    assert len(body) > 1024
    assert (await push(town, town_key, body, status=413))["code"] == "realtime_too_large"
    await _nothing_changed(app)


async def test_an_admin_key_may_push_for_any_feed(app, town, make_key):
    admin = await make_key("admin")
    got = await push(town, admin, message(trip_update("e1", "X1", delays=[(1, "S", 60)])), feed="city")
    assert got["trip_updates"] == 1


async def test_concurrent_pushes_of_one_feed_take_turns(app, town, town_key):
    import asyncio

    stamps = [at("07:1" + str(k)) for k in range(6)]
    answers = await asyncio.gather(*(
        push(town, town_key, message(trip_update("e1", "T1", delays=[(1, "A", k * 60)], ts=ts)))
        for k, ts in enumerate(stamps)))
    assert sorted(a["revision"] for a in answers) == [1, 2, 3, 4, 5, 6]     # one writer at a time
    # whatever order they ran in, the newest measurement is what stays
    rows = await app[DB].fetch("SELECT produced_ts, body FROM realtime_trip_updates")
    assert [(r["produced_ts"], r["body"]["stop_updates"][0]["arrival"]["delay"]) for r in rows] == [
        (stamps[-1], 5 * 60)]
    assert sum(a["reasons"].get("stale_timestamp", 0) for a in answers) + \
        sum(a["trip_updates"] for a in answers) == 6


async def test_stops_are_matched_by_stop_sequence_first(app, town, town_key):
    got = await push(town, town_key, message(
        trip_update("e1", "T1", delays=[(2, "B", 60)]),            # sequence 2 is B: fits
        trip_update("e2", "T2", delays=[(9, None, 60)])))          # no sequence 9 on T2
    assert got["trip_updates"] == 1 and got["reasons"] == {"unknown_stop": 1}
