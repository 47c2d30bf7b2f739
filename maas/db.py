"""PostgreSQL: the connection pool, migrated at start-up (the migrations and their SQL:
maas/db_store.py; `migrate` and `migrations` are re-exported here).
"""

from __future__ import annotations

import json
from typing import AsyncIterator

import asyncpg
from aiohttp import web

from maas.appkeys import DB, SETTINGS
from maas.db_store import migrate, migrations

__all__ = ["migrations", "migrate", "create_pool", "db_ctx"]

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
