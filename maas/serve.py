"""`maas serve`: embedded servers if needed, migrations, demo data, then N worker processes
under a supervisor.

All workers bind the same port with SO_REUSEPORT (the kernel spreads connections); the
command reports that it is listening only once every worker is ready. The supervisor (this
process) keeps it serving:

  * a worker that dies is reaped and started again after a backoff (0.25 s, doubling per
    recent crash of that worker, at most 30 s) while the others keep serving the port;
    `worker_crash_limit` crashes within `worker_crash_window_s` is a crash loop: it says so
    on stderr and stops everything (exit 1), since restarting would only hide the cause;
  * an embedded PostgreSQL or Redis that dies is started again (same backoff, never given
    up: the workers answer 503 meanwhile and recover by themselves);
  * SIGINT/SIGTERM: every worker stops accepting, drains its in-flight requests and exits;
    whatever still runs `shutdown_timeout_s` minus a second after the signal is killed,
    then the embedded servers stop (PostgreSQL in fast mode until the deadline, then
    immediate), so the whole stop stays within the setting.

A (re)started worker first waits for PostgreSQL to answer, so a worker restarted during a
database outage waits instead of crash-looping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_any
from typing import Any

import asyncpg
from aiohttp import web

from maas.db import create_pool, migrate
from maas.embedded import Embedded, embedded_services
from maas.logs import setup_logging
from maas.settings import Settings

__all__ = ["run_serve", "run_loop", "exit_now", "Supervisor", "Backoff"]

log = logging.getLogger("maas.serve")


async def _prepare(settings: Settings, demo: bool, scale: float = 1.0) -> None:
    pool = await create_pool(settings.database_url or "", min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        if demo:
            from feeds.ingest import close_analyser
            from maas.demo import load_demo

            try:
                await load_demo(pool, settings, scale=scale)
            finally:
                close_analyser()   # the workers start their own when an operator uploads
    finally:
        await pool.close()


def _reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) a SO_REUSEPORT socket: fixes the port when 0 was asked for."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def drain_s(settings: Settings) -> float:
    """How long a worker waits for in-flight requests (aiohttp waits as long again for the
    ones it then cancels): together under shutdown_timeout_s minus the time to stop the rest."""
    return max(0.1, (settings.shutdown_timeout_s - 1.5) / 2)


async def _wait_for_database(dsn: str, stop: asyncio.Event) -> bool:
    """Until PostgreSQL accepts a connection (True) or the worker is told to stop (False)."""
    delay = 0.25
    while not stop.is_set():
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("worker waiting for PostgreSQL (%s)", type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 5.0)
            continue
        await conn.close()
        return True
    return False


async def _run_worker(settings: Settings, port: int, on_ready: Any,
                      parent: int | None = None) -> None:
    from maas.app import create_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watch = loop.create_task(_watch_parent(parent, stop)) if parent is not None else None
    if not await _wait_for_database(settings.database_url or "", stop):
        return
    app = create_app(settings)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=drain_s(settings)
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, port, reuse_port=True, backlog=1024)
    await site.start()
    try:
        on_ready()
    except OSError:      # the supervisor died while we started (its end of the pipe is gone)
        stop.set()
    await stop.wait()
    if watch is not None:
        watch.cancel()
    t0 = time.perf_counter()
    await runner.cleanup()   # stops accepting, drains in-flight requests, closes the pools
    from feeds.ingest import close_analyser

    close_analyser()   # a worker process ends with os._exit: no atexit would stop it
    log.info("worker stopped", extra={"stop_ms": round((time.perf_counter() - t0) * 1000, 1)})


PR_SET_PDEATHSIG = 1    # linux/prctl.h
PARENT_WATCH_S = 1.0    # how often a worker looks whether its supervisor is still there


def _die_with_parent(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when the supervisor `parent` dies, even by
    SIGKILL (which it cannot pass on): the worker then drains and exits as on a normal stop,
    instead of serving the port on its own. Linux only (prctl); `_watch_parent` is the
    portable fallback. A parent already gone before the call: stop now."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError):
            log.warning("prctl unavailable: the worker watches its supervisor's pid instead")
    if os.getppid() != parent:      # it died before the call: nobody would tell us
        exit_now(0)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Stop the worker once its supervisor is gone (its parent pid changes to a reaper)."""
    while not stop.is_set():
        if os.getppid() != parent:
            log.warning("the supervisor (pid %d) is gone: this worker stops", parent)
            stop.set()
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), PARENT_WATCH_S)


def _worker_main(settings_data: dict[str, Any], port: int, ready: Any, index: int,
                 parent: int | None = None) -> None:
    if parent is not None:
        _die_with_parent(parent)
    settings = Settings(**settings_data)
    setup_logging(settings.log_level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop

    def on_ready() -> None:
        ready.send(index)
        ready.close()

    try:
        run_loop(_run_worker(settings, port, on_ready, parent), settings.event_loop)
    except Exception:
        log.exception("worker %d failed", index)
        raise
    exit_now(0)


def run_loop(main: Any, event_loop: str = "uvloop") -> Any:
    """asyncio.run(main) on the event loop the settings name: uvloop's (libuv) costs a worker
    less CPU per request than asyncio's own, and asyncpg runs faster on it."""
    if event_loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown, once everything is closed (pools, analyser,
    workers, embedded servers): tearing down the loaded modules (numba, pandas) took
    1.5-2.5 s per process on a busy machine, half the shutdown budget."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_serve(settings: Settings, *, demo: bool = False, scale: float = 1.0) -> int:
    setup_logging(settings.log_level)
    with embedded_services(
        settings.data_dir, database_url=settings.database_url, redis_url=settings.redis_url
    ) as urls:
        settings = settings.model_copy(
            update={"database_url": urls.database_url, "redis_url": urls.redis_url}
        )
        settings.data_keys()  # create the key file once, before any worker reads it
        asyncio.run(_prepare(settings, demo, scale))
        reserved = _reserve_port(settings.host, settings.port)
        port = reserved.getsockname()[1]
        try:
            return Supervisor(settings, port, urls).run()
        finally:
            reserved.close()


def _say(text: str) -> None:
    print(f"maas: {text}", file=sys.stderr, flush=True)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Backoff:
    """Restart delays of one supervised thing: 0.25 s doubling per crash within `window_s`,
    at most 30 s; `times` (the crashes within the window) also decides a crash loop."""

    BASE_S, CAP_S = 0.25, 30.0

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.times: deque[float] = deque()

    def crashed(self, now: float) -> float:
        """Record a crash at `now`; the delay before the next start."""
        self.times.append(now)
        while self.times and now - self.times[0] > self.window_s:
            self.times.popleft()
        return min(self.CAP_S, self.BASE_S * 2 ** (len(self.times) - 1))


@dataclass
class _Worker:
    index: int
    backoff: Backoff
    proc: Any = None                 # multiprocessing.Process while started
    ready: Any = None                # our end of its readiness pipe until it reports
    restart_at: float | None = None  # when a dead worker starts again
    died_at: float | None = None     # when it was found dead (for "back after" figures)


class Supervisor:
    """Starts the workers, restarts what dies, stops everything within the deadline."""

    CHECK_EMBEDDED_S = 0.5

    def __init__(self, settings: Settings, port: int, embedded: Embedded) -> None:
        self.settings, self.port, self.embedded = settings, port, embedded
        self.ctx = mp.get_context("spawn")
        self.data = settings.model_dump(mode="json")
        self.workers = [_Worker(i, Backoff(settings.worker_crash_window_s)) for i in range(settings.workers)]
        self.crashes = Backoff(settings.worker_crash_window_s)   # all workers: the crash-loop count
        self.stopping = False
        self.embedded_backoff = Backoff(settings.worker_crash_window_s)
        self.embedded_next = 0.0
        self.reviver: threading.Thread | None = None

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        n = self.settings.workers
        if n > 1:
            metrics_dir = self.settings.data_dir / "metrics"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for w in self.workers:
                self._start(w)
            if not self._wait_all_ready():
                return 0 if self.stopping else 1
            print(
                f"maas listening on http://{self.settings.host}:{self.port} "
                f"({n} worker{'s' if n > 1 else ''}; data folder {self.settings.data_dir})",
                flush=True,
            )
            return self._keep_serving()
        finally:
            self._stop_all()
            for s, h in old.items():
                signal.signal(s, h)
            print("maas stopped", flush=True)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self.stopping:
            self.stopping = True
            self.embedded.stop_by = time.monotonic() + self.settings.shutdown_timeout_s

    def _start(self, w: _Worker) -> None:
        reader, writer = self.ctx.Pipe(duplex=False)
        w.proc = self.ctx.Process(
            target=_worker_main, args=(self.data, self.port, writer, w.index, os.getpid()),
            daemon=False
        )
        w.proc.start()
        writer.close()   # the child holds its copy; EOF on ours if it dies before reporting
        w.ready, w.restart_at = reader, None

    def _wait_all_ready(self) -> bool:
        """Every first start reports ready; a worker that cannot start at all is a
        configuration error, not a crash to retry."""
        while any(w.ready is not None for w in self.workers) and not self.stopping:
            for obj in wait_any([w.ready for w in self.workers if w.ready is not None], 0.2):
                w = next(w for w in self.workers if w.ready is obj)
                if not self._took_ready(w):
                    _say(f"worker {w.index} failed to start ({_exit_reason(w.proc.exitcode)}); see the log")
                    return False
        return not self.stopping

    def _took_ready(self, w: _Worker) -> bool:
        try:
            w.ready.recv()
            ok = True
        except (EOFError, OSError):
            ok = False
            w.proc.join()   # it died before reporting: reap it
        w.ready.close()
        w.ready = None
        return ok

    def _keep_serving(self) -> int:
        while not self.stopping:
            now = time.monotonic()
            for w in self.workers:
                if w.proc is None and w.restart_at is not None and now >= w.restart_at:
                    self._start(w)
            watch: dict[Any, tuple[str, _Worker]] = {}
            for w in self.workers:
                if w.proc is not None:
                    watch[w.proc.sentinel] = ("died", w)
                if w.ready is not None:
                    watch[w.ready] = ("ready", w)
            for obj in wait_any(list(watch), 0.1):
                what, w = watch[obj]
                if what == "ready" and w.ready is obj:
                    if self._took_ready(w) and w.died_at is not None:
                        _say(f"worker {w.index} is back (pid {w.proc.pid}), "
                             f"{time.monotonic() - w.died_at:.2f} s after it died")
                        w.died_at = None
                elif what == "died" and w.proc is not None and not self.stopping:
                    if not self._worker_died(w):
                        return 1
            self._watch_embedded()
        return 0

    def _worker_died(self, w: _Worker) -> bool:
        """Reap it and schedule its restart; False on a crash loop."""
        proc = w.proc
        proc.join()   # reaped: no zombie
        if w.ready is not None:
            w.ready.close()
            w.ready = None
        now = time.monotonic()
        w.proc, w.died_at = None, now
        reason = _exit_reason(proc.exitcode)
        self.crashes.crashed(now)
        if len(self.crashes.times) >= self.settings.worker_crash_limit:
            _say(f"crash loop: {len(self.crashes.times)} worker crashes within "
                 f"{self.settings.worker_crash_window_s:g} s (last: worker {w.index}, pid {proc.pid}, "
                 f"{reason}); giving up — see the log")
            return False
        delay = w.backoff.crashed(now)
        w.restart_at = now + delay
        _say(f"worker {w.index} (pid {proc.pid}) {reason}; restarting it in {delay:g} s "
             f"while the others keep serving")
        return True

    # --- embedded PostgreSQL / Redis -------------------------------------------------------

    def _watch_embedded(self) -> None:
        now = time.monotonic()
        if now < self.embedded_next or (self.reviver is not None and self.reviver.is_alive()):
            return
        self.embedded_next = now + self.CHECK_EMBEDDED_S
        emb = self.embedded
        down = [name for name, alive in (("postgres", emb.postgres_alive()), ("redis", emb.redis_alive()))
                if not alive]
        if not down:
            return
        _say(f"embedded {' and '.join(down)} not running; restarting")
        self.reviver = threading.Thread(target=self._revive, args=(now,), daemon=True)
        self.reviver.start()

    def _revive(self, since: float) -> None:
        try:
            names = self.embedded.revive()
        except Exception as exc:  # noqa: BLE001 — retried with backoff; say why
            delay = self.embedded_backoff.crashed(time.monotonic())
            self.embedded_next = time.monotonic() + delay
            _say(f"restarting the embedded servers failed ({type(exc).__name__}: {exc}); "
                 f"retrying in {delay:g} s")
            return
        if names:
            _say(f"embedded {' and '.join(names)} restarted in {time.monotonic() - since:.2f} s")

    # --- stopping ----------------------------------------------------------------------------

    def _stop_all(self) -> None:
        """Signal every worker, wait for them to drain until the deadline, kill the rest, reap."""
        stop_by = self.embedded.stop_by or time.monotonic() + self.settings.shutdown_timeout_s
        self.embedded.stop_by = stop_by
        deadline = stop_by - min(1.0, self.settings.shutdown_timeout_s / 2)  # the rest: the embedded servers
        live = [w.proc for w in self.workers if w.proc is not None]
        for p in live:
            if p.is_alive():
                p.terminate()
        for p in live:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                _say(f"worker pid {p.pid} still busy at the shutdown deadline; killed")
                p.kill()
                p.join()
        for w in self.workers:
            if w.ready is not None:
                w.ready.close()
        if self.reviver is not None:
            self.reviver.join(timeout=max(0.0, deadline - time.monotonic()))
