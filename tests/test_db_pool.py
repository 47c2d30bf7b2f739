"""maas/db.py: the app's PostgreSQL pool closes within a bound, whatever happened to the
database under it (a CI teardown once hung 300 s: the test database was dropped while the
pool still tried to restore its connection floor), and the test fixtures close every app
before they drop its database."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp import web

import maas.db
from maas.appkeys import DB, SETTINGS
from maas.db import db_ctx
from tests.polling import eventually

BOUND_S = 60      # what a hang would exceed; a healthy close takes a fraction of CLOSE_TIMEOUT_S


def _db_name(url: str) -> str:
    return url.split("?", 1)[0].rsplit("/", 1)[1]


async def _open(settings) -> tuple[web.Application, object]:
    app = web.Application()
    app[SETTINGS] = settings.model_copy(update={"db_pool_min": 2, "db_pool_max": 4})
    ctx = db_ctx(app)
    await ctx.__anext__()
    return app, ctx


async def _close(ctx) -> None:
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(ctx.__anext__(), BOUND_S)


async def test_a_connection_stuck_in_a_query_does_not_hold_the_close(settings, monkeypatch):
    monkeypatch.setattr(maas.db, "CLOSE_TIMEOUT_S", 0.5)
    app, ctx = await _open(settings)
    pool: asyncpg.Pool = app[DB]
    stuck = asyncio.create_task(pool.fetchval("SELECT pg_sleep(600)"))   # a request that hangs
    await eventually(lambda: pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'"))
    await _close(ctx)
    assert pool.is_closing()
    with pytest.raises((asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError,
                        asyncio.CancelledError)):
        await stuck


async def test_a_dropped_database_under_an_open_pool_closes_without_reconnecting(
        settings, services):
    app, ctx = await _open(settings)
    pool: asyncpg.Pool = app[DB]
    name = _db_name(settings.database_url)
    await services.drop_db(name)               # its connections die; the floor is retried
    await eventually(lambda: pool.get_size() == 0 and pool._maintenance_task is not None)
    await _close(ctx)
    assert pool.is_closing() and pool._maintenance_task is None
    # the database back under the same name: nothing of the closed pool connects to it
    admin = await asyncpg.connect(services.admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE maas_template")
        assert await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name) == 0
    finally:
        await admin.close()


async def _plans_of_a_first_execution(pool: asyncpg.Pool) -> list[tuple[str, int, int]]:
    """On each of the pool's connections (all held at once, so the pool opens them), the
    session's plan_cache_mode and (generic, custom) plans of one parameterised statement run
    once there."""
    conns = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        out = []
        for conn in conns:
            sql = "SELECT count(*) FROM pg_class WHERE relname = $1 AND relnamespace = $2::oid"
            await conn.fetchval(sql, "accounts", 2200)
            row = await conn.fetchrow(
                "SELECT current_setting('plan_cache_mode') AS mode, generic_plans, custom_plans "
                "FROM pg_prepared_statements WHERE statement = $1", sql)
            out.append((row["mode"], row["generic_plans"], row["custom_plans"]))
        return out
    finally:
        for conn in conns:
            await pool.release(conn)


async def test_the_pooled_connections_plan_a_statement_generically_from_its_first_execution(
        settings):
    app, ctx = await _open(settings)
    try:
        assert await _plans_of_a_first_execution(app[DB]) == [("force_generic_plan", 1, 0)] * 4
    finally:
        await _close(ctx)


async def test_db_generic_plans_off_leaves_postgresql_s_default(settings):
    app, ctx = await _open(settings.model_copy(update={"db_generic_plans": False}))
    try:
        assert await _plans_of_a_first_execution(app[DB]) == [("auto", 0, 1)] * 4
    finally:
        await _close(ctx)
