"""Pulling GTFS-RT URLs (realtime.pull): the same path as a push, one worker pulls at a time."""

from __future__ import annotations

import asyncio

from aiohttp import web
from conftest import TOWN_OP
from rt_messages import city_zip, message, town_zip, trip_update, utc

from feeds.ingest import import_feed
from tests.polling import eventually
from maas.app import create_app
from maas.appkeys import DB, LIVE
from maas.clock import FrozenClock
from maas.realtime import PULLER


async def _stored(pool) -> set[tuple[str, bool]]:
    rows = await pool.fetch("SELECT trip_id, body FROM realtime_trip_updates")
    return {(r["trip_id"], r["body"]["canceled"]) for r in rows}


async def test_one_worker_pulls_and_another_takes_over_when_it_stops(aiohttp_client, aiohttp_server,
                                                                      settings, tmp_path):
    served = {"body": message(trip_update("e1", "T1", delays=[(2, "B", 300)])), "hits": 0}

    async def feed(request: web.Request) -> web.Response:
        served["hits"] += 1
        return web.Response(body=served["body"], content_type="application/x-protobuf")

    source = web.Application()
    source.router.add_get("/rt.pb", feed)
    server = await aiohttp_server(source)            # loopback, a free port
    settings.realtime.pull = {"town": str(server.make_url("/rt.pb"))}
    settings.realtime.pull_interval_s = 0.1
    clock = FrozenClock(utc("07:30"))

    first = create_app(settings, clock=clock)
    first_client = await aiohttp_client(first)
    for path, name, op in ((town_zip(tmp_path), "town", TOWN_OP), (city_zip(tmp_path), "city", "c")):
        result = await import_feed(first[DB], path, feed=name, operator_id=op, activate=True,
                                   today=utc("07:30").date())
        assert not result.rejected
    await eventually(lambda: first[LIVE].current.network.n_trips > 0)
    await eventually(lambda: first[LIVE].current.realtime.revisions.get("town", 0) >= 1)
    assert await _stored(first[DB]) == {("town:T1", False)} and first[PULLER].holding

    second = create_app(settings, clock=clock)
    await aiohttp_client(second)
    served["body"] = message(trip_update("e2", "T2", canceled=True))
    await eventually(lambda: ("town:T2", True) in {(u.trip_id, u.canceled) for u in
                                              second[LIVE].current.realtime.updates.get("town", ())})
    assert first[PULLER].holding and not second[PULLER].holding

    # a body that is not protobuf: nothing changes, the puller says why and keeps pulling
    served["body"] = b"garbage"
    await eventually(lambda: first[PULLER].last.get("town", "").startswith("not_protobuf"))
    assert await _stored(first[DB]) == {("town:T2", True)}

    await first_client.close()                        # the puller stops; its lock is released
    served["body"] = message(trip_update("e1", "T1", canceled=True))
    await eventually(lambda: second[PULLER].holding)
    await eventually(lambda: {(u.trip_id, u.canceled) for u in
                         second[LIVE].current.realtime.updates.get("town", ())} == {("town:T1", True)})
    # `last` is set when the round returns, after the update is already visible
    await eventually(lambda: second[PULLER].last.get("town") in ("ok", "unchanged"))


async def test_a_failing_url_is_reported_and_the_other_feeds_still_pulled(aiohttp_client, aiohttp_server,
                                                                          settings, tmp_path):
    async def ok(request: web.Request) -> web.Response:
        return web.Response(body=message(trip_update("e1", "X1", delays=[(1, "S", 60)])))

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503)

    source = web.Application()
    source.router.add_get("/city.pb", ok)
    source.router.add_get("/town.pb", broken)
    server = await aiohttp_server(source)
    settings.realtime.pull = {"town": str(server.make_url("/town.pb")),
                              "city": str(server.make_url("/city.pb"))}
    settings.realtime.pull_interval_s = 0.1
    app = create_app(settings, clock=FrozenClock(utc("07:30")))
    await aiohttp_client(app)
    for path, name in ((town_zip(tmp_path), "town"), (city_zip(tmp_path), "city")):
        await import_feed(app[DB], path, feed=name, operator_id="op", activate=True, today=utc("07:30").date())
    await eventually(lambda: app[PULLER].last.get("town") == "http 503"
                and [u.trip_id for u in app[LIVE].current.realtime.updates.get("city", ())] == ["city:X1"])
    assert await _stored(app[DB]) == {("city:X1", False)}


async def test_a_message_sent_in_pieces_is_read_whole(aiohttp_client, aiohttp_server, settings, tmp_path):
    body = message(trip_update("e1", "X1", delays=[(1, "S", 60)]))

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-protobuf"})
        await response.prepare(request)
        half = len(body) // 2
        await response.write(body[:half])
        await asyncio.sleep(0.3)                      # the rest arrives later, in its own piece
        await response.write(body[half:])
        await response.write_eof()
        return response

    source = web.Application()
    source.router.add_get("/city.pb", slow)
    server = await aiohttp_server(source)
    settings.realtime.pull = {"city": str(server.make_url("/city.pb"))}
    settings.realtime.pull_interval_s = 0.1
    app = create_app(settings, clock=FrozenClock(utc("07:30")))
    await aiohttp_client(app)
    await import_feed(app[DB], city_zip(tmp_path), feed="city", operator_id="op", activate=True,
                      today=utc("07:30").date())
    await eventually(lambda: app[PULLER].last.get("city") in ("ok", "unchanged"))
    assert await _stored(app[DB]) == {("city:X1", False)}
