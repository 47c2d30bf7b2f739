"""Per-request metrics written in batches (maas/metric_batch.py): the same exposition as
prometheus-client's own inc()/observe(), in one process and in multiprocess mode."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from maas.metric_batch import MetricBatch
from tests.polling import eventually

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# on a bound, between bounds, past the last one (+Inf), zero, a NaN (no bucket)
VALUES = [0.0, 0.001, 0.0011, 0.0025, 0.003, 0.7, 1.0, 10.0, 10.5, 1e9, 0.0004, float("nan")]


def _series(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    c = Counter("t_requests_total", "requests", ["route", "status"], registry=registry)
    h = Histogram("t_request_seconds", "latency", ["route"], buckets=BUCKETS, registry=registry)
    return c, h


def _samples(registry: CollectorRegistry) -> list[str]:
    # every sample line but the `_created` timestamps (they differ between two registries)
    return [line for line in generate_latest(registry).decode().splitlines()
            if line and not line.startswith("#") and "_created" not in line]


def test_a_flushed_batch_reads_as_the_same_calls_made_one_by_one():
    direct, batched = CollectorRegistry(), CollectorRegistry()
    dc, dh = _series(direct)
    bc, bh = _series(batched)
    batch = MetricBatch()   # no running loop here: it writes at once; hold it by hand
    batch._timer = object()  # type: ignore[assignment]  # as if a flush were due later
    for i, v in enumerate(VALUES * 3):
        route = "/a" if i % 3 else "/b"
        dc.labels(route, "200").inc()
        dh.labels(route).observe(v)
        batch.inc(bc.labels(route, "200"))
        batch.observe(bh.labels(route), v)
    assert _samples(batched) != _samples(direct)   # held, not yet written
    batch._timer = None
    batch.flush()
    assert _samples(batched) == _samples(direct)
    assert any('t_request_seconds_bucket{le="+Inf",route="/a"}' in s for s in _samples(direct))


async def test_what_is_held_is_written_by_the_timer():
    registry = CollectorRegistry()
    c, h = _series(registry)
    batch = MetricBatch(flush_s=0.01)
    batch.inc(c.labels("/a", "200"), 2)
    batch.observe(h.labels("/a"), 0.003)
    assert c.labels("/a", "200")._value.get() == 0   # held
    await eventually(lambda: c.labels("/a", "200")._value.get() == 2)
    assert registry.get_sample_value("t_request_seconds_count", {"route": "/a"}) == 1
    assert registry.get_sample_value("t_request_seconds_bucket", {"route": "/a", "le": "0.005"}) == 1
    assert batch._timer is None   # nothing held: no timer armed


def test_multiprocess_mode_files_hold_the_same_values(tmp_path):
    # prometheus-client picks its value class at import: a fresh interpreter per mode
    script = textwrap.dedent(f"""
        import math, sys
        from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
        from prometheus_client import multiprocess
        from maas.metric_batch import MetricBatch
        batched = sys.argv[1] == "batched"
        c = Counter("t_requests_total", "requests", ["route"])
        h = Histogram("t_request_seconds", "latency", ["route"], buckets={BUCKETS!r})
        batch = MetricBatch()
        batch._timer = object()
        for v in {VALUES[:-1]!r} * 2:
            if batched:
                batch.inc(c.labels("/a")); batch.observe(h.labels("/a"), v)
            else:
                c.labels("/a").inc(); h.labels("/a").observe(v)
        batch._timer = None
        batch.flush()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        print(generate_latest(registry).decode())
    """)
    out = {}
    for mode in ("direct", "batched"):
        folder = tmp_path / mode
        folder.mkdir()
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
        done = subprocess.run([sys.executable, "-c", script, mode], env=env, capture_output=True,
                              text=True, timeout=120, check=True)
        out[mode] = sorted(line for line in done.stdout.splitlines() if line and not line.startswith("#"))
    assert out["batched"] == out["direct"]
    assert 't_requests_total{route="/a"} 22.0' in out["direct"]
    assert not any(math.isnan(float(line.rsplit(" ", 1)[1])) for line in out["direct"])
