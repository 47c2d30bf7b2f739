"""SQL of `Idempotency-Key` (`idempotency_keys`, maas/migrations/0200_bookings.sql).

maas/idempotency.py runs a request at most once per (caller, key); these are its statements.
A claimed row is written in the caller's transaction, so the key and what the request did
commit together or not at all.
"""

from __future__ import annotations

import asyncpg

__all__ = ["claim", "store_response", "get", "purge"]


async def claim(conn: asyncpg.Connection, scope: str, key: str, request_hash: bytes) -> bool:
    """Insert the key's row (empty response); False if it exists. Blocks while a concurrent
    duplicate holds the (uncommitted) row."""
    mine = await conn.fetchval(
        """INSERT INTO idempotency_keys (scope, key, request_hash, status, body, content_type)
           VALUES ($1, $2, $3, 0, '', '') ON CONFLICT DO NOTHING RETURNING true""",
        scope, key, request_hash)
    return bool(mine)


async def store_response(conn: asyncpg.Connection, scope: str, key: str, status: int, body: bytes,
                         content_type: str) -> None:
    await conn.execute(
        """UPDATE idempotency_keys SET status = $3, body = $4, content_type = $5
           WHERE scope = $1 AND key = $2""",
        scope, key, status, body, content_type)


async def get(conn: asyncpg.Connection, scope: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2", scope, key)


async def purge(pool: asyncpg.Pool, older_than_s: float) -> int:
    """Delete keys older than `older_than_s` seconds; how many."""
    done = await pool.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
        older_than_s)
    return int(done.split()[-1])
