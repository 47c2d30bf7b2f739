"""Wake-ups of GET /v1/events readers across workers and instances (issue 11).

Rows are the record: every booking event is a booking_events row before anyone hears of it,
and a reader sends the rows after the last id it sent. A wake-up only shortens the wait between
two reads: a booking_events insert (all but `hold` and `confirm`, migration 0630) NOTIFYs
`maas_events` with the booking's account id when it commits, whichever worker or instance wrote
it; each worker's LISTEN connection (maas/live.py's, the one that hears activations) wakes this
worker's readers of that account. Readers still read every `protection.poll_s` without one;
after the LISTEN connection reconnects (a notification may have been lost) every reader is woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Iterator

import asyncpg
from aiohttp import web

from maas.appkeys import LIVE

__all__ = ["CHANNEL", "Wakeups", "WAKEUPS", "wakeups_ctx"]

log = logging.getLogger(__name__)
CHANNEL = "maas_events"


class Wakeups:
    """The readers waiting in this worker, by account; `wake(account)` sets their events."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

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
    wakeups = app[WAKEUPS] = Wakeups()
    listener = app[LIVE].listener if LIVE in app else None
    if listener is not None:
        try:
            await listener.subscribe(CHANNEL, wakeups.on_notify, wakeups.wake_all)
        except (OSError, asyncpg.PostgresError) as exc:   # the reconnect subscribes it again
            log.warning("LISTEN %s: %s; readers poll until the connection is back", CHANNEL, exc)
    yield
