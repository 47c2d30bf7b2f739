"""SQL of `Idempotency-Key` (`idempotency_keys`, maas/migrations/0200_bookings.sql).

maas/idempotency.py runs a request at most once per (caller, key); these are its statements.
The response row is written in the caller's transaction, so the key and what the request did
commit together or not at all.
"""

from __future__ import annotations

import asyncpg

__all__ = ["claim", "store_response", "get", "purge"]


async def claim(conn: asyncpg.Connection, scope: str, key: str) -> asyncpg.Record | None:
    """Claim the key for this transaction (a transaction-level advisory lock: a concurrent
    duplicate waits until the first commits or rolls back); its stored response if it was
    used (0820_booking_round_trips.sql `maas_idempotency_claim`)."""
    return await conn.fetchrow("SELECT * FROM maas_idempotency_claim($1, $2)", scope, key)


async def store_response(conn: asyncpg.Connection, scope: str, key: str, request_hash: bytes,
                         status: int, body: bytes, content_type: str) -> bool:
    """Write the key's response with the request's effects; False if a writer that did not
    take the claim's lock wrote it meanwhile (then roll back)."""
    return bool(await conn.fetchval(
        """INSERT INTO idempotency_keys (scope, key, request_hash, status, body, content_type)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
        scope, key, request_hash, status, body, content_type))


async def get(conn: asyncpg.Connection, scope: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2", scope, key)


async def purge(pool: asyncpg.Pool, older_than_s: float) -> int:
    """Delete keys older than `older_than_s` seconds; how many."""
    done = await pool.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
        older_than_s)
    return int(done.split()[-1])
