"""PostgreSQL: the connection pool, migrated at start-up (the migrations and their SQL:
maas/db_store.py; `migrate` and `migrations` are re-exported here).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

import asyncpg
from aiohttp import web

from maas import auth_store
from maas.appkeys import DB, SETTINGS
from maas.db_store import migrate, migrations, type_oids
from ticketing import checkin_store, store

__all__ = ["migrations", "migrate", "create_pool", "close_pool", "db_ctx"]

log = logging.getLogger(__name__)

WarmUp = Callable[[Any], Awaitable[None]]

# What `db_warm` runs on every new pooled connection before it serves a request: the request
# paths' statements whose first run on a connection costs PostgreSQL most (each store's
# `warm_connection`, with arguments that match nothing). A connection's first run of a
# statement pays asyncpg's prepare (a round trip: parse, describe), the backend's first load
# of the tables', indexes' and plpgsql functions' catalog entries and the statement's plan;
# a burst spreads over most of a pool's connections, each paying it for each statement (200
# gate accepts on two workers' cold connections: ~45 such firsts), and the pool opens
# connections anew under load after 300 s idle. Later runs are the same either way. With
# the booking statements' (`store.warm_connection`, and ROW_TYPES below) a new connection's
# first hold, confirm and cancel cost PostgreSQL ~5.7 ms together, were ~15.7 (its first
# hold alone ~11: the key's row type introspected, maas_hold_rows compiled and planned);
# the warm-up adds ~3.5 ms to the connection's set-up (BENCHMARKS.md, book11).
WARM_UPS: tuple[WarmUp, ...] = (auth_store.warm_connection, checkin_store.warm_connection,
                                store.warm_connection)


async def _init_connection(conn: asyncpg.Connection, warm_ups: Sequence[WarmUp] = ()) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
    if asyncpg.__version__ in FAST_RELEASE_ASYNCPG:
        await _known_types(conn, tuple(ARRAY_TYPE_OIDS.values()))
        await _known_types(conn, await type_oids(conn, ROW_TYPES))
    await _warm(conn, warm_ups)


async def _warm(conn: Any, warm_ups: Sequence[WarmUp]) -> None:
    """Run `warm_ups` on `conn`. Only an optimisation: a statement PostgreSQL refuses (a schema
    not migrated yet) ends the warm-up with a warning, and the connection serves as it is; a
    lost connection raises (the pool then drops it, as for any failed set-up)."""
    for warm in warm_ups:
        try:
            await warm(conn)
        except asyncpg.PostgresError:
            log.warning("could not warm a new PostgreSQL connection", exc_info=True)
            return


# PostgreSQL's array types of the scalars the request paths send and read (the gate's and the
# token's batches, the booking statements: bool[], bytea[], int[], bigint[], date[],
# timestamptz[], ...), by their fixed OIDs (pg_type.dat; tests/test_db_pool.py checks the
# names). asyncpg has codecs of its own only for text[] and oid[]: it learns any other type
# per connection, the first time a statement there sends or reads it, with its type
# introspection (three statements: jit off, a recursive catalog query, jit back), ~3.5 ms of
# PostgreSQL each time, once per statement that first meets a new array type on that
# connection (a burst of 200 gate accepts on cold connections ran it 9 times: BENCHMARKS.md,
# "Tenth session, gate10"). The answer is the same on every server, so a worker asks once
# and gives each new pooled connection its codecs (`_known_types`).
ARRAY_TYPE_OIDS = {
    "_bool": 1000, "_bytea": 1001, "_int2": 1005, "_int4": 1007, "_int8": 1016,
    "_float4": 1021, "_float8": 1022, "_varchar": 1015, "_timestamp": 1115, "_date": 1182,
    "_time": 1183, "_timestamptz": 1185, "_interval": 1187, "_numeric": 1231, "_uuid": 2951,
}

# The composite types the booking statements send as arrays of rows (maas_hold_rows, 0836;
# maas_confirm_rows, 0840) or return (a hold's and a read's used key, `idempotency_keys`;
# the read's legs, passengers and tickets, maas_booking_current, 0833). asyncpg learns them
# as it learns an unknown array type (above): its introspection on each connection's first
# hold, first confirm and first read, ~3.5 ms of PostgreSQL each. Their OIDs are the
# database's own, so a new connection asks for them (one short statement, `type_oids`) and
# gets the codecs this process learnt for those OIDs, if it has them.
ROW_TYPES = ("maas_hold_passenger", "maas_hold_leg", "maas_confirm_leg", "maas_confirm_ticket",
             "idempotency_keys", "booking_legs", "maas_passenger_view", "maas_ticket_view")

_INTROSPECTED: dict[tuple[int, ...], list[Any]] = {}   # type OIDs -> asyncpg's introspection rows


async def _known_types(conn: asyncpg.Connection, oids: tuple[int, ...]) -> None:
    """Register the codecs of the types `oids` on `conn` from asyncpg's introspection rows,
    asked for once per process and set of OIDs (by the first connection that needs them).
    Uses asyncpg internals checked for FAST_RELEASE_ASYNCPG only (the caller checks); another
    asyncpg introspects each connection itself, as before."""
    if not oids:        # the row types before the migrations made them
        return
    rows = _INTROSPECTED.get(oids)
    if rows is None:
        rows, _ = await conn._introspect_types(list(oids), CONNECT_TIMEOUT_S)
        _INTROSPECTED[oids] = rows
    conn._protocol.get_settings().register_data_types(rows)


async def _release_as_is(conn: asyncpg.Connection) -> None:
    """Pool reset without a round trip. asyncpg still rolls back an open transaction; the
    default reset query (UNLISTEN, RESET ALL, advisory unlock) is skipped because no code
    leaves session state on a pooled connection (the LISTEN connection is not pooled). It
    costs one round trip per request otherwise (~0.5 ms under load, check-in measurement)."""


class _Pool(asyncpg.Pool):
    """asyncpg's pool, whose release returns a connection at once when nothing needs an await.

    asyncpg's `Pool.release` runs the holder's release in `asyncio.shield`: a task per
    statement (~15 us of a request's ~30 us of pool). That release awaits only to roll back a
    transaction left open, to wait out a cancellation, to run the reset, or to close a
    connection that is closed, used up (max_queries) or expired (expire_connections). When
    none of these applies (every request path: a statement or a managed transaction, then the
    no-op reset `_release_as_is`) this does synchronously what the holder's release would do;
    anything else, or an asyncpg whose internals were not checked (`FAST_RELEASE_ASYNCPG`),
    goes through asyncpg's own path. tests/test_db_pool.py pins the internals it copies."""

    __slots__ = ()

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        holder = getattr(connection, "_holder", None)
        con = getattr(connection, "_con", None)
        if (type(connection) is not _PROXY or holder._pool is not self or con is None
                or not self._initialized or self._closed or self._reset is not _release_as_is
                or holder._in_use is None or holder._generation != self._generation
                or con.is_closed() or con._top_xact is not None
                or con._listeners or con._log_listeners):
            return await super().release(connection, timeout=timeout)
        protocol = con._protocol
        if (protocol.queries_count >= holder._max_queries or protocol._is_cancelling()
                or protocol.is_in_transaction()):
            return await super().release(connection, timeout=timeout)
        con._on_release()                  # what Pool.release does before the holder's
        holder._timeout = None             # PoolConnectionHolder.release's tail
        holder._release()
        holder._setup_inactive_callback()


_PROXY = asyncpg.pool.PoolConnectionProxy

# The asyncpg versions whose internals `_Pool.release` was checked against (tests/test_db_pool.py
# keeps the digests of the sources it copies: Pool.release, the holder's release, Connection's
# reset): another version gets asyncpg's own pool.
FAST_RELEASE_ASYNCPG = frozenset({"0.32.0"})


# A connection attempt to a server that does not answer gives up after this long (asyncpg's
# default is 60 s): the request then gets 503 database_unavailable instead of hanging.
CONNECT_TIMEOUT_S = 5.0


# What `generic_plans` sets on each pooled connection (in the start-up packet: no round trip).
# PostgreSQL plans a prepared statement's first five executions on a connection with custom
# plans (0.3-0.5 ms of bind each for the gate's and token's statements) before it settles on
# the generic one (~0.04 ms), and it custom-plans asyncpg's type introspection (run on every
# new connection) every time. A burst spreads over every pooled connection; the pool opens a
# connection anew after 300 s idle, and asyncpg re-prepares a cached statement 300 s after
# preparing it: each starts the count again. Measured: ~9 ms less PostgreSQL CPU per new
# connection, the same once warm (BENCHMARKS.md, "pgwarm"). The statements of the request
# paths plan the same generic as custom (benchmarks/generic_plans.py EXPLAINs each one logged
# under bench_requests' phases both ways), and the booking functions and the gate's tap
# already force it for their own statements.
GENERIC_PLANS = {"plan_cache_mode": "force_generic_plan"}


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10,
                      generic_plans: bool = False,
                      warm_ups: Sequence[WarmUp] = ()) -> asyncpg.Pool:
    """asyncpg's pool as the workers use it; each new connection runs `warm_ups` (read when it
    opens: a list filled later warms the connections opened after)."""
    pool = asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size,
        init=functools.partial(_init_connection, warm_ups=warm_ups), reset=_release_as_is,
        timeout=CONNECT_TIMEOUT_S, server_settings=GENERIC_PLANS if generic_plans else None,
    )
    if asyncpg.__version__ in FAST_RELEASE_ASYNCPG and type(pool) is asyncpg.Pool:
        pool.__class__ = _Pool             # the same slots: create_pool's defaults are kept
    await pool
    return pool


# How long a pool's close waits for the connections in use to come back (a request still
# running, a task stuck on a dead server) before it terminates them.
CLOSE_TIMEOUT_S = 10.0


async def close_pool(pool: asyncpg.Pool, timeout: float | None = None) -> bool:
    """Close `pool` within `timeout`: gracefully (waiting for the connections in use), else
    terminated. True when it closed gracefully. From the first line on, the pool's connection
    floor (min_size) is no longer kept: asyncpg restores it in a background task that, with the
    database gone (dropped, renamed, the server stopping), retries with backoff, and nothing of
    that may reconnect once the pool is closing."""
    timeout = CLOSE_TIMEOUT_S if timeout is None else timeout
    if hasattr(pool, "_minsize"):      # asyncpg >= 0.32 keeps the floor; a floor of 0 ends that
        pool._minsize = 0
    task = getattr(pool, "_maintenance_task", None)
    if task is not None:
        task.cancel()
    try:
        await asyncio.wait_for(pool.close(), timeout)
        return True
    except asyncio.TimeoutError:
        log.warning("the PostgreSQL pool did not close within %g s; terminating its connections",
                    timeout)
        pool.terminate()
        return False


async def _warm_open(pool: asyncpg.Pool, warm_ups: Sequence[WarmUp]) -> None:
    """Warm the connections the pool opened before the warm-up was set (its floor, at start-up)."""
    conns = [await pool.acquire() for _ in range(pool.get_size())]   # the open ones come first
    try:
        for conn in conns:
            await _warm(conn, warm_ups)
    finally:
        for conn in conns:
            await pool.release(conn)


async def db_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.database_url:
        raise RuntimeError("database_url is not set (maas serve starts an embedded one)")
    warm_ups: list[WarmUp] = []        # once the schema is there (migrations first)
    pool = await create_pool(
        settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
        generic_plans=settings.db_generic_plans, warm_ups=warm_ups,
    )
    if settings.migrate_on_start:
        async with pool.acquire() as conn:
            await migrate(conn)
    if settings.db_warm:
        warm_ups.extend(WARM_UPS)
        await _warm_open(pool, warm_ups)
    app[DB] = pool
    try:
        yield
    finally:
        await close_pool(pool)
