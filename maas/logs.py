"""Structured JSON logs, one object per line, with the request id; secrets scrubbed.

Handlers never log bodies. As a second line of defence, the formatter masks anything that
looks like a bearer credential, and drops extra fields whose names mark personal data or
secrets (token, template, id_number, secret, qr, ...).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import datetime, timezone

import orjson

__all__ = ["request_id_var", "setup_logging", "JsonFormatter", "RESERVED_LOG_FIELDS"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SECRET_WORDS = ("token", "secret", "password", "template", "id_number", "qr", "key", "face", "name")
_CREDENTIAL = re.compile(r"\b(m[ka]_)[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_MAYBE_CREDENTIAL = re.compile(r"(?i)bearer\s|m[ka]_")   # one cheap pass before the two substitutions
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
    if _MAYBE_CREDENTIAL.search(text) is None:
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
        keep = _KEEP.get
        for key, value in record.__dict__.items():
            ok = keep(key)
            if ok is None:
                ok = _keep(key)
            if not ok:
                continue
            out[key] = (value if value is None or type(value) in _PLAIN or isinstance(value, (int, float))
                        else scrub(str(value)))
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return _encode(out)


_PLAIN = frozenset((int, float, bool))


def setup_logging(level: str = "INFO") -> None:
    # what our JSON lines never show, so the logging module need not find it out per record
    # (the caller's file and line walks the stack; a request's access line is ~2x cheaper)
    logging._srcfile = None   # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # we log requests ourselves
    logging.getLogger("pgserver").setLevel(logging.WARNING)
