"""Access lines written together (maas/logs.py AccessLineHandler): held for a moment inside
a worker's loop, every other line at once, nothing reordered, nothing left behind."""

from __future__ import annotations

import json
import logging

import pytest

from maas.logs import AccessLineHandler, JsonFormatter
from tests.polling import eventually


class Recorder:
    """A stream that keeps each write() call apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in "".join(self.writes).splitlines()]


def _record(name: str, level: int, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, "", 0, msg, (), None)


@pytest.fixture
def handler():
    stream = Recorder()
    h = AccessLineHandler(stream)
    h.setFormatter(JsonFormatter())
    yield h, stream
    h.close()


async def test_access_lines_are_held_then_written_in_one_go(handler):
    h, stream = handler
    h.FLUSH_S = 0.02
    for i in range(5):
        h.handle(_record("maas.http", logging.INFO, f"GET /healthz {i}"))
    assert stream.writes == []        # held
    await eventually(lambda: stream.writes)
    assert len(stream.writes) == 1
    assert [line["msg"] for line in stream.lines()] == [f"GET /healthz {i}" for i in range(5)]


async def test_other_lines_are_written_at_once_after_what_is_held(handler):
    h, stream = handler
    h.FLUSH_S = 60.0     # only the lines themselves may write
    h.handle(_record("maas.http", logging.INFO, "GET /a 200"))
    h.handle(_record("maas.http", logging.WARNING, "postgres_unavailable in GET /b"))
    h.handle(_record("maas.http", logging.INFO, "GET /c 200"))
    h.handle(_record("maas.live", logging.INFO, "feed activated"))
    assert [line["msg"] for line in stream.lines()] == [
        "GET /a 200", "postgres_unavailable in GET /b", "GET /c 200", "feed activated"]


async def test_no_write_is_larger_than_a_pipe_writes_at_once(handler):
    h, stream = handler
    h.FLUSH_S = 60.0
    for i in range(200):
        h.handle(_record("maas.http", logging.INFO, f"GET /v1/stops {i:04d} " + "x" * 150))
    h.flush()
    assert len(stream.writes) > 1
    assert all(len(w.encode()) <= 4096 for w in stream.writes)
    assert len(stream.lines()) == 200


def test_without_a_loop_every_line_is_written_at_once(handler):
    h, stream = handler
    h.handle(_record("maas.http", logging.INFO, "GET /a 200"))
    assert len(stream.lines()) == 1


async def test_shutdown_writes_what_is_held(handler):
    h, stream = handler
    h.FLUSH_S = 60.0
    h.handle(_record("maas.http", logging.INFO, "GET /last 200"))
    assert stream.writes == []
    logging.shutdown([lambda: h])   # what a worker's exit does (maas.serve.exit_now)
    assert [line["msg"] for line in stream.lines()] == ["GET /last 200"]


def test_a_copied_access_record_is_the_record_info_would_make(monkeypatch):
    from maas.logs import log_access, request_id_var

    for flag in ("logThreads", "logProcesses", "logMultiprocessing"):   # as setup_logging sets them
        monkeypatch.setattr(logging, flag, False)
    monkeypatch.setattr(logging, "_srcfile", None)
    logger = logging.getLogger("maas.test_access")
    logger.setLevel(logging.INFO)
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    keep = Keep()
    logger.addHandler(keep)
    token = request_id_var.set("rid-1")
    try:
        fields = {"method": "GET", "route": "/healthz", "status": 200, "ms": 0.1, "gate": "g1"}
        logger.info("%s %s %s", "GET", "/healthz", 200, extra=fields)
        for _ in range(2):   # another handler listens: the record info() makes, each time
            log_access(logger, "%s %s %s", ("GET", "/healthz", 200), fields)
        # a field that is one of the record's own attributes: refused by info(), as before
        with pytest.raises(KeyError):
            log_access(logger, "x", (), {"levelname": "bogus"})
        logger.setLevel(logging.WARNING)
        log_access(logger, "%s", ("never",), {})
    finally:
        request_id_var.reset(token)
        logger.removeHandler(keep)
    assert len(got) == 3
    timing = {"created", "msecs", "relativeCreated"}
    plain, copied = ({k: v for k, v in vars(r).items() if k not in timing} for r in (got[0], got[2]))
    assert copied == plain
    assert copied["request_id"] == "rid-1" and copied["gate"] == "g1"
    assert got[2].getMessage() == "GET /healthz 200"
    assert isinstance(got[2].created, float) and got[2].msecs == int((got[2].created % 1) * 1000)


def _worker_logging(monkeypatch):  # type: ignore[no-untyped-def]
    """A worker's logging set-up (our AccessLineHandler alone on the root, INFO), records
    made without thread/process/source lookups: (the stream, the handler, maas.http's logger)."""
    for flag in ("logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, flag, False)
    monkeypatch.setattr(logging, "_srcfile", None)
    stream = Recorder()
    h = AccessLineHandler(stream)
    h.setFormatter(JsonFormatter())
    monkeypatch.setattr(logging.root, "handlers", [h])
    monkeypatch.setattr(logging.root, "level", logging.INFO)
    return stream, h, logging.getLogger("maas.http")


def test_a_line_written_without_a_record_is_the_formatters_line(monkeypatch):
    from maas.logs import access_handler, log_access, request_id_var

    stream, h, logger = _worker_logging(monkeypatch)
    assert access_handler(logger) is h
    fields = {"method": "POST", "route": "/v1/gates/{gate}/validate", "status": 200, "ms": 1.5,
              "gate": "闸机-1", "note": "Bearer mk_abcdefghijklmnop", "id_number": "370102199001011234",
              "leg": None, "ok": True, "booking": object()}
    token = request_id_var.set("rid-7")
    try:
        log_access(logger, "%s %s %s", ("POST", "/v1/gates/{gate}/validate", 200), fields)
        record = logger.makeRecord("maas.http", logging.INFO, "(unknown file)", 0, "%s %s %s",
                                   ("POST", "/v1/gates/{gate}/validate", 200), None, extra=fields)
    finally:
        request_id_var.reset(token)
    h.flush()
    [direct] = stream.lines()
    formatted = json.loads(JsonFormatter().format(record))
    assert [k for k in direct if k != "ts"] == [k for k in formatted if k != "ts"]   # same order
    assert {k: v for k, v in direct.items() if k != "ts"} == {k: v for k, v in formatted.items() if k != "ts"}
    assert direct["request_id"] == "rid-7" and "abcdefghijklmnop" not in direct["note"]
    assert "id_number" not in direct and direct["gate"] == "闸机-1"
    with pytest.raises(KeyError):   # a record's own attribute as a field: refused, as info() does
        log_access(logger, "x", (), {"levelname": "bogus"})
    # anything else on the way (a capture handler beside ours, a disabled logger): the record path
    monkeypatch.setattr(logging.root, "handlers", [h, logging.NullHandler()])
    assert access_handler(logger) is None
    monkeypatch.setattr(logging.root, "handlers", [h])
    monkeypatch.setattr(logger, "disabled", True)
    assert access_handler(logger) is None


def test_a_write_counts_bytes_not_characters(handler):
    h, stream = handler
    h.FLUSH_S = 60.0

    async def run() -> None:
        for i in range(100):
            h.handle(_record("maas.http", logging.INFO, f"GET /v1/stops 济南西站济南西站济南西站 {i:03d}"))
        h.flush()

    import asyncio
    asyncio.run(run())
    assert all(len(w.encode()) <= 4096 for w in stream.writes) and len(stream.lines()) == 100


def test_the_middlewares_line_is_log_access_line(monkeypatch):
    """access_line (the middleware's call) writes what log_access writes for the same fields:
    the direct line with our handler alone, the record when another handler listens."""
    from maas.logs import access_line, log_access, request_id_var

    stream, h, logger = _worker_logging(monkeypatch)
    more = {"gate": "闸机-1", "note": "Bearer mk_abcdefghijklmnop", "id_number": "370102199001011234",
            "leg": None, "ok": True, "booking": object()}
    cases = [("GET", "/healthz", 200, 0.12, {}), ("POST", "/v1/gates/{gate}/validate", 200, 1.5, more),
             ("mk_abcdefghijklmnop", "unmatched", 404, 0.3, None)]
    token = request_id_var.set("rid-9")
    try:
        for method, route, status, ms, extra in cases:
            access_line(logger, method, route, status, ms, extra)
            fields = {"method": method, "route": route, "status": status, "ms": ms}
            log_access(logger, "%s %s %s", (method, route, status), {**(extra or {}), **fields})
    finally:
        request_id_var.reset(token)
    h.flush()
    lines = stream.lines()
    assert len(lines) == 2 * len(cases)
    for new, old in zip(lines[::2], lines[1::2]):
        assert [k for k in new if k != "ts"] == [k for k in old if k != "ts"]   # same order
        assert {k: v for k, v in new.items() if k != "ts"} == {k: v for k, v in old.items() if k != "ts"}
    assert "abcdefghijklmnop" not in json.dumps(lines) and "id_number" not in lines[2]
    assert lines[2]["gate"] == "闸机-1" and lines[0]["request_id"] == "rid-9"

    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    monkeypatch.setattr(logging.root, "handlers", [h, Keep()])   # the record path
    access_line(logger, "POST", "/v1/gates/{gate}/validate", 200, 1.5, {"gate": "g1"})
    assert got[0].getMessage() == "POST /v1/gates/{gate}/validate 200"
    assert (got[0].gate, got[0].method, got[0].status, got[0].ms) == ("g1", "POST", 200, 1.5)


async def test_the_middlewares_lines_are_formatted_when_written(monkeypatch):
    """A line is held as its fields, the request's annotations with them, and formatted when
    the held lines are written: the same text log_access writes at once."""
    import uuid

    import maas.logs
    from maas.logs import access_line, log_access, request_id_var

    stream, h, logger = _worker_logging(monkeypatch)
    h.FLUSH_S = 60.0
    formatted: list[object] = []
    text = maas.logs._access_text
    monkeypatch.setattr(maas.logs, "_access_text", lambda e: formatted.append(e) or text(e))
    gate = {"gate": "闸机-1", "result": "reject", "code": "replayed", "booking": uuid.uuid4(),
            "leg": 0, "ok": True, "none": None, "note": "Bearer mk_abcdefghijklmnop",
            "id_number": "370102199001011234", "big": 2**70, "nan": float("nan")}
    cases = [("GET", "/v1/plan", 200, 0.87, "rid-1", {}), ("GET", "/healthz", 200, 0.05, "", None),
             ("mk_abcdefghijklmnop", "unmatched", 405, 0.3, "rid-2", {}),
             ("POST", "/v1/gates/{gate}/validate", 200, 1.5, 'r"é-3', gate),
             ("POST", "/v1/gates/{gate}/validate", 200, 1e16, "rid-4", {"id_number": "x"}),
             ("GET", "/v1/x/bearer", 404, 2**70, "rid-5", None)]
    for method, route, status, ms, rid, more in cases:
        token = request_id_var.set(rid)
        try:
            access_line(logger, method, route, status, ms, more)
        finally:
            request_id_var.reset(token)
    assert formatted == [] and stream.writes == []     # held, not yet formatted
    h.flush()
    assert len(formatted) == len(cases) and len(stream.writes) == 1
    new = stream.writes[0].splitlines()
    stream.writes.clear()
    monkeypatch.setattr(h, "hold", lambda line: stream.write(line))   # the old line, at once
    for method, route, status, ms, rid, more in cases:
        token = request_id_var.set(rid)
        try:
            log_access(logger, "%s %s %s", (method, route, status),
                       {**(more or {}), "method": method, "route": route, "status": status, "ms": ms})
        finally:
            request_id_var.reset(token)
    old = "".join(stream.writes).splitlines()
    assert [line[line.index('",') :] for line in new] == [line[line.index('",') :] for line in old]
    lines = [json.loads(line) for line in new]
    assert "abcdefghijklmnop" not in json.dumps(lines) and "request_id" not in lines[1]
    assert "id_number" not in new[3] + new[4] and lines[3]["gate"] == "闸机-1"


async def test_a_field_named_as_the_heads_is_written_where_the_formatter_writes_it(monkeypatch):
    """An annotation named ts, level or logger takes the head's member's place (as the
    formatter writes a record's): such a line is formatted at once, not held as fields."""
    from maas.logs import access_line

    stream, h, logger = _worker_logging(monkeypatch)
    h.FLUSH_S = 60.0
    held: list[object] = []
    monkeypatch.setattr(h, "hold_access", held.append)
    access_line(logger, "GET", "/healthz", 200, 0.1, {"level": "odd", "gate": "g1"})
    h.flush()
    assert held == []
    (line,) = stream.lines()
    assert list(line)[:4] == ["ts", "level", "logger", "msg"] and line["level"] == "odd"
    assert line["gate"] == "g1" and line["status"] == 200


async def test_held_fields_longer_than_guessed_still_write_at_most_a_pipe_buffer(monkeypatch):
    from maas.logs import access_line

    stream, h, logger = _worker_logging(monkeypatch)
    h.FLUSH_S = 60.0
    route = "/v1/stops/" + "济南西站" * 40     # 3 bytes a character; held sizes count characters
    for i in range(60):
        access_line(logger, "GET", route, 200, float(i), {})
    h.flush()
    assert len(stream.writes) > 1
    assert all(len(w.encode()) <= 4096 for w in stream.writes) and len(stream.lines()) == 60


@pytest.fixture
def quiet_aiohttp_access():  # type: ignore[no-untyped-def]
    """aiohttp's own access lines off, as setup_logging sets them."""
    access = logging.getLogger("aiohttp.access")
    level = access.level
    access.setLevel(logging.WARNING)
    yield
    access.setLevel(level)


def _ledger_app(batch):  # type: ignore[no-untyped-def]
    """An app with our middleware and three routes: plain, annotated, and one that logs a
    warning while it runs; its metrics in a registry of its own."""
    from aiohttp import web
    from prometheus_client import CollectorRegistry

    from maas.http import Router, annotate
    from maas.middleware import Metrics, make_middlewares

    registry = CollectorRegistry()
    router = Router(tag="probe")

    @router.get("/a", summary="plain")
    async def plain(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    @router.post("/gates/{gate}", summary="annotated")
    async def gate(request: web.Request) -> web.Response:
        annotate(request, gate=request.match_info["gate"], result="accept", id_number="secret")
        return web.json_response({"ok": True})

    @router.get("/warn", summary="a warning in a request")
    async def warn(request: web.Request) -> web.Response:
        logging.getLogger("maas.probe").warning("something odd")
        return web.json_response({"ok": True})

    app = web.Application(middlewares=make_middlewares(Metrics(registry), batch))
    app.add_routes(router.routes)
    return app, registry


async def test_a_requests_bookkeeping_is_one_record_counted_and_written_together(
        monkeypatch, quiet_aiohttp_access):
    """In a worker (our handler alone), a request leaves one record: its line and its counts
    are made when the records held are drained (a scrape, another line, FLUSH_S), the same
    line and counts as at once, in the order the requests ended; every response has its id."""
    from aiohttp.test_utils import TestClient, TestServer

    from maas.metric_batch import MetricBatch

    stream, h, logger = _worker_logging(monkeypatch)
    h.FLUSH_S = 60.0
    batch = MetricBatch(flush_s=60.0)
    app, registry = _ledger_app(batch)
    async with TestClient(TestServer(app)) as client:
        ids = []
        for method, path in [("GET", "/a"), ("POST", "/gates/闸机-1"), ("GET", "/nope"),
                             ("GET", "/warn"), ("GET", "/a")]:
            r = await client.request(method, path)
            ids.append(r.headers["X-Request-ID"])
        assert all(ids) and len(set(ids)) == len(ids)
        # the warning went out at once, after the lines of the requests before its own
        lines = stream.lines()
        assert [line.get("route") for line in lines] == ["/a", "/gates/{gate}", "unmatched", None]
        assert lines[3]["msg"] == "something odd" and lines[3]["request_id"] == ids[3]
        # the three drained then are summed in the batch; the last two are one record each
        assert sum(batch._counts.values()) == 3
        assert registry.get_sample_value(
            "maas_http_requests_total", {"method": "GET", "route": "/a", "status": "200"}) == 0
        batch.flush()                      # what /metrics does first
        assert registry.get_sample_value(
            "maas_http_requests_total", {"method": "GET", "route": "/a", "status": "200"}) == 2
        assert registry.get_sample_value(
            "maas_http_request_duration_seconds_count", {"method": "GET", "route": "/warn"}) == 1
        assert registry.get_sample_value(
            "maas_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}) == 1
        h.flush()
    lines = stream.lines()
    assert [(line.get("method"), line.get("route"), line.get("status")) for line in lines] == [
        ("GET", "/a", 200), ("POST", "/gates/{gate}", 200), ("GET", "unmatched", 404),
        (None, None, None), ("GET", "/warn", 200), ("GET", "/a", 200)]
    access = [line for line in lines if "route" in line]
    assert [line["request_id"] for line in access] == [ids[0], ids[1], ids[2], ids[3], ids[4]]
    assert [list(line) for line in access][1] == [
        "ts", "level", "logger", "msg", "request_id", "gate", "result", "method", "route",
        "status", "ms"]
    assert access[1]["gate"] == "闸机-1" and access[1]["msg"] == "POST /gates/{gate} 200"
    assert all(isinstance(line["ms"], float) and line["level"] == "info" for line in access)


async def test_a_capture_handler_gets_each_line_at_once_after_what_is_held(
        monkeypatch, quiet_aiohttp_access):
    """When another handler listens (tests' capture), the request's line and counts are made
    at once, after the records held before it (drained first): nothing reordered."""
    from aiohttp.test_utils import TestClient, TestServer

    from maas.metric_batch import MetricBatch

    stream, h, logger = _worker_logging(monkeypatch)
    h.FLUSH_S = 60.0
    batch = MetricBatch(flush_s=60.0)
    app, registry = _ledger_app(batch)
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    async with TestClient(TestServer(app)) as client:
        await client.get("/a")
        assert stream.writes == []
        monkeypatch.setattr(logging.root, "handlers", [h, Keep()])
        await client.post("/gates/g1")
        assert [r.getMessage() for r in got] == ["POST /gates/{gate} 200"]
        assert got[0].gate == "g1" and got[0].request_id
        h.flush()
        assert [line["route"] for line in stream.lines()] == ["/a", "/gates/{gate}"]
        batch.flush()
        assert registry.get_sample_value(
            "maas_http_requests_total", {"method": "POST", "route": "/gates/{gate}", "status": "200"}) == 1


async def test_a_line_logged_in_another_thread_leaves_the_records_to_the_loop(
        monkeypatch, quiet_aiohttp_access):
    """A planner's thread writing a line drains nothing (the loop appends records without a
    lock): the records held stay for the loop, none lost."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from maas.metric_batch import MetricBatch

    stream, h, logger = _worker_logging(monkeypatch)
    h.FLUSH_S = 60.0
    batch = MetricBatch(flush_s=60.0)
    app, registry = _ledger_app(batch)
    async with TestClient(TestServer(app)) as client:
        await client.get("/a")
        await asyncio.to_thread(logging.getLogger("maas.probe").warning, "from a thread")
        assert [line["msg"] for line in stream.lines()] == ["from a thread"]
        batch.flush()
        assert [line["msg"] for line in stream.lines()] == ["from a thread", "GET /a 200"]
        assert registry.get_sample_value(
            "maas_http_requests_total", {"method": "GET", "route": "/a", "status": "200"}) == 1


async def test_a_held_records_counts_reach_the_metrics_within_the_batchs_time(
        monkeypatch, quiet_aiohttp_access):
    """The batch's timer runs from the first record held, not from the drain: another
    worker's scrape sees a request at most the batch's FLUSH_S late, as before."""
    from aiohttp.test_utils import TestClient, TestServer

    from maas.metric_batch import MetricBatch
    from maas.middleware import RequestLedger

    stream, h, logger = _worker_logging(monkeypatch)
    h.FLUSH_S = 60.0
    monkeypatch.setattr(RequestLedger, "FLUSH_S", 60.0)
    batch = MetricBatch(flush_s=0.02)
    app, registry = _ledger_app(batch)
    async with TestClient(TestServer(app)) as client:
        await client.get("/a")
        await eventually(lambda: registry.get_sample_value(
            "maas_http_requests_total", {"method": "GET", "route": "/a", "status": "200"}) == 1)
