"""SQL of API keys and passenger accounts (`api_keys`, `accounts`: maas/migrations/0001_core.sql).

Only hashes of secrets are stored; maas/auth.py makes the secrets and resolves callers.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

__all__ = ["insert_key", "list_keys", "revoke_key", "insert_account", "account_by_token",
           "key_by_secret", "warm_connection"]

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def insert_key(conn: Conn, key_id: str, secret_hash: bytes, role: str, operator_id: str | None,
                     gate_id: str | None, station: str | None, name: str | None) -> None:
    await conn.execute(
        """INSERT INTO api_keys (id, secret_hash, role, operator_id, gate_id, station, name)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        key_id, secret_hash, role, operator_id, gate_id, station, name,
    )


async def list_keys(conn: Conn) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, role, operator_id, gate_id, station, name, created_at, revoked_at
           FROM api_keys ORDER BY created_at"""
    )
    return [dict(r) for r in rows]


async def revoke_key(conn: Conn, key_id: str) -> bytes | None:
    """Mark the key revoked (once: the first time stands); its secret hash, None if no such key."""
    row = await conn.fetchrow(
        """UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
           WHERE id = $1 RETURNING secret_hash""",
        key_id,
    )
    return None if row is None else bytes(row["secret_hash"])


async def insert_account(conn: Conn, account_id: str, token_hash: bytes) -> None:
    await conn.execute("INSERT INTO accounts (id, token_hash) VALUES ($1, $2)", account_id, token_hash)


async def account_by_token(conn: Conn, token_hash: bytes) -> str | None:
    """The id of the live (not deleted) account with this token hash."""
    row = await conn.fetchrow(
        "SELECT id FROM accounts WHERE token_hash = $1 AND deleted_at IS NULL", token_hash
    )
    return row["id"] if row else None


async def key_by_secret(conn: Conn, secret_hash: bytes) -> asyncpg.Record | None:
    """id, role, operator_id, gate_id, station of the unrevoked key with this secret hash."""
    return await conn.fetchrow(
        """SELECT id, role, operator_id, gate_id, station FROM api_keys
           WHERE secret_hash = $1 AND revoked_at IS NULL""",
        secret_hash,
    )


async def warm_connection(conn: Conn) -> None:
    """Run the two bearer lookups once on a new pooled connection (no hash is empty: nothing
    matches), so a request's first lookup there finds them prepared and planned (maas/db.py)."""
    await account_by_token(conn, b"")
    await key_by_secret(conn, b"")
