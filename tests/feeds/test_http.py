"""Feeds over HTTP, end to end: publish, report, ownership, limits, activate, rollback, list."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientError

from feeds.store import NOTIFY_CHANNEL
from maas.appkeys import LIVE, SETTINGS
from tests.conftest import bearer
from tests.polling import eventually

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = (DATA / "real" / "highdesert-point-2017.zip").read_bytes()
MARTA = (DATA / "real" / "marta-rail-blue-green-2021.zip").read_bytes()
UNDEFINED_STOP = (DATA / "broken" / "undefined-stop.zip").read_bytes()


async def publish(client, key: str, body: bytes, feed: str = "point", **params):  # type: ignore[no-untyped-def]
    return await client.post("/v1/feeds", params={"feed": feed, **params}, data=body,
                             headers={**bearer(key), "Content-Type": "application/zip"})


async def test_publish_then_same_bytes_same_version(client, make_key) -> None:  # type: ignore[no-untyped-def]
    key = await make_key("operator", operator="op1")
    resp = await publish(client, key, SMALL)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["status"] == "accepted" and body["created"] is True
    assert {k: body["stats"][k] for k in ("stops", "routes", "trips", "stop_times")} == {
        "stops": 14, "routes": 1, "trips": 4, "stop_times": 24}
    assert body["stats"]["start_date"] == "2017-05-11"
    assert all(n["severity"] in ("warning", "info") for n in body["report"])
    again = await publish(client, key, SMALL)
    assert again.status == 200
    assert (await again.json())["version"] == body["version"]
    listing = await (await client.get("/v1/feeds", headers=bearer(key))).json()
    assert [len(f["versions"]) for f in listing["feeds"]] == [1]


async def wait_live(app, versions: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    await eventually(lambda: dict(app[LIVE].current.versions) == versions,
                     message=f"live versions {versions}")


async def test_errors_answer_422_with_the_report(client, make_key) -> None:  # type: ignore[no-untyped-def]
    key = await make_key("operator", operator="op1")
    resp = await publish(client, key, UNDEFINED_STOP, feed="demo")
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["code"] == "feed_has_errors"
    fk = [n for n in body["report"] if n["code"] == "foreign_key_violation"]
    assert len(fk) == 1 and "NADAR" in fk[0]["message"] and fk[0]["file"] == "stop_times.txt"
    detail = await client.get(f"/v1/feeds/{body['version']}", headers=bearer(key))
    assert detail.status == 200
    d = await detail.json()
    assert d["status"] == "rejected" and d["report"] == body["report"]
    act = await client.post(f"/v1/feeds/{body['version']}/activate", headers=bearer(key))
    assert act.status == 409 and (await act.json())["code"] == "feed_version_rejected"


@pytest.mark.parametrize("body,code,status", [
    (b"", "empty_upload", 400),
    (b"this is not a zip", "not_a_zip", 400),
])
async def test_bad_bodies(client, make_key, body: bytes, code: str, status: int) -> None:  # type: ignore[no-untyped-def]
    key = await make_key("operator", operator="op1")
    resp = await publish(client, key, body)
    assert resp.status == status
    assert (await resp.json())["code"] == code
    listing = await (await client.get("/v1/feeds", headers=bearer(key))).json()
    assert listing == {"feeds": []}


async def test_nested_zip_is_422(client, make_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "n.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("gtfs/agency.txt", "agency_name\nX\n")
    key = await make_key("operator", operator="op1")
    resp = await publish(client, key, path.read_bytes())
    assert resp.status == 422
    assert (await resp.json())["code"] == "invalid_input_files_in_subfolder"


async def test_other_operator_gets_403(client, make_key) -> None:  # type: ignore[no-untyped-def]
    op1 = await make_key("operator", operator="op1")
    op2 = await make_key("operator", operator="op2")
    v = (await (await publish(client, op1, SMALL)).json())["version"]
    resp = await publish(client, op2, MARTA)
    assert resp.status == 403 and (await resp.json())["code"] == "feed_owned_by_other_operator"
    assert (await client.get(f"/v1/feeds/{v}", headers=bearer(op2))).status == 403
    assert (await client.post(f"/v1/feeds/{v}/activate", headers=bearer(op2))).status == 403
    listing = await (await client.get("/v1/feeds", headers=bearer(op2))).json()
    assert listing == {"feeds": []}


async def test_passenger_and_gate_keys_cannot_publish(client, make_key, make_account) -> None:  # type: ignore[no-untyped-def]
    _, token = await make_account()
    assert (await publish(client, token, SMALL)).status in (401, 403)
    gate = await make_key("gate", gate="g1", station="point:9713")
    assert (await publish(client, gate, SMALL)).status == 403
    assert (await client.post("/v1/feeds", params={"feed": "x"}, data=SMALL)).status == 401


async def test_oversize_declared_length_is_413_up_front(client, make_key, app) -> None:  # type: ignore[no-untyped-def]
    key = await make_key("operator", operator="op1")
    app[SETTINGS].feeds.max_upload_bytes = len(SMALL) - 1
    resp = await publish(client, key, SMALL)
    assert resp.status == 413 and (await resp.json())["code"] == "upload_too_large"
    app[SETTINGS].feeds.max_upload_bytes = len(SMALL)
    assert (await publish(client, key, SMALL)).status == 201


async def test_oversize_streamed_body_is_413(client, make_key, app) -> None:  # type: ignore[no-untyped-def]
    """No Content-Length (chunked): the limit is enforced while streaming."""
    app[SETTINGS].feeds.max_upload_bytes = 256 * 1024
    key = await make_key("operator", operator="op1")
    sent = 0

    async def chunks():  # type: ignore[no-untyped-def]
        nonlocal sent
        for _ in range(64):  # 4 MiB in 64 KiB chunks
            sent += 65536
            yield b"PK" + b"\0" * 65534

    try:
        resp = await client.post("/v1/feeds", params={"feed": "big"}, data=chunks(),
                                 headers={**bearer(key), "Content-Type": "application/zip"})
        assert resp.status == 413 and (await resp.json())["code"] == "upload_too_large"
    except ClientError:
        pass  # the server may close the connection before the client finishes sending
    listing = await (await client.get("/v1/feeds", headers=bearer(key))).json()
    assert listing == {"feeds": []}


async def test_activate_rollback_and_list(client, make_key, app) -> None:  # type: ignore[no-untyped-def]
    key = await make_key("operator", operator="op1")
    v1 = (await (await publish(client, key, SMALL)).json())["version"]
    v2 = (await (await publish(client, key, MARTA)).json())["version"]
    r = await client.post(f"/v1/feeds/{v1}/activate", headers=bearer(key))
    assert r.status == 200 and (await r.json())["previous"] is None
    r = await client.post(f"/v1/feeds/{v2}/activate", headers=bearer(key))
    assert (await r.json())["previous"] == v1
    r = await client.post(f"/v1/feeds/{v1}/activate", headers=bearer(key))  # rollback
    assert (await r.json())["previous"] == v2
    listing = await (await client.get("/v1/feeds", headers=bearer(key))).json()
    (feed,) = listing["feeds"]
    assert feed["active_version"] == v1
    assert {v["version"]: v["status"] for v in feed["versions"]} == {v1: "active", v2: "superseded"}
    assert (await client.post("/v1/feeds/point-0000000000000000/activate", headers=bearer(key))).status == 404
    await wait_live(app, {"point": v1})  # NOTIFY maas_network reached this worker's holder
    assert (await client.get("/v1/feeds/point-0000000000000000", headers=bearer(key))).status == 404


async def test_admin_sees_all_and_publishes_for_an_operator(client, make_key) -> None:  # type: ignore[no-untyped-def]
    admin = await make_key("admin")
    op1 = await make_key("operator", operator="op1")
    await publish(client, op1, SMALL)
    resp = await publish(client, admin, MARTA, feed="marta")
    assert resp.status == 400 and (await resp.json())["code"] == "operator_required"
    resp = await publish(client, admin, MARTA, feed="marta", operator="op2")
    assert resp.status == 201
    listing = await (await client.get("/v1/feeds", headers=bearer(admin))).json()
    assert {(f["name"], f["operator_id"]) for f in listing["feeds"]} == {("point", "op1"), ("marta", "op2")}


async def test_rejected_upload_changes_nothing_live(client, make_key, app, database_url) -> None:  # type: ignore[no-untyped-def]
    key = await make_key("operator", operator="op1")
    v1 = (await (await publish(client, key, SMALL)).json())["version"]
    await client.post(f"/v1/feeds/{v1}/activate", headers=bearer(key))
    await wait_live(app, {"point": v1})
    before = await (await client.get("/v1/feeds", headers=bearer(key))).json()
    live_before = app[LIVE].current
    heard: list[str] = []
    listener = await asyncpg.connect(database_url)
    try:
        for channel in (NOTIFY_CHANNEL, "test_barrier"):
            await listener.add_listener(channel, lambda _c, _p, ch, _m: heard.append(ch))
        bad = (DATA / "broken" / "bart-errors.zip").read_bytes()
        assert (await publish(client, key, bad)).status == 422
        after = await (await client.get("/v1/feeds", headers=bearer(key))).json()
        assert after["feeds"][0]["active_version"] == before["feeds"][0]["active_version"] == v1
        # notifications arrive in commit order: once ours is heard, a NOTIFY the upload had
        # wrongly sent would have been heard before it
        await listener.execute("NOTIFY test_barrier")
        await eventually(lambda: "test_barrier" in heard)
    finally:
        await listener.close()
    assert heard == ["test_barrier"]
    assert app[LIVE].current is live_before
    assert (await client.get("/healthz")).status == 200


async def test_bad_feed_name_is_400(client, make_key) -> None:  # type: ignore[no-untyped-def]
    key = await make_key("operator", operator="op1")
    resp = await publish(client, key, SMALL, feed="Bad:Name")
    assert resp.status == 400 and (await resp.json())["code"] == "invalid_feed_name"


async def test_openapi_documents_the_feed_endpoints(client) -> None:  # type: ignore[no-untyped-def]
    doc = await (await client.get("/openapi.json")).json()
    assert {"/v1/feeds", "/v1/feeds/{version}", "/v1/feeds/{version}/activate"} <= set(doc["paths"])


async def test_same_bytes_at_once_make_one_version(client, make_key) -> None:  # type: ignore[no-untyped-def]
    key = await make_key("operator", operator="op1")
    a, b = await asyncio.gather(publish(client, key, SMALL), publish(client, key, SMALL))
    assert sorted([a.status, b.status]) == [200, 201]  # one stored it, the other found it
    va, vb = (await a.json())["version"], (await b.json())["version"]
    assert va == vb
    listing = await (await client.get("/v1/feeds", headers=bearer(key))).json()
    assert [v["version"] for v in listing["feeds"][0]["versions"]] == [va]
