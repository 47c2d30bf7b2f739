"""Bad input changes nothing and gets a clear 4xx; readiness; migrations; logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import asyncpg
import pytest
from aiohttp import web
from pydantic import BaseModel, Field

from maas.app import create_app
from maas.appkeys import DB
from maas.db import migrate, migrations
from maas.http import Router
from maas.logs import JsonFormatter
from tests.conftest import bearer

PROBLEM = "application/problem+json"


class Thing(BaseModel):
    name: str = Field(min_length=1)
    seats: int = Field(ge=1)


class ThingQuery(BaseModel):
    limit: int = Field(10, ge=1, le=100)


probe = Router(tag="probe")


@probe.post("/probe/things", summary="store a thing", auth=("operator",), body=Thing, query=ThingQuery, status=201)
async def _create(request: web.Request, body: Thing, query: ThingQuery) -> Thing:
    await request.app[DB].execute("CREATE TABLE IF NOT EXISTS probe_things (name text)")
    await request.app[DB].execute("INSERT INTO probe_things VALUES ($1)", body.name)
    return body


@pytest.fixture
def app(app):  # type: ignore[no-redef]
    app.router.add_routes(probe.routes)
    return app


async def _count(app) -> int:  # type: ignore[no-untyped-def]
    exists = await app[DB].fetchval("SELECT to_regclass('probe_things') IS NOT NULL")
    return await app[DB].fetchval("SELECT count(*) FROM probe_things") if exists else 0


async def test_valid_body_is_stored(client, app, make_key):
    key = await make_key("operator", operator="op1")
    r = await client.post("/probe/things", json={"name": "x", "seats": 2}, headers=bearer(key))
    assert r.status == 201 and (await r.json()) == {"name": "x", "seats": 2}
    assert await _count(app) == 1


@pytest.mark.parametrize(
    "data,ctype,status,code",
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b"", "application/json", 400, "malformed_json"),
        (b"name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (json.dumps({"name": "", "seats": 0}).encode(), "application/json", 422, "validation_failed"),
        (json.dumps({"name": "x" * 2_000_000, "seats": 1}).encode(), "application/json", 413, "payload_too_large"),
    ],
)
async def test_bad_bodies_get_clear_4xx_and_change_nothing(client, app, make_key, data, ctype, status, code):
    key = await make_key("operator", operator="op1")
    r = await client.post("/probe/things", data=io.BytesIO(data), headers={**bearer(key), "Content-Type": ctype})
    assert r.status == status and r.content_type == PROBLEM
    body = await r.json()
    assert body["code"] == code and "Traceback" not in json.dumps(body)
    assert await _count(app) == 0


async def test_validation_error_names_the_fields(client, make_key):
    key = await make_key("operator", operator="op1")
    r = await client.post("/probe/things", json={"name": "", "seats": 0}, headers=bearer(key))
    fields = {e["field"] for e in (await r.json())["errors"]}
    assert fields == {"name", "seats"}


async def test_bad_query_parameter_is_400(client, make_key):
    key = await make_key("operator", operator="op1")
    r = await client.post("/probe/things?limit=abc", json={"name": "x", "seats": 1}, headers=bearer(key))
    assert r.status == 400 and (await r.json())["code"] == "invalid_parameter"


async def test_readyz_reports_redis_down(aiohttp_client, settings):
    broken = settings.model_copy(update={"redis_url": "unix:///tmp/maas-no-such-redis.sock"})
    app = create_app(broken)
    client = await aiohttp_client(app)
    r = await client.get("/readyz")
    assert r.status == 503
    body = await r.json()
    assert body["status"] == "not_ready" and body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")
    assert (await client.get("/healthz")).status == 200  # alive, just not ready


async def test_auth_still_works_when_redis_is_down(settings, aiohttp_client):
    """The principal cache is in Redis; with Redis unreachable every credential is resolved
    by PostgreSQL (maas.auth._resolve_shared), neither refused nor a 500."""
    broken = settings.model_copy(update={"redis_url": "unix:///tmp/maas-no-such-redis.sock"})
    client = await aiohttp_client(create_app(broken))
    r = await client.post("/v1/accounts")                 # needs no auth
    assert r.status == 201
    token = (await r.json())["token"]
    assert (await client.get("/v1/bookings")).status == 401   # this one does
    r = await client.get("/v1/bookings", headers=bearer(token))
    assert r.status == 200, await r.text()
    assert (await r.json())["items"] == []
    r = await client.get("/v1/bookings", headers=bearer(token[:-4] + "xxxx"))
    assert r.status == 401 and r.content_type == PROBLEM


async def _fresh_db(services) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(services.admin_url)
    name = "m_" + __import__("uuid").uuid4().hex[:10]
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    return name, services.db_url(name)


async def test_migrations_from_empty_then_rerun(services):
    name, url = await _fresh_db(services)
    try:
        conn = await asyncpg.connect(url)
        applied = await migrate(conn)
        assert applied == [n for n, _ in migrations()]
        assert await migrate(conn) == []
        rows = await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in rows] == applied
        await conn.close()
    finally:
        await services.drop_db(name)


async def test_concurrent_starts_apply_each_migration_once(services):
    name, url = await _fresh_db(services)
    try:
        conns = [await asyncpg.connect(url) for _ in range(4)]
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [n for r in results for n in r]
        assert sorted(applied) == sorted(n for n, _ in migrations())  # each once, by one process
        for c in conns:
            await c.close()
    finally:
        await services.drop_db(name)


async def test_logs_are_json_with_request_id_and_no_secrets(client, make_key, caplog):
    key = await make_key("operator", operator="op1")
    with caplog.at_level(logging.INFO, logger="maas.http"):
        await client.post("/probe/things", json={"name": "x", "seats": 1},
                          headers={**bearer(key), "X-Request-ID": "rid-42"})
    fmt = JsonFormatter()
    lines = [json.loads(fmt.format(r)) for r in caplog.records if r.name == "maas.http"]
    assert lines and lines[-1]["request_id"] == "rid-42" and lines[-1]["status"] == 201
    text = "\n".join(fmt.format(r) for r in caplog.records)
    assert key not in text and key[3:] not in text


def test_formatter_scrubs_credentials_and_personal_fields():
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "got Bearer mk_abcdefghijklmnopqrstu and ma_zzzzzzzzzzzzzzzz", (), None)
    rec.id_number = "370102199001011234"
    rec.route = "/v1/plan"
    out = json.loads(JsonFormatter().format(rec))
    assert "abcdefghijkl" not in out["msg"] and "zzzzzzzz" not in out["msg"]
    assert "id_number" not in out and out["route"] == "/v1/plan"


@pytest.mark.parametrize("text", ["BEARER abcdefghijklmnop", "x=mk_abcdefghijklmnop", "bearer\tabcdefghijklmnop"])
def test_scrub_prefilter_never_lets_a_credential_through(text):
    from maas.logs import scrub

    assert "abcdefghijklmnop" not in scrub(text)
    assert scrub("GET /v1/plan 200") == "GET /v1/plan 200"
