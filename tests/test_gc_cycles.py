"""Requests leave no garbage cycles behind on the hot paths: a served worker's heap is frozen
(maas/heap.py) and what a request makes is freed by reference counts, so a cycle is what sets
the cyclic collector to work (and keeps the objects it reaches alive until a collection).

Found by a gc.callbacks count in a served worker (BENCHMARKS.md, fourteenth session, gc14):
every hold, confirm and cancel left its response body (`_Body`) in a cycle with its
Idempotency-Key record, and every replayed gate tap left the gate's `AlreadyUsed` in a cycle
with the batcher's frame. The collector is off in these tests, so a cycle shows as an object
that outlives its last reference."""

from __future__ import annotations

import gc
import weakref

import pytest

from maas.api.bookings import _Body
from maas.idempotency import Key
from maas.localtime import utc_zone
from ticketing.batcher import Batcher
from tests.polling import eventually


@pytest.fixture
def no_collector():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Used(Exception):
    pass


def test_a_booking_body_and_its_stored_response_make_no_cycle(no_collector):
    body = _Body(utc_zone, Key("account:1", "k-1", b"digest", b"{}"), 201)
    stored = body.stored
    assert stored is not None and stored.status == 201 and stored.render == body.render
    gone = weakref.ref(body)
    del body, stored
    assert gone() is None
    assert _Body(utc_zone, None).stored is None       # no Idempotency-Key: nothing stored


async def test_an_outcome_raised_by_a_batcher_makes_no_cycle(no_collector):
    async def run_batch(items):
        return [Used(item) for item in items]           # each item's outcome: an exception

    async def run_one(item):
        raise Used(item)

    batcher = Batcher(run_batch, run_one, key=lambda item: item, order=lambda item: item)
    try:
        await batcher.submit(1)
    except Used as used:
        gone = weakref.ref(used)
    # once the loop has let go of the step that woke us (it holds the future), nothing else
    # refers to the outcome: a cycle would keep it for good, the collector being off
    await eventually(lambda: gone() is None, timeout=2, message="the raised outcome is freed")
