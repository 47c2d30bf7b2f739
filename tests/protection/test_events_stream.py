"""GET /v1/events: the account's booking events as Server-Sent Events, read by a real aiohttp
client over a socket; Last-Event-ID resumes after the last event seen."""

from __future__ import annotations

import asyncio

from tests.conftest import bearer
from tests.protection.conftest import push
from tests.realtime.rt_messages import message, trip_update


async def read_events(resp, n: int) -> list[dict]:
    """The next n events of an open SSE response: [{id, event, data}]."""
    out, cur = [], {}
    while len(out) < n:
        line = (await asyncio.wait_for(resp.content.readline(), 30)).decode().rstrip("\n")
        if line == "":
            if "event" in cur:
                out.append(cur)
            cur = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            cur[name] = value
    return out


async def test_the_stream_sends_rows_first_then_what_happens_and_resumes(line, line_key, book):
    bid, token, _ = await book()
    _, other_token, _ = await book()                    # another account's booking: never shown
    async with line.get("/v1/events", headers=bearer(token)) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        held, confirmed = await read_events(resp, 2)
        assert (held["event"], confirmed["event"]) == ("held", "confirmed")
        assert f'"booking_id":"{bid}"' in confirmed["data"]
        await push(line, line_key, message(trip_update("e1", "T1", canceled=True)))
        (disrupted,) = await read_events(resp, 1)       # woken, not polled for
        assert disrupted["event"] == "disrupted" and '"reason":"cancelled"' in disrupted["data"]
    async with line.get("/v1/events", headers={**bearer(token), "Last-Event-ID": confirmed["id"]}) as resp:
        (again,) = await read_events(resp, 1)
        assert again == disrupted
    async with line.get("/v1/events", headers=bearer(other_token)) as resp:
        evs = await read_events(resp, 3)            # held, confirmed, disrupted of its own booking
        assert bid not in "".join(e["data"] for e in evs)


async def test_a_bad_last_event_id_is_a_problem(line, make_account):
    _, token = await make_account()
    r = await line.get("/v1/events", headers={**bearer(token), "Last-Event-ID": "abc"})
    assert r.status == 400 and (await r.json())["code"] == "invalid_parameter"
    assert (await line.get("/v1/events")).status == 401
