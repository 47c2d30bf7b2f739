"""GET /v1/operators/{id}/checkins: entries per boarding station over one local day."""

from __future__ import annotations

from datetime import timedelta

from tests.api.checkin_fixtures import T0, insert_booking
from tests.conftest import bearer
from ticketing import checkin_store

BUS, RAIL = "qdbus:1001", "crh:QDN"


async def _owners(db) -> None:  # type: ignore[no-untyped-def]
    await db.execute("INSERT INTO feeds (name, operator_id) VALUES ('qdbus', 'op-bus'), "
                     "('crh', 'op-rail'), ('air', 'op-air')")


async def _tap(db, booking: str, leg: int, station: str, at, method: str = "qr") -> None:  # type: ignore[no-untyped-def]
    async with db.acquire() as conn:
        await checkin_store.record_tap(conn, booking=booking, leg=leg, gate="g1", station=station,
                                       method=method, step=None, now=at)


async def test_counts_per_station_of_the_operators_own_feeds(client, db, make_key,  # type: ignore[no-untyped-def]
                                                             make_account) -> None:
    await _owners(db)
    account, _ = await make_account()
    solo = await insert_booking(db, account)
    trio = await insert_booking(db, account, categories=("adult", "adult", "child"))
    yesterday = await insert_booking(db, account)
    await _tap(db, solo, 0, BUS, T0 + timedelta(minutes=20))
    await _tap(db, trio, 0, BUS, T0 + timedelta(minutes=25), method="face")
    await _tap(db, solo, 1, RAIL, T0 + timedelta(hours=1, minutes=40))
    await _tap(db, yesterday, 0, BUS, T0 - timedelta(days=1))

    key = await make_key("operator", operator="op-bus")
    resp = await client.get("/v1/operators/op-bus/checkins",
                            params={"date": T0.date().isoformat(), "tz": "UTC"}, headers=bearer(key))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["total"] == 2 and body["date"] == T0.date().isoformat()
    assert [(s["station"], s["checkins"], s["passengers"], s["qr"], s["face"], s["offline"])
            for s in body["stations"]] == [(BUS, 2, 4, 1, 1, 0)]

    rail = await make_key("operator", operator="op-rail")
    resp = await client.get("/v1/operators/op-rail/checkins",
                            params={"date": T0.date().isoformat(), "tz": "UTC"}, headers=bearer(rail))
    assert [(s["station"], s["checkins"]) for s in (await resp.json())["stations"]] == [(RAIL, 1)]


async def test_the_day_is_counted_in_the_time_zone_asked(client, db, make_key, make_account) -> None:  # type: ignore[no-untyped-def]
    await _owners(db)
    account, _ = await make_account()
    booking = await insert_booking(db, account)
    late = T0.replace(hour=23, minute=30)         # 23:30 UTC is 07:30 the next day in Shanghai
    await _tap(db, booking, 0, BUS, late)
    key = await make_key("operator", operator="op-bus")

    async def total(day, tz: str) -> int:  # type: ignore[no-untyped-def]
        resp = await client.get("/v1/operators/op-bus/checkins",
                                params={"date": day.isoformat(), "tz": tz}, headers=bearer(key))
        assert resp.status == 200, await resp.text()
        return (await resp.json())["total"]

    assert await total(late.date(), "UTC") == 1
    assert await total(late.date(), "Asia/Shanghai") == 0
    assert await total(late.date() + timedelta(days=1), "Asia/Shanghai") == 1


async def test_another_operator_and_bad_input_are_refused(client, db, make_key) -> None:  # type: ignore[no-untyped-def]
    key = await make_key("operator", operator="op-bus")
    resp = await client.get("/v1/operators/op-rail/checkins", headers=bearer(key))
    assert resp.status == 403 and (await resp.json())["code"] == "forbidden"
    for tz in ("Mars/Olympus", "Asia", "../UTC", "", "\x00"):     # "Asia" is a folder of zones
        resp = await client.get("/v1/operators/op-bus/checkins", params={"tz": tz},
                                headers=bearer(key))
        assert resp.status == 400, tz
        assert resp.content_type == "application/problem+json"
        assert (await resp.json())["code"] == "invalid_parameter"
    for day in ("9999-12-31", "0001-01-01"):
        resp = await client.get("/v1/operators/op-bus/checkins", params={"date": day},
                                headers=bearer(key))
        assert resp.status == 400, day
    resp = await client.get("/v1/operators/op-bus/checkins", params={"date": "yesterday"},
                            headers=bearer(key))
    assert resp.status == 400
    resp = await client.get("/v1/operators/op-bus/checkins")
    assert resp.status == 401
