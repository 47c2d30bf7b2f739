"""`maas realtime delay`: the demo's way to delay or cancel a trip, through the path of
POST /v1/realtime; the running server's protection then rebooks the booking on it, and the
gates follow (the old leg `replaced`, the new one admitted with the same QR).

The line feed (tests/protection/conftest.py): T1 A 08:00 -> B 08:20, then U1 B 08:40 -> C or
U2 B 09:10 -> C; the booking rides T1 + U1 (20 min at B, rail asks 15). T1 10 minutes late
arrives 08:30: U1 is missed, U2 is not.
"""

from __future__ import annotations

from maas.appkeys import DB
from tests.api.test_gate_tool import maas
from tests.conftest import bearer
from tests.realtime.rt_messages import utc


def _delay(settings, *argv: str):
    return maas("realtime", "delay", "--database-url", settings.database_url,
                "--redis-url", settings.redis_url, "--data-dir", str(settings.data_dir),
                "--feed", "line", "--date", "2026-11-23", "--now", utc("07:30").isoformat(), *argv)


async def _events(client, bid: str, token: str) -> list[dict]:
    r = await client.get(f"/v1/bookings/{bid}/events", headers=bearer(token))
    assert r.status == 200
    return (await r.json())["items"]


async def test_a_delay_from_the_command_line_rebooks_and_the_gate_follows(
        settings, line, book, make_key):
    bid, token, trips = await book()
    assert trips == ["line:T1", "line:U1"]
    old_qr = (await (await line.get(f"/v1/bookings/{bid}/token", headers=bearer(token))).json())["qr"]
    code, out = await _delay(settings, "--trip", "line:T1", "--minutes", "10", "--wait", "120")
    assert code == 0, out
    assert out == [{"feed": "line", "trip_id": "line:T1", "cancelled": False, "delay_s": 600,
                    "revision": out[0]["revision"], "trip_updates": 1, "ignored": 0, "reasons": {},
                    "bookings": 1, "protection": "done"}]
    events = [(e["event"], e["leg_no"]) for e in await _events(line, bid, token)]
    assert events[-2:] == [("disrupted", 1), ("rebooked", 1)], events
    b = await (await line.get(f"/v1/bookings/{bid}", headers=bearer(token))).json()
    assert [(g["leg"], g["status"], g["trip_id"], g["replaced_by"]) for g in b["legs"]] == [
        (0, "confirmed", "line:T1", None), (1, "replaced", "line:U1", 2),
        (2, "confirmed", "line:U2", None)]
    # a gate at B: the QR shown before the delay names the new train; the new QR boards it
    gate = await make_key("gate", gate="g-b", station="line:B")
    r = await line.post("/v1/gates/g-b/validate", json={"qr": old_qr}, headers=bearer(gate))
    got = await r.json()
    assert (got["code"], got["leg"], got["replaced_by"]["trip_id"]) == ("replaced", 1, "line:U2")
    assert got["replaced_by"]["departure"] == b["legs"][2]["departure"]
    new_qr = (await (await line.get(f"/v1/bookings/{bid}/token", headers=bearer(token))).json())["qr"]
    r = await line.post("/v1/gates/g-b/validate", json={"qr": new_qr}, headers=bearer(gate))
    assert (await r.json())["result"] == "accept"


async def test_a_cancel_without_a_way_round_is_rebook_failed(settings, line, book):
    bid, token, _ = await book()
    code, out = await _delay(settings, "--trip", "T1", "--cancel", "--wait", "120")
    assert code == 0 and out[0]["cancelled"] and out[0]["bookings"] == 1, out
    events = [e["event"] for e in await _events(line, bid, token)]
    assert events[-2:] == ["disrupted", "rebook_failed"], events


async def test_wait_waits_for_its_own_update_not_for_the_whole_queue(settings, line, book, app,
                                                                    clock):
    bid, token, _ = await book()
    other, _, trips = await book("line:B", "line:C")       # not on T1: not this update's
    assert "line:T1" not in trips
    # another update's job on `other`, claimed by a worker that is still at it (its lease
    # never runs out on the frozen clock): it stays open for the whole test
    await app[DB].execute(
        "INSERT INTO protection_jobs (booking_id, state, created_at, claimed_at) "
        "VALUES ($1, 'running', $2, $2)", other, clock.now())
    code, out = await _delay(settings, "--trip", "T1", "--minutes", "10", "--wait", "120")
    assert code == 0 and out[0]["bookings"] == 1 and out[0]["protection"] == "done", out
    assert [e["event"] for e in await _events(line, bid, token)][-2:] == ["disrupted", "rebooked"]
    assert await app[DB].fetchval("SELECT count(*) FROM protection_jobs WHERE state = 'running' "
                                  "AND booking_id = $1", other) == 1


async def test_an_unknown_trip_is_refused_and_nothing_is_stored(settings, line, app):
    before = await app[DB].fetchval("SELECT count(*) FROM protection_jobs")
    code, out = await _delay(settings, "--trip", "line:NOPE", "--minutes", "5")
    assert code == 2 and out == []
    code, out = await _delay(settings, "--trip", "line:T1", "--minutes", "5",
                             "--feed", "other")               # (the last --feed counts)
    assert code == 2 and out == []
    assert await app[DB].fetchval("SELECT count(*) FROM protection_jobs") == before
