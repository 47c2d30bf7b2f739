"""API keys and passenger accounts: who is calling, and what they may do.

Keys and account tokens are random 256-bit secrets shown once; only their SHA-256 is
stored. A resolved principal is cached for `auth_cache_s` seconds in Redis (shared by every
worker) and in each worker's memory (no round trip at all: gates call at 1,000/s). Revoking a
key deletes the Redis entry and publishes the key's hash on a Redis channel; every worker
listens and drops it from memory. A worker trusts its memory only while it is subscribed:
when Redis is unreachable it asks PostgreSQL every time, so a revocation is never missed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
import uuid
import weakref
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from maas import auth_store as store
from maas.errors import BadRequest, NotFound

__all__ = [
    "ROLES",
    "Principal",
    "create_key",
    "list_keys",
    "revoke_key",
    "create_account",
    "resolve",
    "hash_secret",
    "LocalAuthCache",
    "listen_revocations",
]

log = logging.getLogger(__name__)

ROLES = ("admin", "operator", "gate")
KEY_PREFIX = "mk_"
ACCOUNT_PREFIX = "ma_"
_CACHE_PREFIX = "maas:auth:"
REVOKED_CHANNEL = "maas:auth:revoked"


@dataclass(frozen=True)
class Principal:
    kind: str  # "key" or "account"
    role: str  # admin | operator | gate | account
    id: str  # key id or account id
    operator_id: str | None = None
    gate_id: str | None = None
    station: str | None = None

    @property
    def account_id(self) -> str | None:
        return self.id if self.kind == "account" else None

    @property
    def key_id(self) -> str | None:
        return self.id if self.kind == "key" else None


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


async def create_key(
    conn: asyncpg.Connection | asyncpg.Pool,
    role: str,
    *,
    operator: str | None = None,
    gate: str | None = None,
    station: str | None = None,
    name: str | None = None,
) -> tuple[str, str]:
    """Create an API key; returns (key id, the secret key, shown once)."""
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")
    if role == "operator" and not operator:
        raise BadRequest("an operator key needs --operator", field="operator")
    if role == "gate" and not (gate and station):
        raise BadRequest("a gate key needs --gate and --station FEED:STOP_ID", field="gate")
    if station is not None and ":" not in station:
        raise BadRequest("station must be FEED:STOP_ID", field="station")
    secret = _new_secret(KEY_PREFIX)
    key_id = "key_" + uuid.uuid4().hex[:16]
    await store.insert_key(
        conn,
        key_id,
        hash_secret(secret),
        role,
        operator if role == "operator" else None,
        gate if role == "gate" else None,
        station if role == "gate" else None,
        name,
    )
    return key_id, secret


async def list_keys(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    return await store.list_keys(conn)


async def revoke_key(
    conn: asyncpg.Connection | asyncpg.Pool, key_id: str, redis: aioredis.Redis | None = None
) -> None:
    secret_hash = await store.revoke_key(conn, key_id)
    if secret_hash is None:
        raise NotFound(f"no API key {key_id!r}", key_id=key_id)
    digest = secret_hash.hex()
    for cache in list(_IN_THIS_PROCESS):
        cache.drop(digest)
    if redis is not None:
        try:
            await redis.delete(_CACHE_PREFIX + digest)
            await redis.publish(REVOKED_CHANNEL, digest)
        except Exception:  # Redis is a cache: PostgreSQL already says revoked
            log.warning("could not clear the auth cache for a revoked key", exc_info=True)


async def create_account(conn: asyncpg.Connection | asyncpg.Pool) -> tuple[str, str]:
    """Create a passenger account; returns (account id, token shown once)."""
    token = _new_secret(ACCOUNT_PREFIX)
    account_id = "acc_" + uuid.uuid4().hex[:20]
    await store.insert_account(conn, account_id, hash_secret(token))
    return account_id, token


async def _lookup(pool: asyncpg.Pool, secret: str) -> Principal | None:
    digest = hash_secret(secret)
    if secret.startswith(ACCOUNT_PREFIX):
        account = await store.account_by_token(pool, digest)
        return Principal(kind="account", role="account", id=account) if account else None
    row = await store.key_by_secret(pool, digest)
    if row is None:
        return None
    return Principal(
        kind="key",
        role=row["role"],
        id=row["id"],
        operator_id=row["operator_id"],
        gate_id=row["gate_id"],
        station=row["station"],
    )


class LocalAuthCache:
    """A worker's memory of resolved principals, trusted only while revocations are heard."""

    def __init__(self, ttl_s: float) -> None:
        _IN_THIS_PROCESS.add(self)  # a revocation made in this process drops it at once
        self.ttl_s = ttl_s
        self.listening = False  # set by listen_revocations while subscribed
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._generation = 0  # bumped by every drop: a lookup older than a drop is not kept

    def get(self, digest: str) -> Principal | None:
        if not self.listening:
            return None
        hit = self._entries.get(digest)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def generation(self) -> int:
        return self._generation

    def put(self, digest: str, principal: Principal, generation: int) -> None:
        if self.listening and self.ttl_s > 0 and generation == self._generation:
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[digest] = (principal, time.monotonic() + self.ttl_s)

    def drop(self, digest: str | None = None) -> None:
        self._generation += 1
        if digest is None:
            self._entries.clear()
        else:
            self._entries.pop(digest, None)


_IN_THIS_PROCESS: "weakref.WeakSet[LocalAuthCache]" = weakref.WeakSet()


async def listen_revocations(redis_url: str, cache: LocalAuthCache) -> None:
    """Keep `cache` honest: drop revoked keys as they are announced; forget everything and
    stop trusting memory while the subscription is down. Runs until cancelled."""
    while True:
        client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2.0)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(REVOKED_CHANNEL)
            cache.listening = True
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if msg is not None and msg["type"] == "message":
                    data = msg["data"]
                    cache.drop(data.decode() if isinstance(data, bytes) else str(data))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — Redis down: PostgreSQL answers every request
            if cache.listening:
                log.warning("auth revocations unheard (%s); not caching keys in memory", type(exc).__name__)
            cache.listening = False
            cache.drop()
            await asyncio.sleep(1.0)
        finally:
            cache.listening = False
            cache.drop()
            try:
                await pubsub.aclose()
                await client.aclose()
            except Exception:  # noqa: BLE001
                pass


async def resolve(
    pool: asyncpg.Pool,
    redis: aioredis.Redis | None,
    secret: str,
    cache_s: int,
    local: LocalAuthCache | None = None,
) -> Principal | None:
    """The principal a bearer secret stands for, or None (unknown or revoked)."""
    digest = hash_secret(secret).hex()
    if local is not None:
        hit = local.get(digest)
        if hit is not None:
            return hit
        generation = local.generation()
    principal = await _resolve_shared(pool, redis, secret, digest, cache_s)
    if principal is not None and local is not None:
        local.put(digest, principal, generation)
    return principal


async def _resolve_shared(
    pool: asyncpg.Pool, redis: aioredis.Redis | None, secret: str, digest: str, cache_s: int
) -> Principal | None:
    cache_key = _CACHE_PREFIX + digest
    if redis is not None and cache_s > 0:
        try:
            cached = await redis.get(cache_key)
            if cached:
                return Principal(**json.loads(cached))
        except Exception:
            log.warning("auth cache unavailable; asking PostgreSQL", exc_info=False)
            redis = None
    principal = await _lookup(pool, secret)
    if principal is not None and redis is not None and cache_s > 0:
        try:
            await redis.set(cache_key, json.dumps(asdict(principal)), ex=cache_s)
        except Exception:
            pass
    return principal
