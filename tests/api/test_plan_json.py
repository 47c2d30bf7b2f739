"""maas.api.plan_json's shortcuts write what the general encoders write."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pydantic_core import to_json

from maas.api import plan_json


def test_times_from_tables_are_isoformat():
    plan_json.clear()
    rng = random.Random(7)
    zones = [ZoneInfo(z) for z in ("America/New_York", "Asia/Shanghai", "Asia/Kathmandu",
                                   "Europe/London", "Pacific/Chatham", "UTC")]
    zones += [timezone.utc, timezone(timedelta(hours=-3, minutes=-30))]
    times = [datetime(2026, 3, 8, 6, 59, 59, tzinfo=timezone.utc),   # New York's DST starts
             datetime(2026, 11, 1, 5, 30, tzinfo=timezone.utc),      # ... and ends (fold)
             datetime(1850, 1, 1, 12, tzinfo=timezone.utc),          # local mean time: +HH:MM:SS
             datetime(2026, 5, 1, 12, 0, 0, 250, tzinfo=timezone.utc),
             datetime(2026, 5, 1, 12, 0, 0)]                         # naive: no offset
    times += [datetime.fromtimestamp(rng.randrange(1_500_000_000, 1_900_000_000), timezone.utc)
              for _ in range(3000)]
    for _ in range(2):                      # first seen, then from the tables
        for t in times:
            for z in zones:
                local = t.astimezone(z) if t.tzinfo is not None else t
                assert plan_json._iso(local) == local.isoformat()
    folded = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York"))
    assert plan_json._iso(folded) == folded.isoformat() == "2026-11-01T01:30:00-05:00"


def test_walk_distances_are_written_as_pydantic_core_writes_floats():
    rng = random.Random(3)
    values = [0, -0.0, 0.0001, 0.00009, 1e-7, 12, 300.0, 1e15, 1e16, 3.5e17, 1234.5]
    values += [round(rng.uniform(0, 30000), 1) for _ in range(5000)]
    values += [10 ** rng.uniform(-8, 20) for _ in range(5000)]
    for v in values:
        assert plan_json._float(v) == to_json(float(v)).decode()


def test_money_is_written_once_per_amount_and_currency():
    plan_json.clear()
    assert plan_json.money_json(1250, "CNY") == b'{"amount":"12.50","currency":"CNY"}'
    assert plan_json.money_json(-5, "EUR") == b'{"amount":"-0.05","currency":"EUR"}'
    assert plan_json.money_json(1250, "EUR") == b'{"amount":"12.50","currency":"EUR"}'


def test_legs_named_in_any_script_are_the_models_utf8():
    """Leg texts are kept as pydantic-core's UTF-8 bytes: a name that is not ASCII is the
    model's bytes, a transit leg's (memoised) and a walk's."""
    from maas.api.plan import _leg
    from routing.itinerary import LegKey, Place, new_leg

    plan_json.clear()
    zone = ZoneInfo("Asia/Shanghai")
    dep, arr = datetime(2026, 11, 25, 7, 5, tzinfo=zone), datetime(2026, 11, 25, 7, 41, tzinfo=zone)
    a = Place(id="bus:A", name="人民广场", lat=31.2304, lon=121.4737, tz="Asia/Shanghai")
    b = Place(id="bus:B", name="Café \"Süd\"", lat=31.25, lon=121.5, tz="Asia/Shanghai")
    mid = Place(id="bus:M", name="徐家汇 🚏", lat=31.19, lon=121.43, tz="Asia/Shanghai")
    key = LegKey(trip_id="bus:T1", service_date=dep.date(), board_pos=0, alight_pos=2,
                 from_stop="bus:A", to_stop="bus:B", departure=dep.astimezone(timezone.utc),
                 arrival=arr.astimezone(timezone.utc))
    ride = new_leg(mode="bus", from_place=a, to_place=b, departure=dep, arrival=arr,
                   duration_s=2160, feed="bus", trip_id="bus:T1", route_id="bus:1",
                   route_short_name="1路", route_long_name="人民广场—南站", operator="巴士",
                   headsign="南站", stops=2, key=key, scheduled_departure=dep,
                   scheduled_arrival=arr, delay_s=0, trip_short_name="1路", intermediate=(mid,))
    walk = new_leg(mode="walk", from_place=b, to_place=a, departure=arr,
                   arrival=arr + timedelta(minutes=3), duration_s=180, distance_m=201.5)
    for leg in (ride, ride, walk):
        text = plan_json.leg_json(leg, memo=leg.key is not None)
        assert isinstance(text, bytes)
        assert text + b"null}" == _leg(leg).model_dump_json(by_alias=True).encode()
