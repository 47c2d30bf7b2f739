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
    assert plan_json.money_json(1250, "CNY") == '{"amount":"12.50","currency":"CNY"}'
    assert plan_json.money_json(-5, "EUR") == '{"amount":"-0.05","currency":"EUR"}'
    assert plan_json.money_json(1250, "EUR") == '{"amount":"12.50","currency":"EUR"}'
