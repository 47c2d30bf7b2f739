"""The one factory that builds the service."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
from types import ModuleType
from typing import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

from maas import __version__
from maas.appkeys import AUTH_CACHE, CLOCK, METRICS, OPENAPI, REDIS, SETTINGS
from maas.auth import LocalAuthCache, listen_revocations
from maas.clock import Clock, SystemClock
from maas.db import db_ctx
from maas.live import live_ctx
from maas.metric_batch import METRIC_BATCH, MetricBatch
from maas.middleware import Metrics, make_middlewares
from maas.domain_metrics import DOMAIN_METRICS, DomainMetrics
from maas.openapi import build_openapi
from maas.settings import Settings

__all__ = ["create_app", "API_MODULES"]

# Every HTTP area; each module has `router` and may have a `cleanup_ctx` (background work).
API_MODULES = ("system", "accounts", "feeds", "stops", "plan", "bookings", "checkin", "gates",
               "realtime", "operators", "webapp", "protection", "trips", "reach")


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"maas.api.{name}") for name in API_MODULES]


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis_url
    if not url:
        raise RuntimeError("redis_url is not set (maas serve starts an embedded one)")
    client = aioredis.Redis.from_url(
        url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30
    )
    app[REDIS] = client
    cache = app[AUTH_CACHE] = LocalAuthCache(app[SETTINGS].auth_cache_s)
    listener = asyncio.create_task(listen_revocations(url, cache))
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await client.aclose()


async def _flush_metrics(app: web.Application) -> None:
    app[METRIC_BATCH].flush()   # a stopping worker's last values reach its metrics file


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    # One registry per app, so several apps (tests) never clash; with N worker processes
    # prometheus-client's multiprocess mode aggregates (PROMETHEUS_MULTIPROC_DIR).
    registry = None if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else CollectorRegistry()
    metrics = Metrics(registry)
    batch = MetricBatch()   # per-request values written at most once a second (maas/metric_batch.py)
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=make_middlewares(metrics, batch)
    )
    app[METRIC_BATCH] = batch
    app.on_cleanup.append(_flush_metrics)
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = registry
    app[DOMAIN_METRICS] = DomainMetrics(registry, batch)
    app.cleanup_ctx.append(db_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(live_ctx)
    modules = _modules()
    for module in modules:
        app.add_routes(module.router.routes)
        if hasattr(module, "cleanup_ctx"):
            app.cleanup_ctx.append(module.cleanup_ctx)
    app[OPENAPI] = build_openapi([m.router for m in modules], version=__version__)
    return app
