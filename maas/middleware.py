"""The one error path, request ids, access logs and request metrics."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import threading
import time
from typing import Any, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from maas.errors import MethodNotAllowed, NotFound, PayloadTooLarge, is_domain_error
from maas.appkeys import LOG_FIELDS, REQUEST_ID
from maas.logs import (CLASHING_FIELDS, AccessEntry, AccessLineHandler, access_handler,
                       access_line, request_id_var)
from maas.metric_batch import MetricBatch
from maas.outages import outage_of, retry_after_s

__all__ = ["Metrics", "RequestLedger", "make_middlewares", "problem_response"]

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


def _route_label(route: Any) -> str:
    """A request's route template, from its match info's route."""
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


class RequestLedger:
    """Every request's bookkeeping (its access line and its two metrics) as one record,
    appended to a list at the end of the request and turned into lines and counts for all
    the records held at once: the route's label, the rounding of ms, the labelled children,
    the batch's sums and the line's fields are worked out together between requests, where
    their code and data stay warm, instead of one request at a time between handlers
    (BENCHMARKS.md, edge14). Drained FLUSH_S after the first record held, at MAX_HELD
    records, before the metric batch writes (a scrape right after a request counts it) and
    before our access-line handler writes anything else (the order of lines stays).

    A record is held only while our AccessLineHandler alone takes maas.http's lines (a
    worker after setup_logging), or while no line is logged at all; otherwise (tests'
    capture handlers, a field named as a line's head member) the request's line and counts
    are made at once, as before, after whatever is held."""

    FLUSH_S = 0.5
    MAX_HELD = 128

    def __init__(self, metrics: Metrics, batch: MetricBatch, logger: logging.Logger) -> None:
        self.metrics = metrics
        self.batch = batch
        self.logger = logger
        # (started, ended, method, route, status, request id, annotations or None): the
        # route, not the request's match info (shared, long-lived: a record held over a
        # young collection keeps no per-request container alive besides the annotations)
        self._records: list[tuple[float, float, str, Any, int, str, dict[str, Any] | None]] = []
        self._handler: AccessLineHandler | None = None   # where the held records' lines go
        self._timer: asyncio.TimerHandle | None = None
        self._thread = 0    # the thread that holds the records (the loop's)
        # both labelled children of a (method, route, status), found once (bounded: routes
        # x methods x statuses); `labels()` takes a lock and builds the child key each call
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        batch.drain_first(self.drain)

    def record(self, request: web.Request, status: int, started: float, rid: str,
               more: dict[str, Any]) -> None:
        """The bookkeeping of `request`, answered with `status`, now (its end)."""
        ended = time.perf_counter()
        logger = self.logger
        lines = logger.isEnabledFor(logging.INFO)
        handler = access_handler(logger) if lines else None
        if lines and (handler is None or (more and not CLASHING_FIELDS.isdisjoint(more))):
            self.drain()    # at once, after what is held
            route = _route_label(request.match_info.route)
            elapsed = ended - started
            self._count(request.method, route, status, elapsed)
            access_line(logger, request.method, route, status, round(elapsed * 1000, 2), more)
            return
        if handler is not self._handler:
            self.drain()
            self._handler = handler
            if handler is not None:
                handler.add_source(self)
        records = self._records
        records.append((started, ended, request.method, request.match_info.route, status, rid,
                        more or None))
        if len(records) == 1:
            self._arm()
        elif len(records) >= self.MAX_HELD:
            self.flush()

    def _arm(self) -> None:
        self._thread = threading.get_ident()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:        # no loop to come back: now
            self.flush()
            return
        self._timer = loop.call_later(self.FLUSH_S, self.flush)
        self.batch.expect()   # the counts reach the metrics within the batch's FLUSH_S

    def flush(self) -> None:
        """Drain, and have the handler write its lines now."""
        self.drain()
        if self._handler is not None:
            self._handler.flush()

    def drain(self) -> None:
        """Count the records held into the metric batch and give their lines to the handler;
        from the loop's thread only (a line logged in a worker thread, a planner's, drains
        nothing: the loop may be appending a record meanwhile)."""
        records = self._records
        if not records or threading.get_ident() != self._thread:
            return
        self._records = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        handler = self._handler
        name = self.logger.name
        wall = time.time() - time.perf_counter()   # a record's end on the wall clock
        entries: list[AccessEntry] = []
        for started, ended, method, route, status, rid, more in records:
            route = _route_label(route)
            elapsed = ended - started
            self._count(method, route, status, elapsed)
            if handler is not None:
                entries.append((ended + wall, name, rid, method, route, status,
                                round(elapsed * 1000, 2), more))
        if handler is not None:
            handler.write_entries(entries)

    def _count(self, method: str, route: str, status: int, elapsed: float) -> None:
        pair = self._children.get((method, route, status))
        if pair is None:
            pair = self._children[(method, route, status)] = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(method, route))
        self.batch.inc(pair[0])
        self.batch.observe(pair[1], elapsed)


def make_middlewares(metrics: Metrics, batch: MetricBatch | None = None) -> list:
    request_ids = _request_ids()
    ledger = RequestLedger(metrics, batch or MetricBatch(), log)
    record = ledger.record

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
            record(request, status, started, rid, more)
            request_id_var.reset(token)

    return [request_context]
