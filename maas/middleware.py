"""The one error path, request ids, access logs and request metrics."""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import time
from typing import Any, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from maas.errors import MethodNotAllowed, NotFound, PayloadTooLarge, is_domain_error
from maas.appkeys import LOG_FIELDS, REQUEST_ID
from maas.logs import access_line, request_id_var
from maas.metric_batch import MetricBatch
from maas.outages import outage_of, retry_after_s

__all__ = ["Metrics", "make_middlewares", "problem_response"]

log = logging.getLogger("maas.http")

PROBLEM = "application/problem+json"
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)   # json.dumps's, built once


class Metrics:
    """Request counts and latency per route template (never per raw path: bounded labels)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        kw = {"registry": registry} if registry is not None else {}
        self.requests = Counter(
            "maas_http_requests_total", "HTTP requests", ["method", "route", "status"], **kw
        )
        self.latency = Histogram(
            "maas_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            **kw,
        )


def problem_response(
    status: int, code: str, title: str, detail: str, request_id: str | None, **extra: object
) -> web.Response:
    body = {
        "type": f"https://maas.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
        **extra,
    }
    return web.Response(
        text=_ENCODER.encode(body), status=status, content_type=PROBLEM
    )


def _route_label(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is not None and getattr(resource, "canonical", None):
        return resource.canonical
    return "unmatched"


def _from_http_exception(exc: web.HTTPException, rid: str) -> web.StreamResponse:
    if exc.status < 400:
        raise exc
    if isinstance(exc, web.HTTPNotFound):
        err: Exception = NotFound("no such endpoint")
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        resp = _render(MethodNotAllowed(f"{exc.method} is not allowed here; allowed: {allowed}"), rid)
        resp.headers["Allow"] = allowed
        return resp
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        err = PayloadTooLarge("the request body is too large")
    else:
        return problem_response(exc.status, f"http_{exc.status}", exc.reason, exc.text or exc.reason, rid)
    return _render(err, rid)


def _render(exc: Exception, rid: str) -> web.Response:
    cls = type(exc)
    title = getattr(cls, "title", None) or cls.__name__
    detail = getattr(exc, "detail", None) or str(exc) or title
    extra = dict(getattr(exc, "extra", {}) or {})
    for reserved in ("type", "title", "status", "detail", "code", "request_id"):
        extra.pop(reserved, None)
    return problem_response(cls.status, cls.code, title, detail, rid, **extra)  # type: ignore[attr-defined]


def _request_ids() -> Iterator[str]:
    """Unique request ids without a syscall each (uuid4 showed up at 4% under load): a random
    per-process prefix and a counter."""
    prefix = secrets.token_hex(6)
    return (f"{prefix}{n:08x}" for n in itertools.count())


def make_middlewares(metrics: Metrics, batch: MetricBatch | None = None) -> list:
    request_ids = _request_ids()
    batch = batch or MetricBatch()
    # both labelled children of a (method, route, status), found once (bounded: routes x
    # methods x statuses); `labels()` takes a lock and builds the child key on every call
    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(method: str, route: str, status: int, elapsed: float) -> None:
        pair = children.get((method, route, status))
        if pair is None:
            pair = children[(method, route, status)] = (
                metrics.requests.labels(method, route, str(status)),
                metrics.latency.labels(method, route))
        batch.inc(pair[0])
        batch.observe(pair[1], elapsed)

    @web.middleware
    async def request_context(request: web.Request, handler):  # type: ignore[no-untyped-def]
        rid = request.headers.get("X-Request-ID", "")
        if not (0 < len(rid) <= 64 and rid.replace("-", "").isalnum()):
            rid = next(request_ids)
        token = request_id_var.set(rid)
        request[REQUEST_ID] = rid
        # the access line's extra fields (maas.http.annotate adds to this dict; reading it
        # back with request.get() would cost a raised KeyError on most requests)
        more: dict[str, Any] = {}
        request[LOG_FIELDS] = more
        started = time.perf_counter()
        status = 500
        try:
            try:
                resp = await handler(request)
            except web.HTTPException as exc:
                status = exc.status  # a redirect is re-raised as it is
                resp = _from_http_exception(exc, rid)
            except Exception as exc:  # noqa: BLE001 — the one place errors become responses
                outage = None if is_domain_error(exc) else outage_of(exc)
                if is_domain_error(exc):
                    resp = _render(exc, rid)
                elif outage is not None:  # PostgreSQL or Redis down, or a conflict: 503, never 500
                    log.warning("%s in %s %s: %s", outage.code, request.method, request.path,
                                type(exc).__name__)
                    resp = _render(outage, rid)
                    resp.headers["Retry-After"] = str(retry_after_s(outage))
                else:
                    log.exception("unhandled error in %s %s", request.method, request.path)
                    resp = problem_response(
                        500, "internal_error", "Internal server error",
                        "an unexpected error occurred; it has been logged with this request id", rid,
                    )
            status = resp.status
            resp.headers["X-Request-ID"] = rid
            return resp
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(request)
            method = request.method
            observe(method, route, status, elapsed)
            access_line(log, method, route, status, round(elapsed * 1000, 2), more)
            request_id_var.reset(token)

    return [request_context]
