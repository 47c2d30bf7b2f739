"""Per-request metrics summed in plain Python and written to prometheus-client in batches.

With several workers prometheus-client runs in multiprocess mode: every `inc()` or
`observe()` takes a lock, checks the pid and writes a float into a memory-mapped file, and
a request made three such writes (its count, and its latency's sum and bucket): ~3 us of
a worker's CPU, the same again in Python around them. A `MetricBatch` adds each value to a
dict instead (~0.2 us) and writes the sums to the labelled children at most `FLUSH_S`
after the first value it holds (one timer, armed only while something waits), before
`/metrics` answers (so one process's own scrape is exact) and when the app stops.

The cost: with several workers, `/metrics` shows another worker's requests up to
`FLUSH_S` late (a scrape every 15 s or more never notices). Names, labels and buckets are
prometheus-client's own, unchanged.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from typing import Any, Callable

from aiohttp import web

__all__ = ["MetricBatch", "METRIC_BATCH", "FLUSH_S"]

FLUSH_S = 1.0


class MetricBatch:
    """Counter increments and histogram observations of labelled children, held until
    `flush()` adds them (one `inc` per child and bucket instead of one per request). Called
    from the event loop's thread only (handlers and middleware), like the loop's timer."""

    def __init__(self, flush_s: float = FLUSH_S) -> None:
        self.flush_s = flush_s
        self._counts: dict[Any, float] = {}        # counter child -> amount to add
        self._observed: dict[Any, list[float]] = {}   # histogram child -> [sum, n per bucket...]
        self._bounds: dict[Any, list[float]] = {}   # histogram child -> its buckets' upper bounds
        self._timer: asyncio.TimerHandle | None = None
        self._before: list[Callable[[], None]] = []

    def drain_first(self, source: Callable[[], None]) -> None:
        """Call `source` at every flush, before the sums are written: who holds values of
        their own for this batch (maas.middleware's RequestLedger) adds them then, and
        calls `expect()` when it starts holding some."""
        self._before.append(source)

    def expect(self) -> None:
        """A source holds values for this batch: flush within `flush_s` (they are written
        at most `flush_s` late, as the batch's own)."""
        if self._timer is None:
            self._arm()

    def inc(self, child: Any, amount: float = 1.0) -> None:
        counts = self._counts
        counts[child] = counts.get(child, 0.0) + amount
        if self._timer is None:
            self._arm()

    def observe(self, child: Any, value: float) -> None:
        slot = self._observed.get(child)
        if slot is None:
            bounds = self._bounds.get(child)
            if bounds is None:
                bounds = self._bounds[child] = list(child._upper_bounds)
            slot = self._observed[child] = [0.0] * (len(bounds) + 1)
        else:
            bounds = self._bounds[child]
        slot[0] += value
        # the bucket prometheus-client's observe() picks: the first bound >= value (the
        # last is +Inf); a NaN has none there, and none here (bisect would say the first)
        if value == value:
            slot[bisect_left(bounds, value) + 1] += 1
        if self._timer is None:
            self._arm()

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:        # no loop (a command, a test without one): write now
            self.flush()
            return
        self._timer = loop.call_later(self.flush_s, self.flush)

    def flush(self) -> None:
        """Write what is held to the children (their values, or their mmap files)."""
        for source in self._before:
            source()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        counts, self._counts = self._counts, {}
        observed, self._observed = self._observed, {}
        for child, amount in counts.items():
            child.inc(amount)
        for child, slot in observed.items():
            # Histogram.observe() is `_sum.inc(value)` and one bucket's `inc(1)`: the same
            # sums, n at a time (prometheus-client keeps buckets uncumulated)
            child._sum.inc(slot[0])
            buckets = child._buckets
            for i in range(1, len(slot)):
                if slot[i]:
                    buckets[i - 1].inc(slot[i])


METRIC_BATCH = web.AppKey("metric_batch", MetricBatch)
