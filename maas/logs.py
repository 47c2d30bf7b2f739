"""Structured JSON logs, one object per line, with the request id; secrets scrubbed.

Handlers never log bodies. As a second line of defence, the formatter masks anything that
looks like a bearer credential, and drops extra fields whose names mark personal data or
secrets (token, template, id_number, secret, qr, ...).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import sys
import time
import weakref
from datetime import datetime, timezone
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import orjson

__all__ = ["request_id_var", "setup_logging", "log_access", "access_line", "access_handler",
           "JsonFormatter", "AccessLineHandler", "AccessEntry", "RESERVED_LOG_FIELDS",
           "CLASHING_FIELDS"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SECRET_WORDS = ("token", "secret", "password", "template", "id_number", "qr", "key", "face", "name")
_CREDENTIAL = re.compile(r"\b(m[ka]_)[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_STD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime", "request_id"}
# LogRecord's own attributes and the access line's fields: `extra` may not set them
RESERVED_LOG_FIELDS = frozenset(_STD | {"method", "route", "status", "ms"})
_KEEP: dict[str, bool] = {}   # extra field name -> may be logged (decided once per name)

_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: object, **kwargs: object) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id_var.get()  # stamped when logged, not when formatted
    return record


logging.setLogRecordFactory(_record_with_request_id)


def scrub(text: str) -> str:
    # the cheap pass first: plain substring tests (~0.15 us) instead of the case-insensitive
    # regex (~0.7 us), on every text value of every line; a superset of what the two
    # substitutions below change (`m[ka]_` is case-sensitive; "bearer" has no letter that
    # matches another character case-insensitively)
    if "mk_" not in text and "ma_" not in text and "bearer" not in text.lower():
        return text
    text = _BEARER.sub(r"\1***", text)
    return _CREDENTIAL.sub(r"\1***", text)


def _keep(key: str) -> bool:
    ok = _KEEP.get(key)
    if ok is None:
        ok = not (key in _STD or key.startswith("_") or any(w in key.lower() for w in _SECRET_WORDS))
        if len(_KEEP) < 10_000:
            _KEEP[key] = ok
    return ok


for _name in _STD:       # a record's own attributes: decided before the first line
    _keep(_name)



def _encode(line: dict[str, object]) -> str:
    # orjson: ~20x faster than json's encoder with ensure_ascii=False (every access line); it
    # writes no spaces. json's encoder for what orjson refuses (an integer past 64 bits).
    try:
        return orjson.dumps(line).decode()
    except TypeError:
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)

_ts_second: list = [None, ""]   # the last whole second formatted, and its text


def _timestamp(created: float) -> str:
    """`datetime.fromtimestamp(created, utc).isoformat(timespec="milliseconds")`, with the
    date and time formatted once per second (every access line has one)."""
    sec = int(created)
    us = round((created - sec) * 1e6)
    if us >= 1_000_000:
        sec, us = sec + 1, us - 1_000_000
    if _ts_second[0] != sec:
        _ts_second[1] = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _ts_second[0] = sec
    return f"{_ts_second[1]}.{us // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        _add_fields(out, record.__dict__)
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return _encode(out)


def _add_fields(out: dict[str, object], fields: dict[str, object]) -> None:
    """The fields that may be logged (a record's own attributes may not), text scrubbed."""
    keep = _KEEP.get
    for key, value in fields.items():
        ok = keep(key)
        if not ok and (ok is not None or not _keep(key)):
            continue
        kind = type(value)
        if kind is str:   # most fields: the test for it first
            out[key] = scrub(value)
        elif value is None or kind in _PLAIN or isinstance(value, (int, float)):
            out[key] = value
        elif kind is UUID:    # encoded as str() writes it (no text to scrub): a booking's id
            out[key] = value
        else:
            out[key] = scrub(str(value))


_PLAIN = frozenset((int, float, bool))


def access_handler(logger: logging.Logger) -> "AccessLineHandler | None":
    """The handler an INFO line of `logger` reaches alone, when that is an AccessLineHandler
    with our formatter and nothing on the way filters or also handles it (a `maas serve`
    worker after setup_logging); else None (tests' capture handlers, a custom set-up)."""
    if logger.disabled:
        return None
    node: Any = logger
    root = logging.root
    while node is not root:
        if node.handlers or node.filters or not node.propagate:
            return None
        node = node.parent
    handlers = root.handlers
    if len(handlers) != 1 or root.filters or root.manager.disable >= logging.INFO:
        return None
    h = handlers[0]
    if (type(h) is not AccessLineHandler or h.filters or h.level > logging.INFO
            or type(h.formatter) is not JsonFormatter):
        return None
    return h


_INFO = logging.getLevelName(logging.INFO).lower()


def _direct_head(logger: logging.Logger, msg: str) -> dict[str, object]:
    """The leading fields JsonFormatter.format writes for an INFO record of `logger` with
    message `msg` (the record's own attributes never show; request_id is one of them)."""
    return _head(time.time(), logger.name, msg, request_id_var.get())


def _head(created: float, name: str, msg: str, rid: str | None) -> dict[str, object]:
    out: dict[str, object] = {"ts": _timestamp(created), "level": _INFO, "logger": name,
                              "msg": scrub(msg)}
    if rid:
        out["request_id"] = rid
    return out


def log_access(logger: logging.Logger, msg: str, args: tuple[object, ...],
               fields: dict[str, object]) -> None:
    """`logger.info(msg, *args, extra=fields)` for the access line of every request, cheaper
    in a worker whose only handler is our AccessLineHandler: the formatter's line is built
    straight from the fields, with no LogRecord (~5 -> 2 us). Anywhere else (tests' capture
    handlers), and when a field would clash with a record's own attribute (which `info`
    refuses), the plain call."""
    if not logger.isEnabledFor(logging.INFO):
        return
    direct = access_handler(logger) if _STD.isdisjoint(fields) else None
    if direct is not None:
        # what JsonFormatter.format writes for the record info() would make (the record's
        # own attributes never show; request_id is one of them), without the record
        if args and len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            args = args[0]   # type: ignore[assignment]  # as LogRecord takes a lone mapping
        out = _direct_head(logger, str(msg) % args if args else str(msg))
        _add_fields(out, fields)
        direct.hold(_encode(out) + direct.terminator)
        return
    logger.info(msg, *args, extra=fields)


def access_line(logger: logging.Logger, method: str, route: str, status: int, ms: float,
                more: dict[str, object] | None) -> None:
    """The middleware's access line: `log_access(logger, "%s %s %s", (method, route, status),
    {**more, "method": method, "route": route, "status": status, "ms": ms})`, the same line
    (tests/test_access_lines.py), held as its fields and formatted when the held lines are
    written (`_access_text`); `more` (the request's annotations, never changed after its
    response) with them."""
    if not logger.isEnabledFor(logging.INFO):
        return
    direct = access_handler(logger)
    if direct is None or (more and not CLASHING_FIELDS.isdisjoint(more)):
        fields: dict[str, object] = {"method": method, "route": route, "status": status, "ms": ms}
        log_access(logger, "%s %s %s", (method, route, status), {**more, **fields} if more else fields)
        return
    direct.hold_access((time.time(), logger.name, request_id_var.get() or "", method, route,
                        status, ms, more or None))


def _access_tail(out: dict[str, object], method: str, clean: str, status: int, ms: float) -> None:
    out["method"] = scrub(method)
    out["route"] = clean
    out["status"] = status      # an int and a float: _add_fields would keep them as they are
    out["ms"] = ms


# an access line as access_line held it: (time.time(), logger name, request id, method,
# route, status, ms, the request's extra fields or None)
AccessEntry = tuple[float, str, str, str, str, int, float, "dict[str, object] | None"]


def _access_text(e: AccessEntry) -> str:
    """The line access_line would have formatted at once for entry `e` (JsonFormatter's):
    the members that depend on the logger, method, route and status alone are encoded once
    per such key (`_access_parts`); the time, request id, extra fields and ms joined to them
    per line (JSON encodes each member apart from the others)."""
    created, name, rid, method, route, status, ms, more = e
    parts = _PARTS.get((name, method, route, status))
    if parts is None:
        parts = _access_parts(name, method, route, status)
    head, tail = parts
    rid_text = f',"request_id":{_encode(rid)}' if rid else ""
    if more:
        fields: dict[str, object] = {}
        _add_fields(fields, more)
        if fields:
            tail = f"{_encode(fields)[1:-1]},{tail}"
    return f'{{"ts":"{_timestamp(created)}",{head}{rid_text},{tail},"ms":{_encode(ms)}}}'


# (logger name, method, route, status) -> the encoded members before and after the request
# id (bounded: the app's routes, methods and statuses, and at most _MAX_PARTS)
_PARTS: dict[tuple[str, str, str, int], tuple[str, str]] = {}
_MAX_PARTS = 10_000


def _access_parts(name: str, method: str, route: str, status: int) -> tuple[str, str]:
    """The members an access line has before its request id (level, logger, msg) and after
    its extra fields but for ms (method, route, status), each the encoding of a dict of them
    without its braces."""
    head = _head(0.0, name, f"{method} {route} {status}", None)
    del head["ts"]
    tail: dict[str, object] = {}
    _access_tail(tail, method, scrub(route), status, 0.0)
    del tail["ms"]
    parts = (_encode(head)[1:-1], _encode(tail)[1:-1])
    if len(_PARTS) < _MAX_PARTS:
        _PARTS[(name, method, route, status)] = parts
    return parts


# the bytes of an entry's line besides its texts, and of an extra field (estimates: flush()
# splits by the real size)
_ACCESS_BYTES = len(_access_text((0.0, "", "", "", "", 200, 0.25, None))) + 4
_FIELD_BYTES = 32
# extra fields held with an entry may not be its own (RESERVED_LOG_FIELDS) nor the head's:
# JsonFormatter would write such a field over the head's member, in its place
CLASHING_FIELDS = RESERVED_LOG_FIELDS | {"ts", "level", "logger"}


def _bytes(line: str) -> int:
    return len(line) if line.isascii() else len(line.encode())


class AccessLineHandler(logging.StreamHandler):
    """A StreamHandler that gathers the request access lines (INFO and below from
    `maas.http`) and writes them together: one write per ~4 KiB (at most PIPE_BUF, so the
    workers' lines never interleave inside a pipe) or FLUSH_S after the first line held,
    instead of one write per request (~3 us of a worker's CPU each). Every other line is
    written at once, after what is held (the order stays). A worker's last lines are written
    by `logging.shutdown()` at its exit; a line is lost only if the process is killed
    (SIGKILL, a crash of the interpreter) within FLUSH_S of it."""

    FLUSH_S = 0.5
    MAX_BYTES = 4000   # under PIPE_BUF (4096 on Linux)

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._held: list[str | AccessEntry] = []   # lines, and entries formatted at flush()
        self._size = 0
        self._since = 0.0               # time.monotonic() of the first line held
        self._timer: Any = None         # the loop's TimerHandle while lines are held
        # who holds access entries of their own for this handler (maas.middleware's
        # RequestLedger): drained into it before anything is written, so the order stays
        self._sources: weakref.WeakSet[Any] = weakref.WeakSet()

    def add_source(self, source: Any) -> None:
        """Drain `source` (anything with a `drain()` that gives its entries to
        `write_entries`) whenever this handler writes."""
        self._sources.add(source)

    def write_entries(self, entries: list[AccessEntry]) -> None:
        """Write the access lines of `entries` now, after what is held (a source's drain)."""
        with self.lock:   # type: ignore[union-attr]
            self._held.extend(entries)
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING or record.name != "maas.http":
            self.flush()
            super().emit(record)
            return
        try:
            line = self.format(record) + self.terminator
        except Exception:   # noqa: BLE001 -- logging's own way: report, never raise
            self.handleError(record)
            return
        self._hold(line, _bytes(line))

    def hold(self, line: str) -> None:
        """Hold one formatted access line (with its terminator), as emit() does
        (maas.logs.log_access writes its lines here without a record)."""
        with self.lock:   # type: ignore[union-attr]
            self._hold(line, _bytes(line))

    def hold_access(self, e: AccessEntry) -> None:
        """Hold the access line of entry `e`, formatted when written: formatting the lines
        held together in flush() costs a served request a few us less CPU than one line each
        between requests (BENCHMARKS.md, glue9)."""
        size = _ACCESS_BYTES + len(e[1]) + len(e[2]) + 2 * len(e[3]) + 2 * len(e[4])
        if e[7]:
            size += _FIELD_BYTES * len(e[7])
        with self.lock:   # type: ignore[union-attr]
            self._hold(e, size)

    def _hold(self, line: str | AccessEntry, size: int) -> None:
        now = time.monotonic()
        if self._held and (self._size + size > self.MAX_BYTES or now - self._since >= self.FLUSH_S):
            self.flush()
        if not self._held:
            self._since = now
        self._held.append(line)
        self._size += size
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:    # no loop in this thread: nothing would come back to write it
                self.flush()
                return
            self._timer = loop.call_later(self.FLUSH_S, self.flush)

    def flush(self) -> None:
        with self.lock:   # type: ignore[union-attr]  # (the timer calls it outside handle())
            for source in list(self._sources):   # (a drain comes back through write_entries)
                source.drain()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._held:
                held = self._held
                self._held = []
                self._size = 0
                try:
                    for text in self._writes(held):
                        self.stream.write(text)
                except Exception:   # noqa: BLE001 -- a closed or broken stream: as StreamHandler
                    pass
            super().flush()

    def _writes(self, held: list[str | AccessEntry]) -> list[str]:
        """The held lines in writes of at most MAX_BYTES (one but when an entry's line came
        out longer than hold_access guessed)."""
        end = self.terminator
        lines = [x if isinstance(x, str) else _access_text(x) + end for x in held]
        writes: list[str] = []
        start, size = 0, 0
        for i, line in enumerate(lines):
            n = _bytes(line)
            if i > start and size + n > self.MAX_BYTES:
                writes.append("".join(lines[start:i]))
                start, size = i, 0
            size += n
        writes.append("".join(lines[start:]))
        return writes


def setup_logging(level: str = "INFO") -> None:
    # what our JSON lines never show, so the logging module need not find it out per record
    # (the caller's file and line walks the stack; a request's access line is ~2x cheaper)
    logging._srcfile = None   # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if hasattr(logging, "logAsyncioTasks"):   # Python 3.12+
        logging.logAsyncioTasks = False
    handler = AccessLineHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # we log requests ourselves
    logging.getLogger("pgserver").setLevel(logging.WARNING)
