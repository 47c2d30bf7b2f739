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
  * concurrent duplicates: the second waits on the first's claim (a transaction-level
    advisory lock on the key), then replays;
  * an error (a raised domain error, or a 5xx) is not stored: nothing was committed, so a
    retry with the same key runs again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import asyncpg
from aiohttp import web

from maas import idempotency_store as store
from maas.appkeys import DB, PRINCIPAL, SETTINGS
from maas.errors import MaasError
from maas.http import json_response

__all__ = ["HEADER", "IdempotencyKeyMissing", "IdempotencyKeyReused", "IdempotencyKeyInvalid",
           "idempotent", "request_hash", "purge", "Key", "key_of", "replay"]

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
    return _hmac(key, _canonical(method, path, body))


# json.dumps(..., sort_keys=True, separators=(",", ":")) builds this encoder at every call
_CANON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _canonical(method: str, path: str, body: bytes) -> bytes:
    try:
        canon = _CANON.encode(json.loads(body)).encode()
    except (ValueError, UnicodeDecodeError):
        canon = body
    return b"\n".join([method.encode(), path.encode(), canon])


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


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


@dataclass(frozen=True)
class Key:
    """A request's Idempotency-Key: who (scope), the key, the request's hash under the active
    data key, and the canonical request (to hash under older keys when a stored hash differs)."""
    scope: str
    key: str
    digest: bytes
    canonical: bytes

    def same_request(self, stored_hash: bytes, keys: list[bytes]) -> bool:
        return stored_hash == self.digest or any(
            stored_hash == _hmac(k, self.canonical) for k in keys[1:])


async def key_of(request: web.Request, required: bool = True) -> Key | None:
    """The request's Idempotency-Key (None: no header and not `required`); 400 if missing or
    malformed. For handlers whose use case stores the response with its own writes in one
    transaction (ticketing/store.py `Idempotent`); `replay` answers a used key."""
    key = request.headers.get(HEADER)
    if key is None:
        if required:
            raise IdempotencyKeyMissing(f"send an {HEADER} header (e.g. a UUID) with this POST")
        return None
    if not 0 < len(key) <= _MAX_KEY or not key.isprintable():
        raise IdempotencyKeyInvalid(f"{HEADER} must be 1-{_MAX_KEY} printable characters")
    canonical = _canonical(request.method, request.path, await request.read())
    return Key(_scope(request), key, _hmac(_hash_keys(request)[0], canonical), canonical)


def replay(request: web.Request, key: Key, row: Any) -> web.Response:
    """The stored response of a used key, or 422 if it was used with another request."""
    if not key.same_request(bytes(row["request_hash"]), _hash_keys(request)):
        raise IdempotencyKeyReused(f"this {HEADER} was used with a different request",
                                   key=key.key)
    return _replay(row)


async def idempotent(request: web.Request,
                     run: Callable[[asyncpg.Connection | None], Awaitable[Any]], *,
                     status: int = 200, required: bool = True) -> web.StreamResponse:
    """Run `run(conn)` at most once per (caller, Idempotency-Key); see the module doc."""
    key = await key_of(request, required)
    if key is None:
        return _as_response(await run(None), status)
    try:
        return await _once(request, run, status, key)
    except _Discard as discarded:
        return discarded.resp


async def _once(request: web.Request, run: Callable[[asyncpg.Connection | None], Awaitable[Any]],
                status: int, key: Key) -> web.StreamResponse:
    async with request.app[DB].acquire() as conn:
        try:
            async with conn.transaction():
                # Blocks while a concurrent duplicate holds the key's claim.
                row = await store.claim(conn, key.scope, key.key)
                if row is None:
                    resp = _as_response(await run(conn), status)
                    if resp.status >= 500 or not isinstance(resp, web.Response) or resp.body is None:
                        raise _Discard(resp)  # roll back: nothing of it is kept
                    if not await store.store_response(conn, key.scope, key.key, key.digest,
                                                      resp.status, bytes(resp.body),
                                                      resp.content_type):
                        raise _Written()      # roll back, replay what is stored
                    return resp
        except _Written:
            row = await store.get(conn, key.scope, key.key)
    return replay(request, key, row)


class _Written(Exception):
    """The key's row was written meanwhile by a writer that did not take the claim's lock."""


async def purge(pool: asyncpg.Pool, older_than_s: float) -> int:
    """Forget keys older than `older_than_s` seconds (clients retry within minutes)."""
    return await store.purge(pool, older_than_s)
