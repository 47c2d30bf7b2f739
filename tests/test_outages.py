"""Backend outages become 503 with a stable code and Retry-After (maas/outages.py), in the one
middleware; the supervisor's restart backoff. The process-level scenarios (servers killed
under a running `maas serve`) are in tests/faults/."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import redis.asyncio as aioredis
import redis.exceptions as redis_errors

from maas.appkeys import DB
from maas.http import Router
from maas.outages import CacheUnavailable, DatabaseConflict, DatabaseUnavailable, outage_of
from maas.serve import Backoff


async def _connect_nowhere(tmp_path) -> None:  # type: ignore[no-untyped-def]
    await asyncpg.connect(f"postgresql://postgres@/maas?host={tmp_path}", timeout=2)


async def test_what_counts_as_a_database_outage(tmp_path):
    with pytest.raises(OSError) as refused:      # nobody listens on that socket: raised in asyncpg
        await _connect_nowhere(tmp_path)
    assert isinstance(outage_of(refused.value), DatabaseUnavailable)
    for exc in (asyncpg.ConnectionDoesNotExistError("closed in the middle"),
                asyncpg.CannotConnectNowError("starting up"), asyncpg.AdminShutdownError("bye"),
                asyncpg.InterfaceError("connection is closed"),
                asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress")):
        assert isinstance(outage_of(exc), DatabaseUnavailable), exc
    try:                                           # the cause counts too
        try:
            raise asyncpg.ConnectionDoesNotExistError("gone")
        except asyncpg.PostgresError as inner:
            raise RuntimeError("while booking") from inner
    except RuntimeError as outer:
        assert isinstance(outage_of(outer), DatabaseUnavailable)


def test_what_does_not_count():
    assert outage_of(FileNotFoundError("a temp file")) is None       # an OSError not from asyncpg
    assert outage_of(TimeoutError()) is None
    assert outage_of(asyncpg.UniqueViolationError("dup")) is None
    assert outage_of(asyncpg.InterfaceError("cannot perform operation: another operation is in progress")) is None
    assert outage_of(ValueError("bug")) is None


def test_redis_outage_is_cache_unavailable():
    for exc in (redis_errors.ConnectionError("refused"), redis_errors.TimeoutError("slow"),
                redis_errors.BusyLoadingError("loading")):
        got = outage_of(exc)
        assert isinstance(got, CacheUnavailable) and got.code == "cache_unavailable" and got.status == 503


async def test_outages_in_a_handler_are_503_problems_with_retry_after(app, aiohttp_client, tmp_path):
    """Real client errors (a PostgreSQL and a Redis nobody listens on) raised inside handlers
    reach the one middleware and come out as 503 problems, not 500."""
    probe = Router()

    @probe.get("/probe/db", summary="db down")
    async def _db(request):  # type: ignore[no-untyped-def]
        await _connect_nowhere(tmp_path)

    @probe.get("/probe/cache", summary="cache down")
    async def _cache(request):  # type: ignore[no-untyped-def]
        client = aioredis.Redis.from_url(f"unix://{tmp_path}/no.sock", socket_connect_timeout=1)
        try:
            await client.get("x")
        finally:
            await client.aclose()

    app.router.add_routes(probe.routes)
    client = await aiohttp_client(app)
    for path, code in (("/probe/db", "database_unavailable"), ("/probe/cache", "cache_unavailable")):
        r = await client.get(path)
        body = await r.json(content_type=None)
        assert r.status == 503 and r.content_type == "application/problem+json", body
        assert body["code"] == code and int(r.headers["Retry-After"]) > 0, body
    assert (await client.post("/v1/accounts")).status == 201       # the rest is unaffected


async def test_connections_cut_under_the_app_heal_without_a_500(client, app, services):
    """Every pooled connection terminated by the server (what a PostgreSQL restart does):
    no request fails with 500; the pool replaces them by itself."""
    assert (await client.post("/v1/accounts")).status == 201
    dbname = await app[DB].fetchval("SELECT current_database()")
    admin = await asyncpg.connect(services.admin_url)
    try:
        killed = await admin.fetch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = $1 AND pid <> pg_backend_pid()", dbname)
    finally:
        await admin.close()
    assert killed
    statuses: list[int] = []
    for _ in range(app[DB].get_max_size() + 2):   # at worst each dead connection is met once
        statuses.append((await client.post("/v1/accounts")).status)
        if statuses[-1] == 201:
            break
    assert set(statuses) <= {201, 503} and statuses[-1] == 201, statuses


def test_backoff_doubles_within_the_window_and_forgets_after_it():
    b = Backoff(window_s=60)
    assert [b.crashed(t) for t in (0, 1, 2, 3)] == [0.25, 0.5, 1.0, 2.0]
    assert len(b.times) == 4
    assert b.crashed(100) == 0.25                  # the earlier crashes left the window
    many = Backoff(window_s=1e9)
    assert max(many.crashed(t) for t in range(20)) == Backoff.CAP_S


async def _deadlock(pool: asyncpg.Pool) -> asyncpg.DeadlockDetectedError:
    """A real deadlock: two transactions take two advisory locks in opposite orders;
    PostgreSQL fails one of them (after deadlock_timeout) and the other commits. The error."""
    first = asyncio.Event(), asyncio.Event()

    async def take(mine: int, other: int, ready: asyncio.Event, wait: asyncio.Event) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", mine)
            ready.set()
            await wait.wait()
            await conn.execute("SELECT pg_advisory_xact_lock($1)", other)

    got = await asyncio.gather(take(17_001, 17_002, first[0], first[1]),
                               take(17_002, 17_001, first[1], first[0]), return_exceptions=True)
    errors = [e for e in got if isinstance(e, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], asyncpg.DeadlockDetectedError), got
    return errors[0]


async def test_a_deadlock_victim_is_a_503_conflict_to_retry_not_a_500(app, aiohttp_client):
    """A transaction PostgreSQL rolled back for a conflict (class 40: here a real deadlock)
    comes out as 503 database_conflict, Retry-After 1 (nothing was written; a retry
    succeeds), not 500 internal_error."""
    probe = Router()

    @probe.get("/probe/deadlock", summary="a deadlock's victim")
    async def _victim(request):  # type: ignore[no-untyped-def]
        raise await _deadlock(request.app[DB])

    app.router.add_routes(probe.routes)
    client = await aiohttp_client(app)
    r = await client.get("/probe/deadlock")
    body = await r.json(content_type=None)
    assert r.status == 503 and r.content_type == "application/problem+json", body
    assert body["code"] == "database_conflict" and r.headers["Retry-After"] == "1", body
    assert isinstance(outage_of(asyncpg.SerializationError("could not serialize")), DatabaseConflict)
    assert (await client.post("/v1/accounts")).status == 201       # the rest is unaffected
