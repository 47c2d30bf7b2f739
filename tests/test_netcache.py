"""maas.netcache: one compiled network per machine, mapped read-only by every worker."""

from __future__ import annotations

import multiprocessing as mp
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from maas.netcache import KEEP, network_key, shared_network
from routing.network import _array_fields, from_bytes, merge, to_bytes
from routing.planner import Planner


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
    net = shared_network(rows, Path(cache_dir))
    out.put((sorted(p for p in _mapped_files() if p.startswith(str(cache_dir))),
             int(net.st_dep.sum())))


def test_two_processes_map_the_same_files(rows, tmp_path):
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(rows, str(tmp_path), out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    (files_a, sum_a), (files_b, sum_b) = results
    key = network_key([(f, v) for f, v, _ in rows])
    assert files_a == files_b and any(f.endswith(f"/{key}/st_dep.npy") for f in files_a)
    assert sum_a == sum_b
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [key]   # built once


def test_mapped_network_equals_the_merged_one_and_is_read_only(rows, tmp_path):
    mine = merge([from_bytes(b) for _, _, b in rows])
    mapped = shared_network(rows, tmp_path)
    for name in _array_fields():
        a, b = getattr(mine, name), getattr(mapped, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert mapped.stop_names_i18n == mine.stop_names_i18n
    assert mapped.service_base_date == mine.service_base_date
    assert isinstance(mapped.st_dep, np.memmap)
    with pytest.raises(ValueError):
        mapped.st_dep[0] = 1
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
