"""System endpoints: liveness, readiness, metrics, the API document and its page."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess
from pydantic import BaseModel, Field

from maas import db_store
from maas.appkeys import DB, LIVE, METRICS, OPENAPI, REDIS
from maas.http import Router, json_response
from maas.metric_batch import METRIC_BATCH
from maas.openapi import render_docs

router = Router(tag="system")


class Health(BaseModel):
    status: str = Field(description='"ok" while the process serves requests')


class Readiness(BaseModel):
    status: str = Field(description='"ready" when every check passes, else "not_ready"')
    checks: dict[str, str] = Field(description="postgres, redis, timetable: ok or what is wrong")


@router.get("/healthz", summary="The process is alive", response=Health)
async def healthz(request: web.Request) -> Health:
    return Health(status="ok")


async def _check(coro, timeout: float = 2.0) -> str:  # type: ignore[no-untyped-def]
    try:
        await asyncio.wait_for(coro, timeout)
        return "ok"
    except Exception as exc:  # noqa: BLE001 — readiness reports, never raises
        return f"unavailable: {type(exc).__name__}"


@router.get(
    "/readyz",
    summary="PostgreSQL and Redis reachable, timetable loaded",
    response=Readiness,
    errors={503: "not ready (body says which check failed)"},
)
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = {
        "postgres": await _check(db_store.ping(app[DB])),
        "redis": await _check(app[REDIS].ping()),
        "timetable": "ok" if app[LIVE].current.loaded else "not loaded",
    }
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return json_response(body, status=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_content=CONTENT_TYPE_LATEST)
async def metrics(request: web.Request) -> web.Response:
    batch = request.app.get(METRIC_BATCH)
    if batch is not None:
        batch.flush()   # this process's values are exact; other workers' at most FLUSH_S late
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = request.app[METRICS]
    resp = web.Response(body=generate_latest(registry))
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


@router.get("/openapi.json", summary="This API as OpenAPI 3.1", response_content="application/json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


@router.get("/docs", summary="This API as a readable page", response_content="text/html")
async def docs(request: web.Request) -> web.Response:
    return web.Response(text=render_docs(request.app[OPENAPI]), content_type="text/html")
