"""Idempotency-Key for any POST: the same key and body again -> the first response again.

    @router.post("/v1/things", ..., headers={HEADER: "..."})
    async def create(request, body):
        return await idempotent(request, lambda conn: make_thing(conn, body), status=201)

`run(conn)` gets a connection inside the transaction that also records the key; a handler
that does its writes on that connection commits them atomically with the stored response,
so a retry after a crash either finds both or neither (exactly once). A handler that
ignores `conn` still gets at-most-once-per-success replays.

Semantics (keys are per caller: an account or an API key):
  * first request: runs; a response below 500 is stored and committed with the effects;
  * same key, same request (method, path, canonical JSON body) -> the stored response,
    with `Idempotent-Replayed: true` -- also after a restart (it lives in PostgreSQL);
  * same key, different request -> 422 idempotency_key_reused;
  * concurrent duplicates: the second waits on the first's uncommitted row, then replays;
  * an error (a raised domain error, or a 5xx) is not stored: nothing was committed, so a
    retry with the same key runs again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Awaitable, Callable

import asyncpg
from aiohttp import web

from maas import idempotency_store as store
from maas.appkeys import DB, PRINCIPAL, SETTINGS
from maas.errors import MaasError
from maas.http import json_response

__all__ = ["HEADER", "IdempotencyKeyMissing", "IdempotencyKeyReused", "IdempotencyKeyInvalid",
           "idempotent", "request_hash", "purge"]

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_MAX_KEY = 255


class IdempotencyKeyMissing(MaasError):
    code, status, title = "idempotency_key_missing", 400, "Idempotency-Key header required"


class IdempotencyKeyInvalid(MaasError):
    code, status, title = "idempotency_key_invalid", 400, "Invalid Idempotency-Key"


class IdempotencyKeyReused(MaasError):
    code, status, title = "idempotency_key_reused", 422, "Idempotency-Key reused"


def request_hash(method: str, path: str, body: bytes, key: bytes = b"") -> bytes:
    """Keyed hash of what makes two requests "the same" (JSON bodies compare canonically).

    Keyed (HMAC) because bodies carry personal data (names, ID numbers): a plain hash of
    low-entropy fields could be confirmed by guessing; without the key it cannot."""
    try:
        canon = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canon = body
    return hmac.new(key, b"\n".join([method.encode(), path.encode(), canon]),
                    hashlib.sha256).digest()


_HASH_KEYS: dict[str, list[bytes]] = {}


def _hash_keys(request: web.Request) -> list[bytes]:
    """HMAC keys derived from the data keys: the active one first, then the older ones
    (a key stored before a rotation still matches)."""
    settings = request.app.get(SETTINGS)
    if settings is None:
        return [b""]
    ident = settings.secret_keys or str(settings.data_dir)
    keys = _HASH_KEYS.get(ident)
    if keys is None:
        data = settings.data_keys()
        order = [data.active] + sorted(k for k in data.keys if k != data.active)
        keys = [hmac.new(data.keys[k], b"maas/idempotency/v1", hashlib.sha256).digest()
                for k in order]
        _HASH_KEYS[ident] = keys
    return keys


def _scope(request: web.Request) -> str:
    principal = request.get(PRINCIPAL)
    return f"{principal.kind}:{principal.id}" if principal is not None else "anonymous"


def _replay(row: asyncpg.Record) -> web.Response:
    resp = web.Response(body=bytes(row["body"]), status=row["status"])
    resp.content_type = row["content_type"]
    resp.headers[REPLAYED] = "true"
    return resp


def _as_response(result: Any, status: int) -> web.StreamResponse:
    return result if isinstance(result, web.StreamResponse) else json_response(result, status=status)


class _Discard(Exception):
    def __init__(self, resp: web.StreamResponse) -> None:
        self.resp = resp


async def idempotent(request: web.Request,
                     run: Callable[[asyncpg.Connection | None], Awaitable[Any]], *,
                     status: int = 200, required: bool = True) -> web.StreamResponse:
    """Run `run(conn)` at most once per (caller, Idempotency-Key); see the module doc."""
    key = request.headers.get(HEADER)
    if key is None:
        if required:
            raise IdempotencyKeyMissing(f"send an {HEADER} header (e.g. a UUID) with this POST")
        return _as_response(await run(None), status)
    if not 0 < len(key) <= _MAX_KEY or not key.isprintable():
        raise IdempotencyKeyInvalid(f"{HEADER} must be 1-{_MAX_KEY} printable characters")
    scope = _scope(request)
    body = await request.read()
    keys = _hash_keys(request)
    digest = request_hash(request.method, request.path, body, keys[0])
    older = [request_hash(request.method, request.path, body, k) for k in keys[1:]]
    try:
        return await _once(request, run, status, scope, key, digest, older)
    except _Discard as discarded:
        return discarded.resp


async def _once(request: web.Request, run: Callable[[asyncpg.Connection | None], Awaitable[Any]],
                status: int, scope: str, key: str, digest: bytes,
                older: list[bytes]) -> web.StreamResponse:
    async with request.app[DB].acquire() as conn:
        async with conn.transaction():
            # Blocks while a concurrent duplicate holds the (uncommitted) row.
            if await store.claim(conn, scope, key, digest):
                resp = _as_response(await run(conn), status)
                if resp.status >= 500 or not isinstance(resp, web.Response) or resp.body is None:
                    raise _Discard(resp)  # roll back: nothing of it is kept
                await store.store_response(conn, scope, key, resp.status, bytes(resp.body),
                                           resp.content_type)
                return resp
            row = await store.get(conn, scope, key)
    if bytes(row["request_hash"]) not in (digest, *older):
        raise IdempotencyKeyReused(f"this {HEADER} was used with a different request", key=key)
    return _replay(row)


async def purge(pool: asyncpg.Pool, older_than_s: float) -> int:
    """Forget keys older than `older_than_s` seconds (clients retry within minutes)."""
    return await store.purge(pool, older_than_s)
