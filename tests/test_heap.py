"""maas/heap.py: a worker's heap frozen once it is ready, thawed by a new generation."""

from __future__ import annotations

import gc
import weakref

from maas import heap
from tests.polling import eventually


class _Node:
    pass


async def test_freeze_thaw_and_freeze_again(monkeypatch):
    heap.freeze()                      # not enabled (tests, commands): nothing happens
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(heap, "_enabled", True)
    monkeypatch.setattr(heap, "REFREEZE_S", 0.05)
    try:
        a, b = _Node(), _Node()
        a.other, b.other = b, a        # a cycle: only the collector frees it
        gone = weakref.ref(a)
        heap.freeze()
        assert gc.get_freeze_count() > 0
        del a, b
        gc.collect()
        assert gone() is not None      # frozen: never scanned
        heap.thaw()                    # a new generation replaced the snapshot
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert gone() is None          # the old cycle is reclaimed
        await eventually(lambda: gc.get_freeze_count() > 0, timeout=10,   # REFREEZE_S later
                         message="the heap frozen again")
    finally:
        if heap._pending is not None:
            heap._pending.cancel()
        heap._pending = None
        gc.unfreeze()
