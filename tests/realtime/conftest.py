"""Fixtures of the realtime tests: the town and city feeds live, a frozen clock, an operator key."""

from __future__ import annotations

import pytest
from rt_messages import city_zip, town_zip, utc

from feeds.ingest import import_feed
from maas.appkeys import DB, LIVE
from maas.clock import FrozenClock

TOWN_OP = "town-op"


@pytest.fixture
def clock():
    return FrozenClock(utc("07:30"))       # 07:30 in town, Monday 2026-11-23


@pytest.fixture
async def town(app, client, tmp_path):
    """town (and city) published and active in this worker; returns the client."""
    for path, feed, op in ((town_zip(tmp_path), "town", TOWN_OP), (city_zip(tmp_path), "city", "city-op")):
        result = await import_feed(app[DB], path, feed=feed, operator_id=op, activate=True,
                                   today=utc("07:30").date())
        assert not result.rejected, result.report
    await app[LIVE].reload()
    return client


@pytest.fixture
async def town_key(make_key):
    return await make_key("operator", operator=TOWN_OP)
