"""A `maas serve` worker outlives no supervisor: the parent-pid watch (the portable fallback of
PR_SET_PDEATHSIG; tests/faults/test_faults.py kills a real supervisor) stops a worker whose
parent is no longer the supervisor it was started by, and leaves one whose parent is alone."""

from __future__ import annotations

import asyncio
import os

from maas.serve import _watch_parent


async def test_the_watch_stops_a_worker_whose_supervisor_is_gone() -> None:
    stop = asyncio.Event()
    gone = os.getppid() + 1          # not our parent: as after the supervisor died
    await asyncio.wait_for(_watch_parent(gone, stop), 30)
    assert stop.is_set()


async def test_the_watch_leaves_a_supervised_worker_alone() -> None:
    stop = asyncio.Event()
    watch = asyncio.create_task(_watch_parent(os.getppid(), stop))
    for _ in range(3):               # a few looks of the watch (PARENT_WATCH_S each)
        await asyncio.sleep(0)
    assert not stop.is_set() and not watch.done()
    stop.set()                       # a normal stop ends the watch too
    await asyncio.wait_for(watch, 30)
