"""Query.of: the Query `to_query` builds on every plan request, without the frozen
dataclass's per-field __init__; the same value as Query(...), still frozen."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from routing.planner import Query

_FIELDS = dict(origin="nyc:127N", destination=(40.75, -73.99), date=date(2018, 6, 12),
               time_s=33300, arrive_by=False, window_s=0, modes=frozenset({"subway"}),
               max_transfers=2, wheelchair=True, max_walk_m=250.0, min_transfer_s=None, limit=3,
               via=("nyc:A27",), via_min_stay_s=60, walk_speed_mps=1.1, extra_transfer_s=0,
               transfer_penalty_s=600, step_free=True)


def test_query_of_is_query():
    q = Query.of(**_FIELDS)
    assert type(q) is Query
    assert q == Query(**_FIELDS) and hash(q) == hash(Query(**_FIELDS))
    assert repr(q) == repr(Query(**_FIELDS))
    assert dataclasses.asdict(q) == _FIELDS
    assert dataclasses.replace(q, time_s=0) == Query(**{**_FIELDS, "time_s": 0})
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.time_s = 0    # type: ignore[misc]


@pytest.mark.parametrize("fields", [
    {k: v for k, v in _FIELDS.items() if k != "step_free"},   # a default is not filled in
    {**_FIELDS, "stepfree": True},
])
def test_query_of_takes_every_field_and_no_other(fields):
    with pytest.raises(TypeError):
        Query.of(**fields)
