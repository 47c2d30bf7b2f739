"""maas.idempotency on real PostgreSQL, on a minimal app whose POST counts its executions.

The handler writes a row on the connection it is given (inside the key's transaction), so
"executed once" is visible as exactly one row.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from maas.appkeys import DB, PRINCIPAL
from maas.auth import Principal
from maas.db import create_pool
from maas.idempotency import idempotent, purge, request_hash
from maas.middleware import Metrics, make_middlewares


@web.middleware
async def who(request, handler):  # stands in for auth: the caller scopes the keys
    request[PRINCIPAL] = Principal(kind="account", role="account", id=request.headers["X-Who"])
    return await handler(request)


@pytest.fixture
async def mini(database_url, aiohttp_client):
    pool = await create_pool(database_url, min_size=1, max_size=20)
    await pool.execute("CREATE TABLE probe (n serial PRIMARY KEY, body text)")
    app = web.Application(middlewares=[*make_middlewares(Metrics(CollectorRegistry())), who])
    app[DB] = pool

    async def post(request: web.Request) -> web.StreamResponse:
        data = await request.json()

        async def run(conn):
            n = await (conn or pool).fetchval("INSERT INTO probe (body) VALUES ($1) RETURNING n",
                                              json.dumps(data))
            await asyncio.sleep(data.get("sleep", 0))
            if data.get("boom"):
                raise RuntimeError("handler failed after writing")
            return web.json_response({"n": n}, status=data.get("status", 201))

        return await idempotent(request, run, status=201, required=data.get("required", True))

    app.router.add_post("/things", post)
    client = await aiohttp_client(app)
    try:
        yield client, pool
    finally:
        await pool.close()


def hdr(key: str | None, who: str = "acc_1") -> dict[str, str]:
    return {"X-Who": who, **({"Idempotency-Key": key} if key else {})}


async def rows(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM probe")


async def test_same_key_same_body_runs_once_and_replays(mini):
    client, pool = mini
    r1 = await client.post("/things", json={"a": 1, "b": 2}, headers=hdr("k"))
    r2 = await client.post("/things", data='{"b": 2,  "a": 1}', headers=hdr("k"))  # same JSON
    assert r1.status == r2.status == 201
    assert await r1.json() == await r2.json() == {"n": 1}
    assert r2.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in r1.headers
    assert await rows(pool) == 1


async def test_same_key_other_body_is_422_and_other_callers_are_separate(mini):
    client, pool = mini
    await client.post("/things", json={"a": 1}, headers=hdr("k"))
    r = await client.post("/things", json={"a": 2}, headers=hdr("k"))
    assert r.status == 422 and (await r.json())["code"] == "idempotency_key_reused"
    r = await client.post("/things", json={"a": 2}, headers=hdr("k", who="acc_2"))
    assert r.status == 201 and await rows(pool) == 2


async def test_concurrent_duplicates_execute_once(mini):
    client, pool = mini
    rs = await asyncio.gather(*(client.post("/things", json={"sleep": 0.05}, headers=hdr("k"))
                                for _ in range(10)))
    assert [r.status for r in rs] == [201] * 10
    assert {json.dumps(await r.json()) for r in rs} == {'{"n": 1}'}
    assert await rows(pool) == 1


async def test_failures_are_not_stored_and_roll_back_with_the_key(mini):
    client, pool = mini
    r = await client.post("/things", json={"boom": True}, headers=hdr("k"))
    assert r.status == 500 and await rows(pool) == 0          # the write rolled back too
    r = await client.post("/things", json={"status": 503}, headers=hdr("k2"))
    assert r.status == 503 and await rows(pool) == 0
    r = await client.post("/things", json={"status": 503}, headers=hdr("k2"))
    assert r.status == 503 and "Idempotent-Replayed" not in r.headers   # ran again
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_missing_and_invalid_keys(mini):
    client, pool = mini
    r = await client.post("/things", json={}, headers=hdr(None))
    assert r.status == 400 and (await r.json())["code"] == "idempotency_key_missing"
    r = await client.post("/things", json={}, headers=hdr("x" * 256))
    assert r.status == 400 and (await r.json())["code"] == "idempotency_key_invalid"
    r = await client.post("/things", json={"required": False}, headers=hdr(None))
    assert r.status == 201 and await rows(pool) == 1   # optional: runs, nothing stored
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_purge_forgets_old_keys(mini):
    client, pool = mini
    await client.post("/things", json={}, headers=hdr("old"))
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '2 days'")
    await client.post("/things", json={}, headers=hdr("new"))
    assert await purge(pool, 24 * 3600) == 1
    assert [r["key"] for r in await pool.fetch("SELECT key FROM idempotency_keys")] == ["new"]


def test_request_hash_is_canonical_for_json_only():
    assert request_hash("POST", "/a", b'{"x":1,"y":2}') == request_hash("POST", "/a", b'{"y": 2, "x": 1}')
    assert request_hash("POST", "/a", b"{}") != request_hash("POST", "/b", b"{}")
    assert request_hash("POST", "/a", b"raw") != request_hash("POST", "/a", b"raw ")


def test_request_hash_is_keyed():
    body = b'{"passengers":[{"name":"A","id_number":"11010519491231002X"}]}'
    assert request_hash("POST", "/a", body, b"k1") != request_hash("POST", "/a", body, b"k2")
