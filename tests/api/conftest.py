"""Fixtures shared by the HTTP tests of bookings and check-in."""

from __future__ import annotations

import pytest

from maas.appkeys import LIVE
from maas.live import Snapshot
from routing.planner import Planner
from ticketing.sample import sample_network

SAMPLE = sample_network()


@pytest.fixture
async def live(client, app):  # type: ignore[no-untyped-def]
    """The client, with the sample bus + rail network live and plannable."""
    app[LIVE].current = Snapshot(network=SAMPLE, planner=Planner.build(SAMPLE), loaded=True,
                                 versions=dict(zip(SAMPLE.feeds, SAMPLE.feed_versions)))
    return client
