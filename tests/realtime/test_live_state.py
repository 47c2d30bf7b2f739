"""The realtime state is PostgreSQL's: other workers see a push, a (re)started worker loads it,
and the lag metric says how old the newest applied update is."""

from __future__ import annotations

from rt_messages import alert, at, message, trip_update
from test_push import push

from tests.polling import eventually
from maas.app import create_app
from maas.appkeys import DB, LIVE
from maas.live import Snapshot


def _revision(app, feed="town"):
    return app[LIVE].current.realtime.revisions.get(feed)


async def test_another_worker_sees_a_push_and_a_new_worker_starts_with_it(
        app, town, town_key, aiohttp_client, settings, clock):
    other = create_app(settings, clock=clock)          # a second worker, as far as LIVE goes
    other_client = await aiohttp_client(other)
    await eventually(lambda: other[LIVE].current.network.n_trips > 0)
    await push(town, town_key, message(trip_update("e1", "T1", delays=[(2, "B", 300)]),
                                       alert("a1", header={"en": "Detour"}, informed=[{"stop_id": "B"}]),
                                       ts=at("07:29")))
    await eventually(lambda: _revision(other) == 1)
    (update,) = other[LIVE].current.realtime.updates["town"]
    assert update.trip_id == "town:T1" and update.stop_updates[0].arrival.delay == 300
    r = await other_client.get("/v1/alerts", params={"stop": "town:B"})
    assert [a["id"] for a in (await r.json())["alerts"]] == ["town:a1"]

    # a worker started afterwards (or restarted) loads the current state before serving
    third = create_app(settings, clock=clock)
    await aiohttp_client(third)
    assert _revision(third) == 1 and [u.trip_id for u in third[LIVE].current.realtime.updates["town"]] == ["town:T1"]


async def test_an_activation_keeps_the_realtime_state(app, town, town_key):
    await push(town, town_key, message(trip_update("e1", "T1", delays=[(2, "B", 300)])))
    await eventually(lambda: _revision(app) == 1)
    before = app[LIVE].current
    app[LIVE].current = Snapshot()         # as if the network were rebuilt from scratch
    snap = await app[LIVE].reload()
    assert snap is not before and snap.realtime.revisions.get("town") == 1
    assert [u.trip_id for u in snap.realtime.updates["town"]] == ["town:T1"]


async def test_a_dropped_listen_connection_catches_up_on_realtime(app, town, town_key):
    listener = app[LIVE].listener
    pid = listener.conn.get_server_pid()
    await app[DB].execute("SELECT pg_terminate_backend($1)", pid)
    await eventually(lambda: listener.conn.is_closed())
    await push(town, town_key, message(trip_update("e1", "T1", delays=[(2, "B", 300)])))  # nobody hears it
    await eventually(lambda: _revision(app) == 1)


async def test_lag_metric_is_the_age_of_the_newest_applied_update(app, town, town_key, clock):
    await push(town, town_key, message(trip_update("e1", "T1", delays=[(2, "B", 300)], ts=at("07:20")),
                                       trip_update("e2", "T2", delays=[(2, "B", 60)], ts=at("07:25"))))
    await eventually(lambda: _revision(app) == 1)
    clock.advance(60)                               # 07:31: the newest (07:25) is 6 minutes old

    async def lag() -> str:
        r = await town.get("/metrics")
        return next((line for line in (await r.text()).splitlines()
                     if line.startswith('maas_realtime_lag_seconds{feed="town"}')), "")

    async def shows_six_minutes() -> bool:         # refreshed every second: poll it
        return await lag() == 'maas_realtime_lag_seconds{feed="town"} 360.0'

    await eventually(shows_six_minutes)
