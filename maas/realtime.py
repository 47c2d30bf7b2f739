"""Realtime in the service: receive a GTFS-RT message (push or pull), hold the live state.

    outcome = await receive(app, "town", body)        # parse -> check -> one transaction + NOTIFY

Every worker holds a `RealtimeState` in its live snapshot (maas.live): the current trip
updates and alerts of every feed, as PostgreSQL has them. After `NOTIFY maas_realtime` (sent
by the writing transaction) a worker re-reads only the feeds whose revision moved, and swaps
in `static_planner.with_realtime(every update)`; a worker that starts reads them all. So a
restart keeps the realtime state, and no worker plans on half a message.

Pulling: with `realtime.pull` set, the worker that holds the pull lock (a session advisory
lock on a connection of its own) fetches each URL every `pull_interval_s` and hands the
bytes to `receive`, exactly as a push. The others keep trying the lock, so the pulling moves
to another worker when its holder stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, AsyncIterator, Mapping

import aiohttp
import asyncpg
from aiohttp import web
from prometheus_client import Gauge

from feeds import realtime_store
from feeds.alerts import Alert
from feeds.errors import RealtimeTooLarge, UnknownFeed
from feeds.realtime import parse
from feeds.realtime_check import UpdateCheck
from feeds.realtime_ingest import Outcome, apply_message
from maas.appkeys import CLOCK, DB, LIVE, METRICS, SETTINGS
from maas.outages import loop_outage
from routing.updates import TripUpdate

__all__ = ["RealtimeState", "load_state", "with_realtime", "receive", "realtime_ctx", "pull_once",
           "Puller", "PULLER", "LAG", "STORED_HOOKS"]

log = logging.getLogger(__name__)


def _frozen(d: dict) -> Mapping:
    return MappingProxyType(d)


@dataclass(frozen=True, eq=False)
class RealtimeState:
    """The realtime state of every feed, as stored; immutable (swapped whole)."""

    revisions: Mapping[str, int] = field(default_factory=lambda: _frozen({}))   # feed -> revision
    updates: Mapping[str, tuple[TripUpdate, ...]] = field(default_factory=lambda: _frozen({}))
    alerts: Mapping[str, tuple[Alert, ...]] = field(default_factory=lambda: _frozen({}))

    def all_updates(self, feeds: Any = None) -> list[TripUpdate]:
        return [u for f, us in self.updates.items() if feeds is None or f in feeds for u in us]

    def all_alerts(self) -> list[Alert]:
        return [a for als in self.alerts.values() for a in als]

    @cached_property
    def newest(self) -> dict[str, int]:
        """feed -> the newest producer timestamp among its stored updates and alerts."""
        out: dict[str, int] = {}
        for feed in self.revisions:
            stamps = [u.timestamp for u in self.updates.get(feed, ()) if u.timestamp is not None]
            stamps += [a.timestamp for a in self.alerts.get(feed, ()) if a.timestamp is not None]
            if stamps:
                out[feed] = max(stamps)
        return out


async def load_state(pool: asyncpg.Pool, have: RealtimeState) -> RealtimeState:
    """`have` with the feeds whose revision moved re-read (the others kept as they are)."""
    async with pool.acquire() as conn:
        now = await realtime_store.revisions(conn)
        if now == dict(have.revisions):
            return have
        revisions, updates, alerts = {}, {}, {}
        for feed, revision in now.items():
            if have.revisions.get(feed) == revision:
                revisions[feed], updates[feed], alerts[feed] = (
                    revision, have.updates.get(feed, ()), have.alerts.get(feed, ()))
                continue
            rev, ups, als = await realtime_store.load_feed(conn, feed)
            revisions[feed], updates[feed], alerts[feed] = rev, tuple(ups), tuple(als)
    return RealtimeState(_frozen(revisions), _frozen(updates), _frozen(alerts))


def with_realtime(static_planner: Any, network: Any, state: RealtimeState) -> Any:
    """The planner on the realtime state of the live feeds (routing's overlay: costs in
    proportion to the runs named, no network rebuild). None while nothing is active."""
    if static_planner is None:
        return None
    return static_planner.with_realtime(state.all_updates(set(network.feeds)))


# Called with (app, feed, [(trip_id, service_date)]) once a message is stored.
STORED_HOOKS = web.AppKey("realtime_stored_hooks", list)


# --- receiving a message -----------------------------------------------------------------


async def receive(app: web.Application, feed: str, body: bytes) -> Outcome:
    """One message of `feed` (push or pull): the same checks, one transaction, NOTIFY."""
    settings = app[SETTINGS].realtime
    if len(body) > settings.max_body_bytes:
        raise RealtimeTooLarge(f"the message is larger than {settings.max_body_bytes} bytes "
                               "(setting realtime.max_body_bytes)", max_bytes=settings.max_body_bytes)
    snap = app[LIVE].current
    check = UpdateCheck.of(snap.network)
    if not check.knows_feed(feed):
        raise UnknownFeed(f"feed {feed!r} has no active version; publish and activate its GTFS "
                          "first", feed=feed)
    now = app[CLOCK].now()
    msg = parse(body, feed=feed, default_date=_local_today(snap.network, feed, now))
    outcome = await apply_message(app[DB], msg, check=check, planner=snap.static_planner, now=now,
                                  past_horizon_s=settings.past_horizon_s)
    runs = [(u.trip_id, u.service_date) for _, u in msg.trip_updates]
    for hook in app.get(STORED_HOOKS, ()):        # e.g. connection protection (maas/protection.py)
        await hook(app, feed, runs)
    log.info("realtime %s: revision %d, %d trip updates, %d alerts, %d ignored %s", feed,
             outcome.revision, outcome.trip_updates, outcome.alerts, len(outcome.ignored),
             outcome.reasons or "")
    return outcome


def _local_today(network: Any, feed: str, now: Any) -> Any:
    """Today in the feed's (first agency's) time zone: the date of an undated trip."""
    from zoneinfo import ZoneInfo

    for a, f in enumerate(network.agency_feed):
        if network.feeds[f] == feed:
            return now.astimezone(ZoneInfo(network.timezones[network.agency_tz[a]])).date()
    return now.date()


# --- the lag metric -----------------------------------------------------------------------


class _Lag:
    """maas_realtime_lag_seconds{feed}: age of the newest applied update (producer timestamp)
    per feed, refreshed every second and after each realtime reload in every worker."""

    def __init__(self, registry: Any) -> None:
        kw = {"registry": registry} if registry is not None else {"multiprocess_mode": "livemin"}
        self.gauge = Gauge("maas_realtime_lag_seconds",
                           "Age of the newest applied GTFS-RT update per feed (now - its timestamp)",
                           ["feed"], **kw)

    def refresh(self, app: web.Application) -> None:
        now = app[CLOCK].now().timestamp()
        for feed, stamp in app[LIVE].current.realtime.newest.items():
            self.gauge.labels(feed).set(max(0.0, now - stamp))


LAG = web.AppKey("realtime_lag", _Lag)


async def _lag_loop(app: web.Application) -> None:
    while True:
        app[LAG].refresh(app)
        await asyncio.sleep(1.0)


# --- pulling ------------------------------------------------------------------------------


async def _read_capped(content: aiohttp.StreamReader, cap: int) -> bytes:
    """The body up to `cap` bytes: one `read(n)` returns what has arrived so far, so a message sent
    in pieces would be cut short; read until the end or the cap."""
    parts: list[bytes] = []
    size = 0
    while size < cap:
        part = await content.read(cap - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


async def pull_once(app: web.Application, session: aiohttp.ClientSession,
                    seen: dict[str, bytes] | None = None) -> dict[str, str]:
    """Fetch every configured URL once and receive it; returns feed -> "ok", "unchanged" (the
    same bytes as the last applied pull, in `seen`) or what went wrong."""
    settings = app[SETTINGS].realtime
    out: dict[str, str] = {}
    seen = {} if seen is None else seen
    for feed, url in settings.pull.items():
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=settings.pull_timeout_s)) as r:
                if r.status != 200:
                    out[feed] = f"http {r.status}"
                    log.warning("pull of realtime feed %s from %s: %s", feed, url, out[feed])
                    continue
                body = await _read_capped(r.content, settings.max_body_bytes + 1)
            if seen.get(feed) == body:
                out[feed] = "unchanged"
                continue
            outcome = await receive(app, feed, body)
            seen[feed] = body
            out[feed] = "ok"
            log.info("pulled %s: %d trip updates, %d alerts", feed, outcome.trip_updates, outcome.alerts)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            out[feed] = f"fetch failed: {exc!r}"
        except Exception as exc:  # noqa: BLE001 — a refused message: log it, keep pulling the rest
            code = getattr(exc, "code", None)
            if code is None:
                log.exception("pull of realtime feed %s failed", feed)
            out[feed] = f"{code or 'error'}: {exc}"
        if out[feed] not in ("ok", "unchanged"):
            log.warning("pull of realtime feed %s from %s: %s", feed, url, out[feed])
    return out


class Puller:
    """Pulls every `realtime.pull` URL while this worker holds the pull lock."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.holding = False                 # this worker holds the pull lock (pulls)
        self.last: dict[str, str] = {}       # feed -> "ok" or what went wrong, last round
        self.seen: dict[str, bytes] = {}     # feed -> the bytes last applied (skip a repeat)

    async def run(self) -> None:
        settings = self.app[SETTINGS]
        interval = settings.realtime.pull_interval_s
        conn: asyncpg.Connection | None = None
        async with aiohttp.ClientSession() as session:
            try:
                while True:
                    try:
                        if conn is None or conn.is_closed():
                            self.holding = False
                            conn = await asyncpg.connect(settings.database_url)
                        if not self.holding:
                            self.holding = await realtime_store.try_pull_lock(conn)
                        if self.holding:
                            self.last = await pull_once(self.app, session, self.seen)
                    except Exception as exc:  # noqa: BLE001 — an outage only; others raise
                        if not loop_outage(exc):
                            raise
                        log.warning("realtime pull: %s", exc)
                    await asyncio.sleep(interval)
            finally:
                self.holding = False
                if conn is not None and not conn.is_closed():
                    await conn.close()     # ends the session: the lock goes to another worker


PULLER = web.AppKey("realtime_puller", Puller)


async def realtime_ctx(app: web.Application) -> AsyncIterator[None]:
    app[LAG] = _Lag(app[METRICS])
    tasks = [asyncio.get_running_loop().create_task(_lag_loop(app))]
    if app[SETTINGS].realtime.pull:
        puller = app[PULLER] = Puller(app)
        tasks.append(asyncio.get_running_loop().create_task(puller.run()))
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
