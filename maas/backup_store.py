"""The SQL of `maas db backup/restore`: what the database holds, and how a restore resets it."""

from __future__ import annotations

import asyncpg

__all__ = ["tables_with_rows", "applied_migrations", "RESET_SQL"]

# Run before the dump's script, in its transaction: the restore replaces everything.
RESET_SQL = "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"


async def tables_with_rows(conn: asyncpg.Connection) -> list[str]:
    """Tables of the public schema holding at least one row (the migration record aside)."""
    names = [r["tablename"] for r in await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations' "
        "ORDER BY tablename")]
    out = []
    for name in names:
        if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM public."{name}")'):
            out.append(name)
    return out


async def applied_migrations(conn: asyncpg.Connection) -> list[str]:
    exists = await conn.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
    if not exists:
        return []
    return [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")]
