"""maas/db.py: the app's PostgreSQL pool closes within a bound, whatever happened to the
database under it (a CI teardown once hung 300 s: the test database was dropped while the
pool still tried to restore its connection floor), and the test fixtures close every app
before they drop its database."""

from __future__ import annotations

import asyncio
from datetime import date

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


async def test_the_array_type_oids_are_postgresql_s(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT typname, oid::int FROM pg_type WHERE oid = ANY ($1::oid[])",
                                list(maas.db.ARRAY_TYPE_OIDS.values()))
    finally:
        await conn.close()
    assert dict(rows) == maas.db.ARRAY_TYPE_OIDS


@pytest.fixture
def introspections(monkeypatch) -> list[tuple[int, ...]]:
    """The type OIDs of every asyncpg type introspection (a catalog query per call)."""
    calls: list[tuple[int, ...]] = []
    original = asyncpg.connection.Connection._introspect_types

    async def spy(self, typeoids, timeout):
        calls.append(tuple(typeoids))
        return await original(self, typeoids, timeout)

    monkeypatch.setattr(asyncpg.connection.Connection, "_introspect_types", spy)
    return calls


async def test_a_new_pooled_connection_knows_the_array_types_without_asking(
        settings, introspections, monkeypatch):
    monkeypatch.setattr(maas.db, "_INTROSPECTED", {})     # as in a fresh worker
    app, ctx = await _open(settings)
    pool: asyncpg.Pool = app[DB]
    try:
        conns = [await pool.acquire() for _ in range(pool.get_max_size())]   # all opened
        try:
            for conn in conns:   # the gate's batch statement's argument types, and a result
                got = await conn.fetchval(
                    "SELECT array_length($1::bigint[], 1) + array_length($2::boolean[], 1)"
                    " + array_length($3::int[], 1) + array_length($4::timestamptz[], 1)"
                    " + array_length($5::bytea[], 1) + array_length($6::date[], 1)",
                    [1], [True], [2], [None], [b"x"], [None])
                assert got == 6
                assert await conn.fetchval("SELECT ARRAY[1, 2]::bigint[]") == [1, 2]
        finally:
            for conn in conns:
                await pool.release(conn)
        # once for the process (the first connection), never again per connection (and the
        # booking statements' row types once, by the first connection opened after migrating)
        assert introspections[0] == tuple(maas.db.ARRAY_TYPE_OIDS.values())
        assert len(introspections) <= 2
    finally:
        await _close(ctx)


async def test_a_new_pooled_connection_knows_the_booking_row_types_without_asking(
        settings, introspections, monkeypatch):
    """The composite types confirm's and hold's statements send (maas_confirm_leg, ...) are
    introspected once per process and database, not on each connection's first confirm."""
    monkeypatch.setattr(maas.db, "_INTROSPECTED", {})     # as in a fresh worker
    app, ctx = await _open(settings)
    pool: asyncpg.Pool = app[DB]
    try:
        await pool.expire_connections()     # the floor opened before the migrations: anew
        conns = [await pool.acquire() for _ in range(pool.get_max_size())]
        try:
            for conn in conns:
                got = await conn.fetchval(
                    "SELECT cardinality($1::maas_confirm_leg[])"
                    " + cardinality($2::maas_confirm_ticket[])",
                    [(0, "t", date(2026, 12, 1), 0, 1, "r", 9)], [("tk_x", 0, 0, "adult")])
                assert got == 2
        finally:
            for conn in conns:
                await pool.release(conn)
        rows = [c for c in introspections if c != tuple(maas.db.ARRAY_TYPE_OIDS.values())]
        assert len(rows) == 1 and len(rows[0]) == 2 * len(maas.db.ROW_TYPES)
    finally:
        await _close(ctx)


# the statements maas.db.WARM_UPS runs (token, gate, key lookups, hold, confirm, cancel), by a
# part of their text
WARMED = ("maas_gate_taps(", "maas_gate_tap(", "FROM api_keys", "FROM accounts",
          "WITH src AS (", "WITH req AS (", "AS cancelled", "l.from_stop = ANY",
          "maas_hold_rows(", "maas_booking_current(", "maas_confirm_rows(", "maas_cancel_write(")


async def _prepared(conn) -> dict[str, int]:
    """The session's prepared statements that WARMED names -> their generic plans so far."""
    rows = await conn.fetch("SELECT statement, generic_plans FROM pg_prepared_statements")
    return {w: r["generic_plans"] for r in rows for w in WARMED if w in r["statement"]}


async def test_every_pooled_connection_has_run_the_warm_statements_before_its_first_request(
        settings):
    app, ctx = await _open(settings)        # the floor (2) opens before the migrations
    pool: asyncpg.Pool = app[DB]
    try:
        conns = [await pool.acquire() for _ in range(pool.get_max_size())]   # 2 more open
        try:
            for conn in conns:   # prepared in asyncpg's cache, planned once each
                assert await _prepared(conn) == dict.fromkeys(WARMED, 1)
            for table in ("bookings", "booking_legs", "booking_events", "idempotency_keys",
                          "tickets"):     # and nothing written by the warm-ups
                assert await conns[0].fetchval(f"SELECT count(*) FROM {table}") == 0, table
        finally:
            for conn in conns:
                await pool.release(conn)
    finally:
        await _close(ctx)


async def test_db_warm_off_leaves_new_connections_cold(settings):
    app, ctx = await _open(settings.model_copy(update={"db_warm": False}))
    try:
        async with app[DB].acquire() as conn:
            assert await _prepared(conn) == {}
    finally:
        await _close(ctx)


async def test_a_connection_the_warm_up_fails_on_still_serves(services, caplog):
    name = await services.create_db()         # from the template: the schema is there
    url = services.db_url(name)
    admin = await asyncpg.connect(url)
    try:
        await admin.execute("DROP FUNCTION maas_gate_taps")     # a schema it does not expect
    finally:
        await admin.close()
    pool = await maas.db.create_pool(url, min_size=1, max_size=1, warm_ups=maas.db.WARM_UPS)
    try:
        assert await pool.fetchval("SELECT 41 + 1") == 42
        assert "could not warm a new PostgreSQL connection" in caplog.text
    finally:
        await maas.db.close_pool(pool)
        await services.drop_db(name)


# maas.db._Pool.release: the release without asyncpg's shielded task copies asyncpg's own
# release for the connections that need no await. These are the digests of the asyncpg sources
# it copies, as checked; a new asyncpg (or a changed one) fails here: read the new sources,
# adapt `_Pool.release` and FAST_RELEASE_ASYNCPG, then record the new digests.
ASYNCPG_SOURCES = {
    "Pool.release": "e24e3da0c5bf1df6",
    "PoolConnectionHolder.release": "a8af808680d4c5ce",
    "PoolConnectionHolder._release": "daf444ce5b345cb1",
    "PoolConnectionHolder._setup_inactive_callback": "25722bd387b2e7d9",
    "PoolAcquireContext.__aexit__": "33bb4fe789a8e490",
    "Connection._reset": "3252aa6d5b0eb65f",
    "Connection._on_release": "cf495810a0f25382",
    "Connection._introspect_types": "cd7897b5c116b7e6",   # maas.db._known_types calls it
}


def _source_digest(qualname: str) -> str:
    import hashlib
    import inspect

    cls, name = qualname.split(".")
    owner = getattr(asyncpg.pool, cls, None) or getattr(asyncpg.connection, cls)
    return hashlib.sha256(inspect.getsource(getattr(owner, name)).encode()).hexdigest()[:16]


def test_the_asyncpg_internals_the_fast_release_copies_are_the_checked_ones():
    assert asyncpg.__version__ in maas.db.FAST_RELEASE_ASYNCPG
    assert {name: _source_digest(name) for name in ASYNCPG_SOURCES} == ASYNCPG_SOURCES


@pytest.fixture
def holder_releases(monkeypatch) -> list[object]:
    """Every release that went through asyncpg's own path (the holder's, shielded)."""
    calls: list[object] = []
    original = asyncpg.pool.PoolConnectionHolder.release

    async def spy(self, timeout):
        calls.append(self)
        return await original(self, timeout)

    monkeypatch.setattr(asyncpg.pool.PoolConnectionHolder, "release", spy)
    return calls


async def test_a_statement_s_connection_comes_back_without_asyncpg_s_release(
        settings, holder_releases):
    app, ctx = await _open(settings)
    pool: asyncpg.Pool = app[DB]
    try:
        assert type(pool) is maas.db._Pool
        idle = pool.get_idle_size()
        assert await pool.fetchval("SELECT 41 + 1") == 42
        async with pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute("CREATE TABLE kept (n int)")
            pid = conn.get_server_pid()
        assert pool.get_idle_size() == idle and holder_releases == []
        async with pool.acquire() as again:   # LIFO: the same connection, usable
            assert again.get_server_pid() == pid
            assert await again.fetchval("SELECT count(*) FROM kept") == 0
        with pytest.raises(asyncpg.InterfaceError):
            await conn.fetchval("SELECT 1")   # the released proxy is detached
    finally:
        await _close(ctx)


async def test_an_open_transaction_goes_through_asyncpg_s_release_and_is_rolled_back(
        settings, holder_releases):
    app, ctx = await _open(settings)
    pool: asyncpg.Pool = app[DB]
    try:
        conn = await pool.acquire()
        await conn.execute("BEGIN")
        await conn.execute("CREATE TABLE dropped (n int)")
        pid = conn.get_server_pid()
        await pool.release(conn)
        assert len(holder_releases) == 1
        async with pool.acquire() as again:
            assert again.get_server_pid() == pid
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT to_regclass('dropped')") is None
    finally:
        await _close(ctx)


async def test_a_cancelled_statement_s_connection_is_released_by_asyncpg_and_stays_usable(
        settings, holder_releases):
    app, ctx = await _open(settings)
    pool: asyncpg.Pool = app[DB]
    try:
        task = asyncio.create_task(pool.fetchval("SELECT pg_sleep(600)"))
        await eventually(lambda: pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eventually(lambda: pool.get_idle_size() == pool.get_size())
        assert len(holder_releases) >= 1
        assert [await pool.fetchval("SELECT $1::int", n) for n in range(6)] == list(range(6))
        assert await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)' "
            "AND state = 'active'") == 0
    finally:
        await _close(ctx)


async def test_an_expired_connection_goes_through_asyncpg_s_release_a_closed_one_needs_none(
        settings, holder_releases):
    app, ctx = await _open(settings)
    pool: asyncpg.Pool = app[DB]
    try:
        conn = await pool.acquire()
        old_pid = conn.get_server_pid()
        await pool.expire_connections()
        await pool.release(conn)               # expired: closed, the holder reconnects later
        assert len(holder_releases) == 1
        conn = await pool.acquire()
        conn.terminate()                       # closed: the holder went back with it
        await pool.release(conn)               # so this release has nothing to do
        assert len(holder_releases) == 1
        pids = set()
        for _ in range(3):
            async with pool.acquire() as again:
                pids.add(again.get_server_pid())
                assert await again.fetchval("SELECT 1") == 1
        assert old_pid not in pids
    finally:
        await _close(ctx)
