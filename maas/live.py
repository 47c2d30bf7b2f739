"""The live network: the merged active feeds, the planner and the stop index, swapped atomically.

    snap = request.app[LIVE].current      # take it once per request, use only it
    snap.planner.plan(...); snap.stops.search(...)

A `Snapshot` is immutable and complete; `LiveNetwork.current` is replaced by one attribute
assignment, so a request that took the old snapshot finishes on it (the old arrays live as
long as someone holds them), and a new request sees the new one. Nothing is ever half-built.

Reload: read every active version's compiled network (feeds.store.load_active), from_bytes
each, merge, build the planner and the stop index — all in a worker thread — then swap.

Realtime (maas.realtime): the snapshot also holds the realtime state (trip updates and
alerts per feed, as stored) and `planner` is `static_planner.with_realtime(state)`. The
same connection LISTENs on `maas_realtime`; a notification re-reads the feeds whose revision
moved and swaps in a snapshot with the new state and planner (the network is not rebuilt).
An activation re-applies the current realtime state to the new network.
Every worker process holds one PostgreSQL connection LISTENing on `maas_network`
(feeds.ingest sends NOTIFY in the activating transaction), so each process reloads after
the commit. Bursts coalesce: calls that arrive while a reload runs are served by one more
reload, never by one each. If the listening connection drops, it reconnects and reloads
(a notification may have been missed meanwhile).

Each worker tells the others of its instance which versions it serves (maas.served: a
Redis key per worker, written on every swap and every HEARTBEAT_S, expiring when the worker
dies), so an activation answers once every live worker serves the version.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, AsyncIterator, Callable, Mapping

import asyncpg
from aiohttp import web

from feeds.store import NOTIFY_CHANNEL, load_active
from feeds.realtime_store import NOTIFY_CHANNEL as REALTIME_CHANNEL
from maas import heap
from maas.appkeys import CLOCK, DB, LIVE, REDIS, SETTINGS
from maas.netcache import shared_generation, trim
from maas.outages import loop_outage
from maas.realtime import RealtimeState, load_state, with_realtime
from maas.served import HEARTBEAT_S, WorkerRegistry
from routing.network import Network, empty, from_bytes, merge

__all__ = ["LiveNetwork", "Snapshot", "live_ctx", "build_snapshot", "warm"]

log = logging.getLogger(__name__)

RECONNECT_S = 2.0
# Test hook (tests/test_activation_workers.py), never set in production: a worker swaps in an
# activation it hears of by NOTIFY this many seconds late, as a worker whose rebuild is slow
# would; the worker that answers the activation reloads at once. Without the activation's wait
# for every worker, a plan right after it reaches a worker still on the old version.
NOTIFY_DELAY_ENV = "MAAS_TEST_NOTIFY_DELAY_S"


@dataclass(frozen=True, eq=False)
class Snapshot:
    network: Network = field(default_factory=empty)
    planner: Any = None                  # routing.planner.Planner on realtime; None while nothing is active
    stops: Any = None                    # routing.stops.StopIndex
    versions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    loaded: bool = False                 # the first load from the database has finished
    generation: int = 0                  # 1, 2, ... per swap in this process
    built_s: float = 0.0                 # seconds the last build took (worker thread)
    static_planner: Any = None           # the planner on the static timetable alone
    realtime: RealtimeState = field(default_factory=RealtimeState)


def build_snapshot(rows: list[tuple[str, str, bytes]], config: Any, generation: int,
                   realtime: RealtimeState | None = None,
                   cache_dir: Path | None = None) -> Snapshot:
    """CPU-bound (run it in a thread): (feed, version, compiled bytes) -> Snapshot. With
    `cache_dir`, the merged network and the planner's structures (patterns, footpaths,
    trip index, expanded days) are built once per machine and mapped read-only
    (maas.netcache); without, this process builds its own copy."""
    from routing.config import RoutingConfig
    from routing.planner import Planner
    from routing.stops import StopIndex

    t0 = time.perf_counter()
    realtime = realtime or RealtimeState()
    config = config or RoutingConfig()
    shared = None
    if cache_dir is not None and rows:
        gen = shared_generation(rows, cache_dir)
        network, shared = gen.network, gen.shared(config)
    else:
        network = merge([from_bytes(blob) for _, _, blob in rows])
    static = Planner.build(network, config, shared) if network.n_stops else None
    stops = StopIndex.build(network, shared)
    trim()
    return Snapshot(network=network, planner=with_realtime(static, network, realtime), stops=stops,
                    versions=MappingProxyType({f: v for f, v, _ in rows}), loaded=True,
                    generation=generation, built_s=time.perf_counter() - t0,
                    static_planner=static, realtime=realtime)


def realtime_snapshot(snap: Snapshot, realtime: RealtimeState) -> Snapshot:
    """`snap` on a new realtime state (CPU-bound in proportion to the updates: a thread)."""
    return replace(snap, planner=with_realtime(snap.static_planner, snap.network, realtime),
                   realtime=realtime, generation=snap.generation + 1)


class LiveNetwork:
    """Holds the current Snapshot of one process and reloads it."""

    def __init__(self, pool: asyncpg.Pool | None = None, config: Any = None,
                 cache_dir: Path | None = None) -> None:
        self.current = Snapshot()
        self._cache_dir = cache_dir   # maas.netcache: one mapped copy per machine
        self._pool = pool
        self._config = config
        self._lock = asyncio.Lock()
        self._asked = 0       # reload requests so far
        self._served = 0      # requests covered by the last finished reload
        self._rt_asked = 0    # the same for realtime refreshes
        self._rt_served = 0
        self.listener: _Listener | None = None   # set by live_ctx
        self.registry: WorkerRegistry | None = None   # set by live_ctx: tells others what we serve

    async def reload(self) -> Snapshot:
        """Load what is active now and swap it in; returns the snapshot in place afterwards.
        Unchanged versions keep the current snapshot (no rebuild)."""
        self._asked += 1
        mine = self._asked
        async with self._lock:
            if self._served >= mine:          # a reload that started after our call covered it
                return self.current
            target = self._asked
            if self._pool is None:
                self.current = Snapshot(loaded=True, generation=self.current.generation + 1)
                self._served = target
                return self.current
            async with self._pool.acquire() as conn:
                rows = await load_active(conn)
            versions = {f: v for f, v, _ in rows}
            if self.current.loaded and versions == dict(self.current.versions):
                self._served = target
                return self.current
            loop = asyncio.get_running_loop()
            gen = self.current.generation + 1
            self._rt_asked += 1          # the realtime state read now is served by this build
            rt_target = self._rt_asked
            realtime = await load_state(self._pool, self.current.realtime)
            snap = await loop.run_in_executor(None, build_snapshot, rows, self._config, gen, realtime,
                                              self._cache_dir)
            self.current = snap
            heap.thaw()    # the old generation's cycles may be collected (maas/heap.py)
            self._served = target
            self._rt_served = rt_target
            if self.registry is not None:
                await self.registry.publish(snap.versions)
            log.info("network generation %d: %s (%d stops, %d trips) built in %.1fs", gen,
                     ", ".join(f"{f}={v}" for f, v in versions.items()) or "no active feeds",
                     snap.network.n_stops, snap.network.n_trips, snap.built_s)
            return snap

    async def refresh_realtime(self) -> Snapshot:
        """Re-read the realtime state (feeds whose revision moved) and swap in a snapshot on it;
        the network is kept. Bursts coalesce like reloads."""
        self._rt_asked += 1
        mine = self._rt_asked
        async with self._lock:
            if self._rt_served >= mine or self._pool is None:
                return self.current
            target = self._rt_asked
            realtime = await load_state(self._pool, self.current.realtime)
            if realtime is not self.current.realtime:
                loop = asyncio.get_running_loop()
                self.current = await loop.run_in_executor(None, realtime_snapshot, self.current, realtime)
                log.info("realtime generation %d: revisions %s", self.current.generation,
                         dict(realtime.revisions))
            self._rt_served = target
            return self.current


class _Listener:
    """One connection LISTENing on NOTIFY_CHANNEL (a reload) and the realtime channel (a
    realtime refresh)."""

    def __init__(self, holder: LiveNetwork, dsn: str) -> None:
        self.holder, self.dsn = holder, dsn
        self.conn: asyncpg.Connection | None = None
        self.tasks: set[asyncio.Task] = set()
        self.closing = False
        self.notify_delay_s = float(os.environ.get(NOTIFY_DELAY_ENV) or 0)
        # other channels on this connection: channel -> (on notify, on reconnect: one may be lost)
        self.subscribers: dict[str, tuple[Callable[..., None], Callable[[], None] | None]] = {}

    async def subscribe(self, channel: str, on_notify: Callable[..., None],
                        on_reconnect: Callable[[], None] | None = None) -> None:
        """LISTEN on `channel` too (again after every reconnect, then `on_reconnect()`)."""
        self.subscribers[channel] = (on_notify, on_reconnect)
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.add_listener(channel, on_notify)

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self._spawn(self._reload_late() if self.notify_delay_s > 0 else self.holder.reload())

    async def _reload_late(self) -> None:
        await asyncio.sleep(self.notify_delay_s)   # the test hook: see NOTIFY_DELAY_ENV
        await self.holder.reload()

    def _on_realtime(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self._spawn(self.holder.refresh_realtime())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("network reload failed; keeping the current one", exc_info=task.exception())

    async def connect(self) -> None:
        self.conn = await asyncpg.connect(self.dsn)
        await self.conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        await self.conn.add_listener(REALTIME_CHANNEL, self._on_realtime)
        for channel, (on_notify, _) in self.subscribers.items():
            await self.conn.add_listener(channel, on_notify)

    async def watch(self) -> None:
        """Reconnect (and reload, a notification may be lost) when the connection drops."""
        while not self.closing:
            await asyncio.sleep(RECONNECT_S)
            if self.conn is not None and not self.conn.is_closed():
                continue
            try:
                await self.connect()
                self._spawn(self.holder.reload())
                self._spawn(self.holder.refresh_realtime())
                for _, on_reconnect in self.subscribers.values():
                    if on_reconnect is not None:
                        on_reconnect()
                log.info("LISTEN %s: reconnected", NOTIFY_CHANNEL)
            except Exception as exc:  # noqa: BLE001 — an outage only; others raise
                if not loop_outage(exc):
                    raise
                log.warning("LISTEN %s: reconnect failed (%s)", NOTIFY_CHANNEL, exc)

    async def close(self) -> None:
        self.closing = True
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.close()


async def live_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    holder = LiveNetwork(app[DB], settings.routing.to_config(), settings.data_dir / "networks")
    app[LIVE] = holder
    listener = _Listener(holder, settings.database_url or "")
    holder.listener = listener
    registry = holder.registry = WorkerRegistry(app[REDIS])
    await listener.connect()          # listen first: an activation during the load is not lost
    try:
        await holder.reload()
    except Exception:  # noqa: BLE001 — serve anyway; /readyz says the timetable is not loaded
        log.exception("loading the active network failed; serving without a timetable")
    planner = holder.current.planner
    if planner is not None:   # before this worker reports ready: its first plan is not the slow one
        spent = await asyncio.get_running_loop().run_in_executor(None, warm, planner, app[CLOCK].now())
        trim()
        log.info("planner warmed in %.1fs", spent)
    watcher = asyncio.get_running_loop().create_task(listener.watch())
    beat = asyncio.get_running_loop().create_task(_heartbeat(holder, registry))
    try:
        yield
    finally:
        watcher.cancel()
        beat.cancel()
        await asyncio.gather(watcher, beat, return_exceptions=True)
        await registry.withdraw()
        await listener.close()


async def _heartbeat(holder: LiveNetwork, registry: WorkerRegistry) -> None:
    """Say what this worker serves every HEARTBEAT_S (maas.served): alive, and which versions."""
    while True:
        await registry.publish(holder.current.versions)
        await asyncio.sleep(HEARTBEAT_S)


def warm(planner: Any, now: Any) -> float:
    """Run one plan per feed of the network (today, from now; leaving and arriving) and
    return the seconds spent. The first plan of a process compiles the search kernels
    (numba) and builds the day's tables and each direction's lower bounds
    (`Searches.bounds`): 6.5 s (47 s on a loaded machine) for the first /v1/plan after
    start, when a passenger paid for it; done here, before the worker reports ready, it
    is not."""
    from routing.planner import Query

    t0 = time.perf_counter()
    first_last: dict[str, list[str]] = {}
    for sid in planner.network.stop_id:
        got = first_last.setdefault(str(sid).split(":", 1)[0], [str(sid), str(sid)])
        got[1] = str(sid)
    day = now.date()
    secs = now.hour * 3600 + now.minute * 60
    for origin, destination in first_last.values():
        if origin == destination:
            continue
        try:
            for arrive_by in (False, True):
                planner.plan(Query(origin=origin, destination=destination, date=day,
                                   time_s=secs, arrive_by=arrive_by))
        except Exception:  # noqa: BLE001 — warming must never stop a worker from serving
            log.warning("warming plan %s -> %s failed", origin, destination, exc_info=True)
    return time.perf_counter() - t0
