"""Fixtures shared by the routing tests."""

from __future__ import annotations

import zipfile
from datetime import date

import pytest

from routing.planner import Planner


@pytest.fixture(scope="session")
def demo_planner(tmp_path_factory) -> Planner:
    """The Shandong demo network at scale 1, a week from Monday 2026-11-23, compiled and merged
    once per run (realtime states derive new planners from it; nothing mutates it)."""
    from feeds.compile import compile_feed
    from feeds.demo import write_demo_feeds
    from routing.network import merge

    out = tmp_path_factory.mktemp("demo")
    nets = []
    for name, _op, path in write_demo_feeds(out, start_date=date(2026, 11, 23), days=7, scale=1):
        with zipfile.ZipFile(path) as z:
            nets.append(compile_feed({m: z.read(m) for m in z.namelist()}, feed=name, version="1"))
    return Planner.build(merge(nets))
