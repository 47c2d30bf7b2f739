"""SQL of the database itself: the schema migrations, the readiness probe, and creating the
embedded server's database.

Migrations are the ordered plain SQL files in maas/migrations/, each applied once, in one
transaction, and recorded in `schema_migrations`. A transaction-level advisory lock makes
several processes starting at once apply them exactly once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from importlib import resources

import asyncpg

__all__ = ["migrations", "migrate", "ping", "type_oids", "create_database"]

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x6D616173  # "maas"


def migrations() -> list[tuple[str, str]]:
    """(name, sql) of every migration file, in the order they apply."""
    folder = resources.files("maas") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name, p.read_text(encoding="utf-8")) for p in files]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name       text PRIMARY KEY,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        for name, sql in migrations():
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if name in done:
                if done[name] != checksum:
                    log.warning("migration %s changed after it was applied", name)
                continue
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name, checksum
            )
            applied_now.append(name)
    if applied_now:
        log.info("applied migrations: %s", ", ".join(applied_now))
    return applied_now


async def ping(pool: asyncpg.Pool) -> None:
    """One round trip (the readiness check)."""
    await pool.fetchval("SELECT 1")


async def type_oids(conn: asyncpg.Connection, names: Sequence[str]) -> tuple[int, ...]:
    """The OIDs of the types `names` and of their arrays that the database has, ascending
    (none of a type not created yet)."""
    return tuple(await conn.fetchval(
        "SELECT coalesce(array_agg(o ORDER BY o), '{}') FROM unnest($1::text[]) AS n, "
        "LATERAL (VALUES (to_regtype(n)::oid), (to_regtype(n || '[]')::oid)) AS v(o) "
        "WHERE o IS NOT NULL", list(names)))


def create_database(psql: Callable[[str], str], name: str) -> None:
    """Create database `name` unless it exists, through an embedded server's `psql` (before
    any pool exists). `name` is ours (a constant), never user input."""
    if name not in psql("SELECT datname FROM pg_database;"):
        with contextlib.suppress(Exception):  # a concurrent starter may have just created it
            psql(f"CREATE DATABASE {name};")
