"""The service foundation: start-up, system endpoints, auth per role, the one error path."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from maas import auth
from maas.app import create_app
from maas.appkeys import AUTH_CACHE, DB
from maas.http import Router, annotate, principal_of
from tests.conftest import bearer
from tests.polling import eventually

PROBLEM = "application/problem+json"


async def test_healthz_and_readyz(client):
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json()) == {"status": "ok"}
    r = await client.get("/readyz")
    body = await r.json()
    assert r.status == 200, body
    assert body["checks"] == {"postgres": "ok", "redis": "ok", "timetable": "ok"}


async def test_request_id_echoed_and_in_problems(client):
    r = await client.get("/nope", headers={"X-Request-ID": "abc-123"})
    assert r.status == 404
    assert r.headers["X-Request-ID"] == "abc-123"
    assert r.content_type == PROBLEM
    body = await r.json()
    assert body["code"] == "not_found" and body["request_id"] == "abc-123" and body["status"] == 404


async def test_wrong_method_is_405_problem(client):
    r = await client.delete("/healthz")
    assert r.status == 405 and r.content_type == PROBLEM
    assert (await r.json())["code"] == "method_not_allowed"
    assert "GET" in r.headers["Allow"]


async def test_metrics_count_requests_per_route(client):
    await client.get("/healthz")
    await client.get("/healthz")
    text = await (await client.get("/metrics")).text()
    line = [l for l in text.splitlines() if l.startswith("maas_http_requests_total{") and 'route="/healthz"' in l]
    assert line and float(line[0].rsplit(" ", 1)[1]) >= 2.0
    assert "maas_http_request_duration_seconds_bucket" in text


async def test_openapi_covers_every_route(client, app):
    spec = await (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    for route in app.router.routes():
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        if route.method == "HEAD" or path.startswith("/probe/"):  # probe: this module's test router
            continue
        assert (route.method, path) in documented, (route.method, path)
    docs = await client.get("/docs")
    assert docs.status == 200 and "/v1/accounts" in await docs.text()


async def test_accounts_created_and_token_authenticates(client, app):
    r = await client.post("/v1/accounts")
    assert r.status == 201
    body = await r.json()
    assert body["id"].startswith("acc_") and body["token"].startswith("ma_")
    stored = await app[DB].fetchval("SELECT token_hash FROM accounts WHERE id = $1", body["id"])
    assert stored == auth.hash_secret(body["token"]) and body["token"].encode() not in stored


# --- auth per role: a tiny router mounted only in these tests ----------------------------

probe = Router(tag="probe")


@probe.get("/probe/operator", summary="operator probe", auth=("operator",))
async def _op(request: web.Request) -> dict:
    p = principal_of(request)
    return {"role": p.role, "operator": p.operator_id}


@probe.get("/probe/gate", summary="gate probe", auth=("gate",))
async def _gate(request: web.Request) -> dict:
    p = principal_of(request)
    return {"gate": p.gate_id, "station": p.station}


@probe.get("/probe/account", summary="account probe", auth=("account",))
async def _acc(request: web.Request) -> dict:
    return {"account": principal_of(request).account_id}


@probe.get("/probe/annotated", summary="annotated probe")
async def _annotated(request: web.Request) -> dict:
    annotate(request, gate="g1", name="clashes with LogRecord.name", status="clashes with the line's")
    annotate(request, leg=2)
    return {}


@pytest.fixture
def app(app):  # type: ignore[no-redef]
    app.router.add_routes(probe.routes)
    return app


async def test_missing_and_unknown_keys_are_401(client):
    r = await client.get("/probe/operator")
    assert r.status == 401 and (await r.json())["code"] == "unauthorized"
    r = await client.get("/probe/operator", headers=bearer("mk_notakey"))
    assert r.status == 401
    r = await client.get("/probe/operator", headers={"Authorization": "Basic abc"})
    assert r.status == 401


async def test_roles(client, make_key, make_account):
    op = await make_key("operator", operator="op-jinan-bus")
    gate = await make_key("gate", gate="g1", station="hsr:JNX")
    admin = await make_key("admin")
    _, acc = await make_account()
    r = await client.get("/probe/operator", headers=bearer(op))
    assert r.status == 200 and (await r.json()) == {"role": "operator", "operator": "op-jinan-bus"}
    r = await client.get("/probe/gate", headers=bearer(gate))
    assert (await r.json()) == {"gate": "g1", "station": "hsr:JNX"}
    assert (await client.get("/probe/operator", headers=bearer(admin))).status == 200
    # wrong role: 403 with a problem body
    r = await client.get("/probe/operator", headers=bearer(gate))
    assert r.status == 403 and (await r.json())["code"] == "forbidden"
    assert (await client.get("/probe/gate", headers=bearer(op))).status == 403
    assert (await client.get("/probe/account", headers=bearer(op))).status == 403
    assert (await client.get("/probe/account", headers=bearer(admin))).status == 403
    assert (await client.get("/probe/account", headers=bearer(acc))).status == 200
    assert (await client.get("/probe/operator", headers=bearer(acc))).status == 403


async def test_revoked_key_is_refused_by_every_cache(client, app, redis):
    key_id, secret = await auth.create_key(app[DB], "operator", operator="op1")
    # wait until this worker hears revocations, so it caches in memory
    await eventually(lambda: app[AUTH_CACHE].listening)
    assert (await client.get("/probe/operator", headers=bearer(secret))).status == 200
    assert app[AUTH_CACHE].get(auth.hash_secret(secret).hex()) is not None  # cached in memory
    assert await redis.exists("maas:auth:" + auth.hash_secret(secret).hex())  # and in Redis
    await auth.revoke_key(app[DB], key_id, redis)
    assert (await client.get("/probe/operator", headers=bearer(secret))).status == 401


async def test_revocations_from_other_processes_arrive_by_pubsub(client, app, redis):
    _, secret = await auth.create_key(app[DB], "gate", gate="g1", station="hsr:JNX")
    await eventually(lambda: app[AUTH_CACHE].listening)
    assert (await client.get("/probe/gate", headers=bearer(secret))).status == 200
    digest = auth.hash_secret(secret).hex()
    assert app[AUTH_CACHE].get(digest) is not None
    await redis.publish(auth.REVOKED_CHANNEL, digest)  # what `maas keys revoke` elsewhere sends
    await eventually(lambda: app[AUTH_CACHE].get(digest) is None, message="revocation heard")


async def test_without_redis_revocation_is_immediate(app, aiohttp_client, settings):
    broken = settings.model_copy(update={"redis_url": "unix:///tmp/maas-no-such-redis.sock"})
    app2 = create_app(broken)
    app2.router.add_routes(probe.routes)
    client = await aiohttp_client(app2)
    key_id, secret = await auth.create_key(app2[DB], "operator", operator="op1")
    assert (await client.get("/probe/operator", headers=bearer(secret))).status == 200
    assert not app2[AUTH_CACHE].listening  # cannot hear revocations: memory is not trusted
    await app2[DB].execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", key_id)
    assert (await client.get("/probe/operator", headers=bearer(secret))).status == 401


def test_a_lookup_older_than_a_revocation_is_not_cached():
    cache = auth.LocalAuthCache(ttl_s=30)
    cache.listening = True
    p = auth.Principal(kind="key", role="gate", id="k1")
    before = cache.generation()
    cache.drop("some-other-key")  # a revocation lands while the lookup is in flight
    cache.put("d1", p, before)
    assert cache.get("d1") is None
    cache.put("d1", p, cache.generation())
    assert cache.get("d1") == p
    cache.listening = False
    assert cache.get("d1") is None


async def test_bad_key_arguments_are_refused(app, client):
    with pytest.raises(Exception) as exc:
        await auth.create_key(app[DB], "gate", gate="g1")
    assert getattr(exc.value, "code", None) == "bad_request"
    with pytest.raises(Exception):
        await auth.create_key(app[DB], "root")


async def test_keys_are_stored_hashed(app, client):
    key_id, secret = await auth.create_key(app[DB], "admin")
    row = await app[DB].fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)
    assert secret.encode() not in row["secret_hash"] and row["secret_hash"] == auth.hash_secret(secret)


async def test_unexpected_error_is_500_problem_without_traceback(app, aiohttp_client, caplog):
    boom = Router()

    @boom.get("/boom", summary="boom")
    async def _boom(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals mk_abcdefghijklmnop")

    app.router.add_routes(boom.routes)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR):
        r = await client.get("/boom")
    assert r.status == 500 and r.content_type == PROBLEM
    body = await r.text()
    assert "Traceback" not in body and "secret internals" not in body
    assert '"code": "internal_error"' in body
    assert any("RuntimeError" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)


async def test_generated_request_ids_are_unique(client):
    ids = {(await client.get("/healthz")).headers["X-Request-ID"] for _ in range(20)}
    assert len(ids) == 20


async def test_annotated_fields_go_on_the_one_access_line(client, caplog):
    with caplog.at_level("INFO", logger="maas.http"):
        r = await client.get("/probe/annotated")
    assert r.status == 200
    [line] = [rec for rec in caplog.records if rec.name == "maas.http" and getattr(rec, "route", "") == "/probe/annotated"]
    assert (line.gate, line.leg, line.status, line.status_) == ("g1", 2, 200, "clashes with the line's")
    assert line.name == "maas.http" and line.name_ == "clashes with LogRecord.name"
