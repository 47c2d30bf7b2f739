"""PostgreSQL: the connection pool and the schema migrations.

Migrations are the ordered plain SQL files in maas/migrations/, each applied once, in one
transaction, and recorded in `schema_migrations`. A transaction-level advisory lock makes
several processes starting at once apply them exactly once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import resources
from typing import AsyncIterator

import asyncpg
from aiohttp import web

from maas.appkeys import DB, SETTINGS

__all__ = ["migrations", "migrate", "create_pool", "db_ctx"]

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


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _release_as_is(conn: asyncpg.Connection) -> None:
    """Pool reset without a round trip. asyncpg still rolls back an open transaction; the
    default reset query (UNLISTEN, RESET ALL, advisory unlock) is skipped because no code
    leaves session state on a pooled connection (the LISTEN connection is not pooled). It
    costs one round trip per request otherwise (~0.5 ms under load, check-in measurement)."""


# A connection attempt to a server that does not answer gives up after this long (asyncpg's
# default is 60 s): the request then gets 503 database_unavailable instead of hanging.
CONNECT_TIMEOUT_S = 5.0


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_release_as_is,
        timeout=CONNECT_TIMEOUT_S,
    )
    assert pool is not None
    return pool


async def db_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.database_url:
        raise RuntimeError("database_url is not set (maas serve starts an embedded one)")
    pool = await create_pool(
        settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
    )
    if settings.migrate_on_start:
        async with pool.acquire() as conn:
            await migrate(conn)
    app[DB] = pool
    try:
        yield
    finally:
        await pool.close()
