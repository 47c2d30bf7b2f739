"""`maas serve`: embedded servers if needed, migrations, demo data, then N worker processes.

All workers bind the same port with SO_REUSEPORT (the kernel spreads connections); the
command reports that it is listening only once every worker is ready. SIGINT/SIGTERM stop
the workers, then the embedded servers.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sys
from typing import Any

from aiohttp import web

from maas.db import create_pool, migrate
from maas.embedded import embedded_services
from maas.logs import setup_logging
from maas.settings import Settings

__all__ = ["run_serve"]

log = logging.getLogger("maas.serve")


async def _prepare(settings: Settings, demo: bool) -> None:
    pool = await create_pool(settings.database_url or "", min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        if demo:
            from feeds.ingest import close_analyser
            from maas.demo import load_demo

            try:
                await load_demo(pool, settings)
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


async def _run_worker(settings: Settings, port: int, on_ready: Any) -> None:
    from maas.app import create_app

    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, port, reuse_port=True, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    on_ready()
    await stop.wait()
    await runner.cleanup()
    from feeds.ingest import close_analyser

    close_analyser()   # a worker process ends with os._exit: no atexit would stop it


def _worker_main(settings_data: dict[str, Any], port: int, ready: Any, index: int) -> None:
    settings = Settings(**settings_data)
    setup_logging(settings.log_level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    try:
        asyncio.run(_run_worker(settings, port, lambda: ready.put(index)))
    except Exception:
        log.exception("worker %d failed", index)
        ready.put(-1)
        raise


def run_serve(settings: Settings, *, demo: bool = False) -> int:
    setup_logging(settings.log_level)
    with embedded_services(
        settings.data_dir, database_url=settings.database_url, redis_url=settings.redis_url
    ) as urls:
        settings = settings.model_copy(
            update={"database_url": urls.database_url, "redis_url": urls.redis_url}
        )
        settings.data_keys()  # create the key file once, before any worker reads it
        asyncio.run(_prepare(settings, demo))
        reserved = _reserve_port(settings.host, settings.port)
        port = reserved.getsockname()[1]
        try:
            return _supervise(settings, port)
        finally:
            reserved.close()


def _supervise(settings: Settings, port: int) -> int:
    n = settings.workers
    if n > 1:
        metrics_dir = settings.data_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    data = settings.model_dump(mode="json")
    procs = [ctx.Process(target=_worker_main, args=(data, port, ready, i), daemon=False) for i in range(n)]
    stopping = False

    def _stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in procs:
            p.start()
        started = 0
        while started < n and not stopping:
            try:
                msg = ready.get(timeout=0.2)
            except Exception:
                if any(p.exitcode is not None for p in procs):
                    print("maas: a worker failed to start; see the log", file=sys.stderr)
                    return 1
                continue
            if msg == -1:
                print("maas: a worker failed to start; see the log", file=sys.stderr)
                return 1
            started += 1
        if not stopping:
            print(
                f"maas listening on http://{settings.host}:{port} ({n} worker{'s' if n > 1 else ''})",
                flush=True,
            )
        while not stopping:
            if any(p.exitcode is not None for p in procs):
                print("maas: a worker exited unexpectedly", file=sys.stderr)
                return 1
            for p in procs:
                p.join(timeout=0.5 / n)
        return 0
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=15)
            if p.is_alive():
                p.kill()
        for s, h in old.items():
            signal.signal(s, h)
        print("maas stopped", flush=True)
