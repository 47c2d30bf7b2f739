"""Wake-ups of GET /v1/events readers across workers and instances (issue 11).

Rows are the record: every booking event is a booking_events row before anyone hears of it,
and a reader sends the rows after the last id it sent. A wake-up only shortens the wait between
two reads: a booking_events insert (all but `hold` and `confirm`, migration 0630) NOTIFYs
`maas_events` with the booking's account id when it commits, whichever worker or instance wrote
it, if a worker has a stream of that account open (migration 0838: `event_streams`, a row per
worker and account, kept by `Streams` here); each worker's LISTEN connection (maas/live.py's,
the one that hears activations) wakes this worker's readers of that account. Readers still
read every `protection.poll_s` without one; after the LISTEN connection reconnects (a
notification may have been lost) every reader is woken.

Nobody listening, nothing is notified: no notify-queue lock, no queue entry, no LISTEN backend
or worker woken (that was about a fifth of a cancel's CPU, BENCHMARKS.md "events2"). A
stream's first reader of an account in this worker commits the account's row before its
first read, under a lock the trigger takes too (maas/event_streams_store.py), so no event is
missed between the two; the last reader's leaving deletes it; rows are refreshed every
REFRESH_S and expire STREAM_TTL_S after the last refresh (a killed worker's age out).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from aiohttp import web

from maas import event_streams_store as store
from maas.appkeys import DB, LIVE
from maas.outages import loop_outage

__all__ = ["CHANNEL", "Wakeups", "Streams", "WAKEUPS", "wakeups_ctx", "REFRESH_S",
           "STREAM_TTL_S"]

log = logging.getLogger(__name__)
CHANNEL = "maas_events"
REFRESH_S = 30.0       # a worker rewrites its event_streams rows this often
STREAM_TTL_S = 120     # ... and they expire this long after (a killed worker's are deleted then)


class Streams:
    """This worker's rows of `event_streams`: one per account with an open stream here.

    The first reader of an account in this worker waits for its row (`opened`); the last
    one's leaving deletes it (`closed`, in the background). An account's registrations and
    removals run one after the other, in the order asked (each waits for the one before), so
    a removal never lands after a later registration."""

    def __init__(self, pool: Any, listener: str | None = None) -> None:
        self.pool = pool
        self.listener = listener or uuid.uuid4().hex
        self._readers: dict[str, int] = {}            # account -> open streams here
        self._ops: dict[str, asyncio.Task] = {}       # account -> its last registration/removal

    @property
    def accounts(self) -> list[str]:
        return list(self._readers)

    async def opened(self, account: str) -> None:
        """Count a reader of `account`; returns once its row is committed (a failed write is
        logged: the readers then poll, and the next refresh writes the row)."""
        n = self._readers.get(account, 0)
        self._readers[account] = n + 1
        if n == 0:
            self._then(account, lambda: store.open_stream(self.pool, account, self.listener,
                                                          STREAM_TTL_S))
        task = self._ops.get(account)     # while readers remain, the last op is a registration
        if task is not None:
            await asyncio.shield(task)

    def closed(self, account: str) -> None:
        n = self._readers[account] - 1
        if n:
            self._readers[account] = n
            return
        del self._readers[account]
        self._then(account, lambda: store.close_stream(self.pool, account, self.listener))

    def _then(self, account: str, op: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.get_running_loop().create_task(self._after(self._ops.get(account), op))
        self._ops[account] = task

        def forget(t: asyncio.Task) -> None:
            if self._ops.get(account) is t:
                del self._ops[account]
        task.add_done_callback(forget)

    @staticmethod
    async def _after(before: asyncio.Task | None, op: Callable[[], Awaitable[None]]) -> None:
        if before is not None:
            await asyncio.wait([before])
        try:
            await op()
        except Exception as exc:  # noqa: BLE001 — a stream never fails for it: readers poll
            log.warning("event_streams: %s; readers of the account poll", exc)

    async def refresh(self) -> None:
        await store.refresh(self.pool, self.listener, self.accounts, STREAM_TTL_S)

    async def close(self) -> None:
        """Wait for the pending writes (bounded), then delete every row of this worker."""
        pending = list(self._ops.values())
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        await store.close_all(self.pool, self.listener)


class Wakeups:
    """The readers waiting in this worker, by account; `wake(account)` sets their events.
    With `streams`, `stream(account)` also keeps the account's event_streams row."""

    def __init__(self, streams: Streams | None = None) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self.streams = streams

    @contextlib.contextmanager
    def waiter(self, account: str) -> Iterator[asyncio.Event]:
        """An event set on every wake-up of `account` while the block runs (clear it before
        each read: a wake-up during the read is then not lost)."""
        ev = asyncio.Event()
        self._waiting.setdefault(account, set()).add(ev)
        try:
            yield ev
        finally:
            got = self._waiting.get(account)
            if got is not None:
                got.discard(ev)
                if not got:
                    del self._waiting[account]

    @contextlib.asynccontextmanager
    async def stream(self, account: str) -> AsyncIterator[asyncio.Event]:
        """`waiter(account)` for a stream: the block starts once writes of the account's events
        NOTIFY (the stream's first read, made after, sees every event that did not)."""
        with self.waiter(account) as ev:
            if self.streams is None:
                yield ev
                return
            try:
                await self.streams.opened(account)
                yield ev
            finally:
                self.streams.closed(account)

    def wake(self, account: str) -> None:
        for ev in self._waiting.get(account, ()):
            ev.set()

    def wake_all(self) -> None:
        for evs in self._waiting.values():
            for ev in evs:
                ev.set()

    def on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self.wake(payload)


WAKEUPS = web.AppKey("event_wakeups", Wakeups)


async def wakeups_ctx(app: web.Application) -> AsyncIterator[None]:
    listener = app[LIVE].listener if LIVE in app else None
    streams = Streams(app[DB]) if listener is not None and DB in app else None
    wakeups = app[WAKEUPS] = Wakeups(streams)
    if listener is not None:
        try:
            await listener.subscribe(CHANNEL, wakeups.on_notify, wakeups.wake_all)
        except Exception as exc:  # noqa: BLE001 — an outage only; the reconnect subscribes it again
            if not loop_outage(exc):
                raise
            log.warning("LISTEN %s: %s; readers poll until the connection is back", CHANNEL, exc)
    keeper = asyncio.get_running_loop().create_task(_keep(streams)) if streams else None
    try:
        yield
    finally:
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        if streams is not None:
            try:
                await streams.close()
            except Exception as exc:  # noqa: BLE001 — the rows expire anyway
                log.warning("event_streams: %s; this worker's rows expire", exc)


async def _keep(streams: Streams) -> None:
    """Refresh this worker's rows (and delete expired ones) now and every REFRESH_S."""
    while True:
        try:
            await streams.refresh()
        except Exception as exc:  # noqa: BLE001 — keep refreshing; readers poll meanwhile
            log.warning("event_streams refresh: %s", exc)
        await asyncio.sleep(REFRESH_S)
