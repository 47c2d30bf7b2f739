"""Natural batching of one kind of statement per worker (group commit; issue 17, CPU per request).

A `Batcher` sends an item at once when none of its batches is in flight (no added latency at
low load). While one is, items queue; when it returns, the queued ones go as ONE batch (one
round trip, one transaction, one commit), at most `cap` of them, never two of one `key` (the
later waits for the next batch), sorted by `order` (a stable lock order: two workers' batches
cannot wait on each other in a cycle). Each item's outcome is handed back to its caller: a
value, or an exception instance `run_batch` put in the item's place, raised there.

If a batch of several fails as a whole (an error, a deadlock, a lost connection), each of its
items is run on its own (`run_one`, concurrently) so each gets its own outcome: an outage
still fails only the requests concerned, each with its own error. A batch of one that fails
raises its error as a lone statement would. No SQL here (the stores run the statements).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from typing import Any, Awaitable, Callable, Generic, Hashable, Sequence, TypeVar

__all__ = ["Batcher", "CAP"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
CAP = 64


class Batcher(Generic[T, R]):
    """Items of one statement kind, batched while a batch is in flight (one batcher per
    worker and kind). `sizes` counts batches by size (each fallback item counts as a batch
    of one in `fallbacks`)."""

    def __init__(self, run_batch: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
                 run_one: Callable[[T], Awaitable[R]], key: Callable[[T], Hashable],
                 order: Callable[[T], Any], cap: int = CAP) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        self.run_batch, self.run_one, self.key, self.order, self.cap = run_batch, run_one, key, order, cap
        self.sizes: Counter[int] = Counter()
        self.fallbacks = 0
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """A batch is in flight (or about to be sent)."""
        return self._task is not None

    async def submit(self, item: T) -> R:
        """The item's outcome (raises the exception that is its outcome)."""
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, fut))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        try:
            return await fut
        finally:
            # an outcome raised here holds this frame in its traceback, and the future holds the
            # outcome: without the future the frame makes no cycle, and the exception and what
            # it refers to are freed by their reference counts, not left to the collector
            del fut

    def log_sizes(self, logger: logging.Logger, what: str) -> None:
        """Log (INFO, on `logger`, as `what`) how many batches went and of which sizes, and how
        many items ran alone after a failed batch; nothing if no batch went (at shutdown)."""
        if self.sizes:
            logger.info(what, extra={"batches": sum(self.sizes.values()),
                                     "fallback_items": self.fallbacks,
                                     "sizes": dict(sorted(self.sizes.items()))})

    def _next_batch(self) -> list[tuple[T, asyncio.Future[R]]]:
        """Up to `cap` queued items, oldest first, one per key; the others stay queued in order."""
        batch: list[tuple[T, asyncio.Future[R]]] = []
        keys: set[Hashable] = set()
        held: list[tuple[T, asyncio.Future[R]]] = []
        while self._queue and len(batch) < self.cap:
            entry = self._queue.popleft()
            if entry[1].done():          # its caller was cancelled: nothing to send
                continue
            k = self.key(entry[0])
            if k in keys:
                held.append(entry)
            else:
                keys.add(k)
                batch.append(entry)
        self._queue.extendleft(reversed(held))
        batch.sort(key=lambda e: self.order(e[0]))
        return batch

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._next_batch()
                if batch:
                    await self._send(batch)
        except BaseException:            # cancelled (shutdown): the queued callers must not hang
            while self._queue:
                _settle(self._queue.popleft()[1], asyncio.CancelledError())
            raise
        finally:
            self._task = None

    async def _send(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.sizes[len(batch)] += 1
        try:
            await self._answer(batch)
        except BaseException:            # cancelled (shutdown), even mid-fallback: no caller hangs
            for _, fut in batch:
                _settle(fut, asyncio.CancelledError())
            raise

    async def _answer(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            got = await self.run_batch([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 — handed to the callers (one) or retried (many)
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning("batch failed, each item on its own", extra={"items": len(batch)},
                        exc_info=True)
            self.fallbacks += len(batch)
            outcomes = await asyncio.gather(*(self.run_one(item) for item, _ in batch),
                                            return_exceptions=True)
            for (_, fut), out in zip(batch, outcomes):
                _settle(fut, out)
            return
        if len(got) != len(batch):       # a store bug: never hand an item another's outcome
            err = RuntimeError(f"batch of {len(batch)} answered {len(got)} outcomes")
            for _, fut in batch:
                _settle(fut, err)
            return
        for (_, fut), out in zip(batch, got):
            _settle(fut, out)


def _settle(fut: asyncio.Future[Any], out: Any) -> None:
    if fut.done():
        return
    if isinstance(out, asyncio.CancelledError):
        fut.cancel()
    elif isinstance(out, BaseException):
        fut.set_exception(out)
    else:
        fut.set_result(out)
