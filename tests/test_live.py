"""Hot reload of the live network: atomic swap, in-flight snapshots, NOTIFY to other workers."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest

from feeds.ingest import activate, import_feed
from maas.app import create_app
from maas.appkeys import DB, LIVE, SETTINGS
from maas.served import ALIVE_S
from tests.polling import eventually
from tests.town import town_zip

TODAY = date(2026, 11, 23)
OP = "town-bus"


async def publish(pool, tmp: Path, version: int, *, activate_it: bool = True) -> str:
    result = await import_feed(pool, town_zip(tmp, version, date(2026, 11, 20), date(2026, 12, 31)),
                               feed="town", operator_id=OP,
                               activate=activate_it, today=TODAY)
    assert not result.rejected, result.report
    return result.version


async def test_starts_loaded_and_empty(app, client):
    snap = app[LIVE].current
    assert snap.loaded and dict(snap.versions) == {} and snap.planner is None
    assert snap.network.n_stops == 0 and snap.stops.search("central") == []


async def test_reload_swaps_and_an_in_flight_snapshot_is_untouched(app, client, tmp_path):
    v1 = await publish(app[DB], tmp_path, 1)
    await app[LIVE].reload()
    old = app[LIVE].current
    assert dict(old.versions) == {"town": v1} and old.network.n_trips == 1
    assert old.planner is not None and old.stops.search("central 1")

    v2 = await publish(app[DB], tmp_path, 2)
    new = await app[LIVE].reload()
    assert app[LIVE].current is new and new is not old
    assert dict(new.versions) == {"town": v2} and new.network.n_trips == 2
    assert new.generation > old.generation
    # the request that took `old` still sees exactly v1, arrays and all
    assert dict(old.versions) == {"town": v1} and old.network.n_trips == 1
    assert old.network.stop_name[list(old.network.stop_id).index("town:C")] == "Central 1"
    assert old.planner.network is old.network
    assert [old.network.stop_id[h.stop] for h in old.stops.search("central 1")] == ["town:C"]


async def test_rollback_by_activating_the_previous_version(app, client, tmp_path):
    v1 = await publish(app[DB], tmp_path, 1)
    await publish(app[DB], tmp_path, 2)
    await activate(app[DB], v1, OP)
    snap = await app[LIVE].reload()
    assert dict(snap.versions) == {"town": v1} and snap.network.n_trips == 1


async def test_unchanged_versions_do_not_rebuild_and_bursts_coalesce(app, client, tmp_path):
    await publish(app[DB], tmp_path, 1)
    first = await app[LIVE].reload()
    assert await app[LIVE].reload() is first                     # nothing changed
    await publish(app[DB], tmp_path, 3)
    snaps = await asyncio.gather(*(app[LIVE].reload() for _ in range(5)))
    assert len({id(s) for s in snaps}) == 1 and snaps[0].generation == first.generation + 1


async def test_another_worker_reloads_on_notify(app, client, aiohttp_client, settings, tmp_path):
    other = create_app(settings)            # a second worker process, as far as LIVE goes
    await aiohttp_client(other)
    assert dict(other[LIVE].current.versions) == {}
    v1 = await publish(app[DB], tmp_path, 1)     # activation NOTIFYs maas_network
    await eventually(lambda: dict(other[LIVE].current.versions) == {"town": v1})
    await eventually(lambda: dict(app[LIVE].current.versions) == {"town": v1})
    v2 = await publish(app[DB], tmp_path, 2)
    await eventually(lambda: dict(other[LIVE].current.versions) == {"town": v2})
    assert other[LIVE].current.network.n_trips == 2


async def test_requests_keep_being_served_while_a_version_is_activated(app, client, tmp_path):
    await publish(app[DB], tmp_path, 1)
    await app[LIVE].reload()
    v2 = await publish(app[DB], tmp_path, 2, activate_it=False)
    names: list[str] = []

    async def ask() -> None:
        r = await client.get("/v1/stops", params={"q": "central"})
        assert r.status == 200
        names.append((await r.json())["stops"][0]["name"])

    async def flip() -> None:   # activate once the first answer is in, the rest in flight
        await eventually(lambda: names)
        await activate(app[DB], v2, OP)

    await asyncio.gather(flip(), *(ask() for _ in range(40)))
    await eventually(lambda: dict(app[LIVE].current.versions) == {"town": v2})
    await ask()
    assert set(names) <= {"Central 1", "Central 2"} and names[-1] == "Central 2"


async def test_a_dropped_listen_connection_reconnects_and_catches_up(app, client, tmp_path):
    listener = app[LIVE].listener
    pid = listener.conn.get_server_pid()
    await app[DB].execute("SELECT pg_terminate_backend($1)", pid)
    await eventually(lambda: listener.conn.is_closed())
    v1 = await publish(app[DB], tmp_path, 1)      # its NOTIFY finds nobody listening here
    await eventually(lambda: dict(app[LIVE].current.versions) == {"town": v1})
    assert listener.conn.get_server_pid() != pid and not listener.conn.is_closed()


async def test_plan_right_after_activate_and_rollback_sees_that_version(app, client, tmp_path, make_key):
    from tests.conftest import bearer

    key = await make_key("operator", operator=OP)
    v1 = await publish(app[DB], tmp_path, 1, activate_it=False)
    v2 = await publish(app[DB], tmp_path, 2, activate_it=False)

    async def origin_after(version: str) -> str:
        r = await client.post(f"/v1/feeds/{version}/activate", headers=bearer(key))
        assert r.status == 200, await r.text()
        r = await client.get("/v1/plan", params={"from": "town:C", "to": "town:H",
                                                 "date": TODAY.isoformat(), "time": "07:00"})
        assert r.status == 200, await r.text()
        return (await r.json())["itineraries"][0]["legs"][0]["from"]["name"]

    assert await origin_after(v1) == "Central 1"      # a first activation: no 503 meanwhile
    assert await origin_after(v2) == "Central 2"
    assert await origin_after(v1) == "Central 1"      # the rollback, at once


async def test_a_worker_that_lags_makes_activation_202_and_a_dead_one_does_not_block(
        app, client, tmp_path, make_key, redis):
    from tests.conftest import bearer

    app[SETTINGS].feeds.activation_wait_s = 0.3
    key = await make_key("operator", operator=OP)
    v1 = await publish(app[DB], tmp_path, 1)
    v2 = await publish(app[DB], tmp_path, 2, activate_it=False)
    registry = app[LIVE].registry
    lagging = f"maas:served:{registry.instance}:other-worker"
    await redis.set(lagging, json.dumps({"town": v1}), ex=ALIVE_S)     # alive, still on v1

    r = await client.post(f"/v1/feeds/{v2}/activate", headers=bearer(key))
    body = await r.json()
    assert r.status == 202, body
    assert body["served_by_all_workers"] is False and r.headers["Location"] == body["status_url"]
    r = await client.get(body["status_url"], headers=bearer(key))
    status = await r.json()
    assert r.status == 200 and status["served_by_all_workers"] is False
    assert status["workers"] == {registry.worker: v2, "other-worker": v1}

    await redis.delete(lagging)                 # that worker died: its key is gone
    r = await client.post(f"/v1/feeds/{v1}/activate", headers=bearer(key))
    body = await r.json()
    assert r.status == 200 and body["served_by_all_workers"] is True, body
    status = await (await client.get(body["status_url"], headers=bearer(key))).json()
    assert status == {"version": v1, "feed": "town", "served_by_all_workers": True,
                      "workers": {registry.worker: v1}}
