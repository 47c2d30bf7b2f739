"""maas.netcache: one compiled network per machine, mapped read-only by every worker."""

from __future__ import annotations

import multiprocessing as mp
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from maas.netcache import (
    DAYS_KEPT,
    KEEP,
    config_key,
    network_key,
    shared_generation,
    shared_network,
)
from routing.config import RoutingConfig
from routing.network import _array_fields, from_bytes, merge, to_bytes
from routing.planner import Planner

DAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    from feeds.compile import compile_feed
    from feeds.demo import write_demo_feeds

    out = tmp_path_factory.mktemp("demo")
    found = []
    for name, _op, path in write_demo_feeds(out, start_date=date(2026, 11, 23), days=3, scale=0.2):
        with zipfile.ZipFile(path) as z:
            net = compile_feed({m: z.read(m) for m in z.namelist()}, feed=name, version="v1")
        found.append((name, "v1", to_bytes(net)))
    return found


def _mapped_files(pid: int | str = "self") -> set[str]:
    with open(f"/proc/{pid}/maps") as f:
        return {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}


def _worker(rows, cache_dir, out):
    gen = shared_generation(rows, Path(cache_dir))
    planner = Planner.build(gen.network, RoutingConfig(), gen.shared(RoutingConfig()))
    day = planner.day(DAY)
    out.put((sorted(p for p in _mapped_files() if p.startswith(str(cache_dir))),
             (int(gen.network.st_dep.sum()), int(day.t_dep.sum()), len(planner.trip_index))))


def test_two_processes_map_the_same_files(rows, tmp_path):
    """The network and the planner's structures (patterns, footpaths, trip index, an
    expanded day) are built once and both processes map the same files."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(rows, str(tmp_path), out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]     # bounded; generous on a loaded machine
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0, p.exitcode
    (files_a, sums_a), (files_b, sums_b) = results
    key = network_key([(f, v) for f, v, _ in rows])
    planner_dir = tmp_path / key / f"planner-{config_key(RoutingConfig())}"
    assert files_a == files_b, set(files_a) ^ set(files_b)
    for path in (tmp_path / key / "st_dep.npy", tmp_path / key / "trip_id.npy",
                 planner_dir / "patterns" / "stops.npy", planner_dir / "footpaths" / "to.npy",
                 planner_dir / "patterns-rev" / "stops.npy", planner_dir / "trips" / "trip_sorted.npy",
                 planner_dir / f"day-{DAY}-fwd" / "t_dep.npy"):
        assert str(path) in files_a, path
    assert sums_a == sums_b
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [key]   # built once
    assert [p.name for p in (tmp_path / key).iterdir() if p.is_dir()] == [planner_dir.name]


def test_mapped_network_equals_the_merged_one_and_is_read_only(rows, tmp_path):
    mine = merge([from_bytes(b) for _, _, b in rows])
    mapped = shared_network(rows, tmp_path)
    for name in _array_fields():
        a, b = getattr(mine, name), getattr(mapped, name)
        if a.dtype == object:    # string columns: fixed-width unicode, mapped like the numbers
            assert b.dtype.kind == "U" and a.tolist() == b.tolist(), name
        else:
            assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert mapped.stop_names_i18n == mine.stop_names_i18n
    assert mapped.service_base_date == mine.service_base_date
    key = network_key([(f, v) for f, v, _ in rows])
    files = _mapped_files()
    assert str(tmp_path / key / "st_dep.npy") in files
    assert str(tmp_path / key / "trip_id.npy") in files
    with pytest.raises(ValueError):
        mapped.st_dep[0] = 1
    with pytest.raises(ValueError):
        mapped.trip_id[0] = "x"
    a = mine.stop_id[0]
    b = mapped.stop_id[mapped.n_stops - 1]
    plans = Planner.build(mapped)   # the planner builds on read-only arrays
    assert plans.stop(a) == 0 and plans.stop(b) == mapped.n_stops - 1


def test_old_generations_are_pruned(rows, tmp_path):
    keys = []
    for i in range(KEEP + 2):
        versioned = [(f, f"v{i}", b) for f, _, b in rows[:1]]
        shared_network(versioned, tmp_path)
        keys.append(network_key([(f, v) for f, v, _ in versioned]))
    left = {p.name for p in tmp_path.iterdir() if p.is_dir()}
    assert keys[-1] in left and keys[0] not in left and len(left) == KEEP


def test_expanded_days_are_kept_up_to_a_bound(rows, tmp_path):
    gen = shared_generation(rows, tmp_path)
    shared = gen.shared(RoutingConfig())
    built = []
    for k in range(DAYS_KEPT + 2):
        shared.arrays(f"day-test-{k:02d}", lambda k=k: built.append(k) or {"x": np.arange(k + 1)})
    days = sorted(p.name for p in shared.path.iterdir() if p.is_dir() and p.name.startswith("day-"))
    assert len(days) == DAYS_KEPT and days[-1] == f"day-test-{DAYS_KEPT + 1:02d}"
    assert built == list(range(DAYS_KEPT + 2))
    got = shared.arrays(f"day-test-{DAYS_KEPT + 1:02d}", lambda: pytest.fail("built again"))
    assert got["x"].tolist() == list(range(DAYS_KEPT + 2)) and not got["x"].flags.writeable


def test_stop_index_is_built_once_mapped_and_answers_like_the_in_memory_one(rows, tmp_path):
    """The stop search index's arrays live in the generation (mapped read-only, no per-key
    strings in a worker) and every query answers exactly as an index built in memory."""
    from routing.stops import StopIndex

    mine = merge([from_bytes(b) for _, _, b in rows])
    gen = shared_generation(rows, tmp_path)
    shared = gen.shared(RoutingConfig())
    mapped = StopIndex.build(gen.network, shared)
    again = StopIndex.build(gen.network, gen.shared(RoutingConfig()))
    in_memory = StopIndex.build(mine)
    files = _mapped_files()
    assert str(shared.path / "stop-index" / "key_blob.npy") in files
    assert not mapped.weight.flags.writeable and not again.weight.flags.writeable
    names = [str(x) for x in mine.stop_name[:40]]
    english = [d["en"] for d in list(mine.stop_names_i18n.values())[:40] if "en" in d]
    queries = [*names, *english, *(n[:2] for n in names), *(e.lower()[1:] for e in english),
               "jinanxi", "ji3 nan2 xi1", "qingdao airport", "qingdoa", "jnanxi", "zz", "1"]
    for q in queries:
        assert mapped.search(q) == in_memory.search(q) == again.search(q), q
    lat, lon = float(mine.stop_lat[0]), float(mine.stop_lon[0])
    assert mapped.near(lat, lon, 2000) == in_memory.near(lat, lon, 2000)
    assert [mapped.modes(p) for p in range(mine.n_stops)] == \
        [in_memory.modes(p) for p in range(mine.n_stops)]


def test_translations_are_mapped_and_looked_up_like_a_dict(rows, tmp_path):
    mine = merge([from_bytes(b) for _, _, b in rows])
    names = shared_network(rows, tmp_path).stop_names_i18n
    assert len(names) == len(mine.stop_names_i18n) > 0
    for s in range(mine.n_stops):
        assert names.get(s) == mine.stop_names_i18n.get(s)
        assert (s in names) == (s in mine.stop_names_i18n)
    s = next(iter(mine.stop_names_i18n))
    assert names[np.int32(s)] == mine.stop_names_i18n[s]
    assert names.get(-1) is None and names.get("x", {}) == {} and mine.n_stops not in names
    with pytest.raises(KeyError):
        names[mine.n_stops]
