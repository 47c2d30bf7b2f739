"""A realtime update that breaks a confirmed booking writes a `disrupted` event on it, once;
GET /v1/bookings/{id}/events lists it (owner only)."""

from __future__ import annotations

from tests.conftest import bearer
from tests.polling import eventually
from tests.realtime.rt_messages import message, trip_update
from tests.protection.conftest import push

from maas.appkeys import DB


async def events(client, bid: str, token: str) -> list[dict]:
    r = await client.get(f"/v1/bookings/{bid}/events", headers=bearer(token))
    body = await r.json()
    assert r.status == 200, body
    return body["items"]


async def jobs_idle(app) -> bool:
    return await app[DB].fetchval(
        "SELECT count(*) = 0 FROM protection_jobs WHERE state IN ('pending', 'running')")


async def test_a_delay_past_the_change_time_disrupts_the_booking(app, line, line_key, book):
    bid, token, trips = await book()
    assert trips == ["line:T1", "line:U1"]
    assert [e["event"] for e in await events(line, bid, token)] == ["held", "confirmed"]
    # 5 min late at B: 08:25 + 15 min rail boarding <= 08:40, still fine
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 300)])))
    await eventually(lambda: jobs_idle(app))
    assert [e["event"] for e in await events(line, bid, token)] == ["held", "confirmed"]
    # 10 min late: arrives 08:30, 10 min before U1 leaves
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 600)])))

    async def disrupted():
        return [e for e in await events(line, bid, token) if e["event"] == "disrupted"]
    (ev,) = await eventually(disrupted)
    assert ev["leg_no"] == 1 and ev["detail"]["reason"] == "missed_connection"
    assert (ev["detail"]["available_s"], ev["detail"]["connection_s"]) == (600, 900)
    # its times are local to their stops (Asia/Shanghai), with the offset, as plans write them
    assert ev["detail"]["arrival"].endswith("T08:30:00+08:00")      # T1 at B, 10 min late
    assert ev["detail"]["departure"].endswith("T08:40:00+08:00")    # U1 from B
    assert ev["status"] == "confirmed"


async def test_a_cancelled_trip_disrupts_its_leg_once_however_often_it_is_sent(app, line, line_key, book):
    bid, token, _ = await book()
    other, other_token, _ = await book(frm="line:B", to="line:C")        # U1 only: not on T1
    for _ in range(3):
        await push(line, line_key, message(trip_update("e1", "T1", canceled=True)))
    await eventually(lambda: jobs_idle(app))
    evs = [e for e in await events(line, bid, token) if e["event"] == "disrupted"]
    assert [(e["leg_no"], e["detail"]["reason"]) for e in evs] == [(0, "cancelled")]
    assert [e["event"] for e in await events(line, other, other_token)] == ["held", "confirmed"]


async def test_events_are_the_owners_only(line, book, make_account):
    bid, _, _ = await book()
    _, stranger = await make_account()
    r = await line.get(f"/v1/bookings/{bid}/events", headers=bearer(stranger))
    assert r.status == 404 and (await r.json())["code"] == "booking_not_found"
    assert r.content_type == "application/problem+json"


async def test_the_existing_use_cases_show_as_events_with_times(line, book):
    bid, token, _ = await book()
    r = await line.post(f"/v1/bookings/{bid}/cancel", headers=bearer(token))
    assert r.status == 200, await r.text()
    evs = await events(line, bid, token)
    assert [(e["event"], e["status"]) for e in evs] == [
        ("held", "held"), ("confirmed", "confirmed"), ("cancelled", "cancelled")]
    assert all(e["at"].endswith("Z") or "+" in e["at"] for e in evs)
    assert [e["id"] for e in evs] == sorted(e["id"] for e in evs)
