"""feeds/realtime.py and feeds/alerts.py: FeedMessage bytes -> plain data, and alert questions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2 as rt
from rt_messages import alert, at, deleted, message, trip_update

from feeds.alerts import Alert, InformedEntity, is_active, select, text, touching
from feeds.errors import NotProtobuf
from feeds.realtime import parse
from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate

DATA = Path(__file__).resolve().parents[1] / "data" / "realtime"
TODAY = date(2026, 11, 23)


def test_a_delay_a_time_and_a_skipped_stop_become_namespaced_updates():
    body = message(trip_update("e1", "T1", delays=[(2, "B", 300)], times=[(4, None, at("08:36"))],
                               skipped=[(3, "C")], ts=at("07:59")), ts=at("08:00"))
    msg = parse(body, feed="town", default_date=TODAY)
    assert msg.full_dataset and msg.timestamp == at("08:00") and not msg.skipped
    assert msg.trip_updates == (("e1", TripUpdate(
        trip_id="town:T1", service_date=TODAY, timestamp=at("07:59"), stop_updates=(
            StopTimeUpdate(2, "town:B", StopTimeEvent(delay=300), StopTimeEvent(delay=300)),
            StopTimeUpdate(3, "town:C", skipped=True),
            StopTimeUpdate(4, None, StopTimeEvent(time=at("08:36")), StopTimeEvent(time=at("08:36"))),
        ))),)


def test_cancelled_trip_undated_trip_and_the_header_timestamp_as_default():
    body = message(trip_update("e1", "town:T2", canceled=True, delays=[(1, "A", 60)]),
                   trip_update("e2", "T1", start_date=None), ts=at("08:00"), full=False)
    msg = parse(body, feed="town", default_date=TODAY)
    assert not msg.full_dataset and msg.undated == {"e2"}
    (_, cancelled), (_, undated) = msg.trip_updates
    assert cancelled == TripUpdate("town:T2", TODAY, canceled=True, timestamp=at("08:00"))
    assert undated.service_date == TODAY and undated.timestamp == at("08:00")


def test_deleted_entities_vehicles_and_unsupported_trips_are_reported_not_taken():
    added = trip_update("e3", "NEW1")
    added.trip_update.trip.schedule_relationship = rt.TripDescriptor.ADDED
    vehicle = rt.FeedEntity(id="v1")
    vehicle.vehicle.trip.trip_id = "T1"
    no_trip = rt.FeedEntity(id="e4")
    no_trip.trip_update.trip.route_id = "R"
    msg = parse(message(deleted("e1"), deleted("e2", "T2"), added, vehicle, no_trip, full=False),
                feed="town", default_date=TODAY)
    assert msg.deleted == (("e1", None), ("e2", "town:T2"))
    assert [(s.entity_id, s.reason) for s in msg.skipped] == [
        ("e3", "unsupported_relationship"), ("v1", "vehicle_position"), ("e4", "no_trip_id")]
    assert msg.trip_updates == ()


def test_an_alert_keeps_its_selectors_periods_and_translations():
    body = message(alert("a1", header={"en": "Detour", "zh": "绕行"}, description={"en": "Via Bravo"},
                         periods=[(at("07:00"), at("12:00")), (None, None)],
                         informed=[{"route_id": "R", "stop_id": "B"}, {"agency_id": "A"}, {"trip_id": "T1"}]),
                   ts=at("06:00"))
    (a,) = parse(body, feed="town", default_date=TODAY).alerts
    assert a.id == "town:a1" and a.feed == "town" and a.timestamp == at("06:00")
    assert a.cause == "construction" and a.effect == "detour"
    assert a.active_periods == ((at("07:00"), at("12:00")), (None, None))
    assert a.informed == (InformedEntity(route="town:R", stop="town:B"), InformedEntity(agency="town:A"),
                          InformedEntity(trip="town:T1"))
    assert dict(a.header) == {"en": "Detour", "zh": "绕行"} and dict(a.description) == {"en": "Via Bravo"}


@pytest.mark.parametrize("body", [b"", b"not protobuf at all", b"\x0a\x05hello", b"\xff" * 40])
def test_bytes_that_are_not_a_feed_message_are_refused(body):
    with pytest.raises(NotProtobuf):
        parse(body, feed="town", default_date=TODAY)


def _nasty(case: str) -> bytes:
    m = rt.FeedMessage()
    m.header.gtfs_realtime_version = "2.0"
    e = m.entity.add()
    e.id = "a\x00" if case == "nul_id" else "a1"
    e.alert.header_text.translation.add(text="x\x00y" if case == "nul_text" else "x",
                                        language="\x00" if case == "nul_language" else "en")
    sel = e.alert.informed_entity.add()
    sel.stop_id = "S\x00" if case == "nul_stop" else "S"
    if case == "huge_header_timestamp":
        m.header.timestamp = 2**64 - 1
    if case == "huge_period_end":
        e.alert.active_period.add(end=2**63)
    if case == "negative_event_time":
        t = m.entity.add(id="t1").trip_update
        t.trip.trip_id = "T1"
        t.stop_time_update.add(stop_sequence=1).departure.time = -(2**62)
    return m.SerializeToString()


@pytest.mark.parametrize("case", ["nul_id", "nul_text", "nul_language", "nul_stop",
                                  "huge_header_timestamp", "huge_period_end", "negative_event_time"])
def test_values_no_store_or_answer_could_hold_are_refused(case):
    # each of these reached PostgreSQL (NUL text, bigint overflow) or datetime and gave a 500
    with pytest.raises(NotProtobuf):
        parse(_nasty(case), feed="town", default_date=TODAY)
    parse(_nasty("fine"), feed="town", default_date=TODAY)


def test_the_real_sound_transit_snapshot():
    raw = (DATA / "soundtransit-link-2023-trip-updates-1683740698.json").read_text()
    body = json_format.Parse(raw, rt.FeedMessage()).SerializeToString()
    msg = parse(body, feed="st", default_date=date(2023, 5, 10))
    assert msg.full_dataset and msg.timestamp == 1683740698
    assert len(msg.trip_updates) == 13 and [s.reason for s in msg.skipped] == ["unsupported_relationship"]
    expected = {e["id"] for e in json.loads(raw)["entity"]
                if e["trip_update"]["trip"]["schedule_relationship"] == "SCHEDULED"}
    assert {eid for eid, _ in msg.trip_updates} == expected
    for _, u in msg.trip_updates:
        assert u.trip_id.startswith("st:LLR_") and u.service_date == date(2023, 5, 10)
        assert all(s.stop_id.startswith("st:") and s.stop_sequence for s in u.stop_updates)


# --- alerts ---------------------------------------------------------------------------------


def _alert(periods=(), informed=(), header=None) -> Alert:
    return Alert(id="town:a", feed="town", active_periods=periods, informed=informed,
                 header=header or {}, description={}, url={})


def test_active_periods_start_inclusive_end_exclusive_open_ends_and_none_means_always():
    assert is_active(_alert(), 5)
    a = _alert(periods=((10, 20), (30, None)))
    assert [t for t in (9, 10, 19, 20, 29, 30, 10**9) if is_active(a, t)] == [10, 19, 30, 10**9]
    assert is_active(_alert(periods=((None, 5),)), 4) and not is_active(_alert(periods=((None, 5),)), 5)


def test_text_in_the_asked_language_with_a_fallback():
    texts = {"en": "Detour", "zh-Hans": "绕行", "de": "Umleitung"}
    assert text(texts, "de") == ("de", "Umleitung")
    assert text(texts, "ZH-hans") == ("zh-Hans", "绕行")
    assert text(texts, "zh") == ("zh-Hans", "绕行") and text(texts, "zh-CN") == ("zh-Hans", "绕行")
    assert text(texts, "fr") == ("en", "Detour") and text(texts, None) == ("en", "Detour")
    assert text({"": "Umleitung", "en": "Detour"}, "fr") == (None, "Umleitung")
    assert text({"ko": "우회"}, "fr") == ("ko", "우회") and text({}, "en") == (None, None)


def test_a_selector_is_a_conjunction_and_touches_a_leg_by_any_stop_it_calls_at():
    route_at_b = _alert(informed=(InformedEntity(route="town:R", stop="town:B"),))
    leg = dict(start=0, end=600, agency="town:A", route="town:R", route_type=3, trip="town:T1")
    assert touching([route_at_b], stops=["town:A", "town:B", "town:C"], **leg) == [route_at_b]
    assert touching([route_at_b], stops=["town:C", "town:D"], **leg) == []
    other_route = dict(leg, route="town:Q")
    assert touching([route_at_b], stops=["town:B"], **other_route) == []
    agency = _alert(informed=(InformedEntity(agency="town:A"),))
    assert touching([agency], stops=[], **other_route) == [agency]
    assert touching([_alert(informed=(InformedEntity(),))], stops=["town:B"], **leg) == []
    expired = _alert(periods=((None, 0),), informed=(InformedEntity(agency="town:A"),))
    assert touching([expired], stops=[], **leg) == []
    during = _alert(periods=((500, 900),), informed=(InformedEntity(agency="town:A"),))
    later = _alert(periods=((601, None),), informed=(InformedEntity(agency="town:A"),))
    assert touching([during, later], stops=[], **leg) == [during]   # while the leg travels


def test_select_filters_by_feed_stop_route_and_activity():
    at_b = _alert(informed=(InformedEntity(stop="town:B"),))
    on_r = Alert(id="city:b", feed="city", active_periods=(), header={}, description={}, url={},
                 informed=(InformedEntity(route="city:K"),))
    old = _alert(periods=((0, 10),), informed=(InformedEntity(stop="town:B"),))
    every = [at_b, on_r, old]
    assert select(every, now=100) == [at_b, on_r]
    assert select(every, now=5, stop="town:B") == [at_b, old]
    assert select(every, now=100, feed="city") == [on_r] and select(every, now=100, route="city:K") == [on_r]
    assert select(every, now=100, route="town:R") == []
