"""Unknown query parameters are refused (400 `unknown_parameter`, naming them) on every
endpoint: a misspelt option is never silently ignored (maas.http's shared query parsing)."""

from __future__ import annotations

import pytest

from tests.conftest import bearer


@pytest.mark.parametrize("path,unknown", [
    ("/v1/plan?from=a:1&to=a:2&walk_sped=1.2", ["walk_sped"]),           # a query model
    ("/v1/stops?q=jinan&limt=3&zz=1", ["limt", "zz"]),
    ("/v1/alerts?feed=x&language=zh", ["language"]),
])
async def test_unknown_query_parameters_are_named(client, path, unknown):
    r = await client.get(path)
    assert r.status == 400 and r.content_type == "application/problem+json"
    body = await r.json()
    assert body["code"] == "unknown_parameter"
    assert body["parameters"] == unknown
    for name in unknown:
        assert name in body["detail"]


async def test_an_endpoint_without_query_parameters_refuses_any(client):
    r = await client.post("/v1/accounts?referrer=x")
    assert r.status == 400 and (await r.json())["code"] == "unknown_parameter"
    r = await client.post("/v1/accounts")
    assert r.status in (200, 201)


async def test_known_parameters_and_aliases_still_pass(client, make_key):
    r = await client.get("/v1/stops?q=jinan&limit=3")
    assert r.status == 200
    r = await client.get("/v1/plan?from=a:1&to=a:2&date=2026-12-06&time=08:00")  # `from`: an alias
    assert (await r.json()).get("code") != "unknown_parameter"
    key = await make_key("operator", operator="op1")
    r = await client.get("/v1/feeds?feed=x", headers=bearer(key))   # takes no parameters
    assert r.status == 400 and (await r.json())["parameters"] == ["feed"]
