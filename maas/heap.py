"""The cyclic garbage collector and a worker's long-lived heap.

A worker's heap is mostly what it built before serving: the network, the planner, the stop
index, the modules (~350k tracked objects for the demo at scale 1). CPython's collector scans
all of them again in every full collection, which the objects that requests leave behind set
off now and then: one such collection took 0.45 s on the loaded 2-core machine; a worker
that froze spent ~10 % less CPU per /healthz and /v1/plan request (BENCHMARKS.md). `freeze()`
once the worker is ready moves them to the permanent generation, which no collection scans.

A frozen object that becomes garbage is still freed by its reference count; only garbage
*cycles* among frozen objects would stay. So a new network generation thaws the heap at
once (`thaw()`: the collector may reclaim the old generation's cycles again) and freezes it
again REFREEZE_S later, when no request still holds the old snapshot.

Only `maas serve` workers freeze (`enable()`); elsewhere (tests, commands) nothing changes.
"""

from __future__ import annotations

import asyncio
import gc

__all__ = ["enable", "freeze", "thaw", "REFREEZE_S"]

REFREEZE_S = 30.0

_enabled = False
_pending: asyncio.TimerHandle | None = None


def enable() -> None:
    """This process freezes its heap (a `maas serve` worker): call before `freeze()`."""
    global _enabled
    _enabled = True


def freeze() -> None:
    """Collect what is garbage now and freeze the rest (no-op unless enabled)."""
    global _pending
    _pending = None
    if _enabled:
        gc.collect()
        gc.freeze()


def thaw() -> None:
    """A snapshot was replaced: unfreeze now, freeze again REFREEZE_S later (from the
    event loop's thread; no-op unless enabled)."""
    global _pending
    if not _enabled:
        return
    gc.unfreeze()
    if _pending is not None:
        _pending.cancel()
    _pending = asyncio.get_running_loop().call_later(REFREEZE_S, freeze)
