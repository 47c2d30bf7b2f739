"""A planner on shared, read-only structures (routing.prebuilt: what maas.netcache maps from
disk) answers exactly like one that built its own, static and realtime, and never writes
into them; the structures are built once and reused; the trip index finds what a dict finds."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_bruteforce import networks
from test_realtime_bruteforce import updates

from routing.config import RoutingConfig
from routing.planner import Planner, Query
from routing.prebuilt import TripIndex, trip_arrays

CFG = RoutingConfig(max_transfers=12)
D = date(2026, 11, 26)


class ReadOnlyShared:
    """routing.prebuilt.Shared in memory: every array read-only, every build counted."""

    def __init__(self) -> None:
        self.kept: dict[str, dict[str, np.ndarray]] = {}
        self.builds: list[str] = []

    def arrays(self, name, build):
        if name not in self.kept:
            self.builds.append(name)
            got = {k: np.array(v) for k, v in build().items()}
            for a in got.values():
                a.flags.writeable = False
            self.kept[name] = got
        return self.kept[name]


def _rides(its) -> list[tuple]:
    return [(it.id, tuple((leg.departure, leg.arrival, leg.delay_s) for leg in it.legs))
            for it in its]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=st.data())
def test_a_planner_on_shared_read_only_structures_answers_like_its_own(data):
    net, names = data.draw(networks())
    own = Planner.build(net, CFG)
    assume(own.valid_from <= D <= own.valid_to)
    shared = ReadOnlyShared()
    mapped = Planner.build(net, CFG, shared)
    ups = data.draw(updates(own))
    a, b = data.draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
    secs = data.draw(st.integers(5, 11)) * 3600
    queries = [Query(f"t:{a}", f"t:{b}", D, secs, limit=50),
               Query(f"t:{a}", f"t:{b}", D, secs + 3 * 3600, arrive_by=True, limit=50),
               Query(f"t:{a}", f"t:{b}", D, secs, window_s=4 * 3600, limit=50)]
    for q in queries:
        assert _rides(mapped.plan(q)) == _rides(own.plan(q)), q
    rt_own, rt_mapped = own.with_realtime(ups), mapped.with_realtime(ups)   # overlays copy
    for q in queries:
        assert _rides(rt_mapped.plan(q)) == _rides(rt_own.plan(q)), q
    for u in ups:
        assert mapped.check_update(u) == own.check_update(u)
    built = list(shared.builds)
    assert {"patterns", "footpaths", "patterns-rev", "footpaths-rev", "trips",
            f"day-{D}-fwd", f"day-{D}-rev"} <= set(built)
    again = Planner.build(net, CFG, shared)      # another process of the machine: maps, builds nothing
    for q in queries:
        assert _rides(again.plan(q)) == _rides(own.plan(q)), q
    assert shared.builds == built


@pytest.mark.parametrize("kind", [object, str])
def test_the_trip_index_finds_what_a_dict_finds(kind):
    ids = np.array(["b:2", "a:1", "c:3", "a:10", "b:1"], dtype=kind)
    index = TripIndex(trip_arrays(ids))
    expected = {str(t): i for i, t in enumerate(ids)}
    assert {k: index[k] for k in expected} == expected
    assert len(index) == 5 and sorted(index) == sorted(expected)
    for missing in ("a:", "a:1\x00", "z:9", "", "b:10"):
        assert index.get(missing) is None and missing not in index
    assert index.get(3) is None
    with pytest.raises(KeyError):
        index["z:9"]
    assert TripIndex(trip_arrays(np.zeros(0, dtype=kind))).get("a:1") is None
