"""Booking events: what happened to a booking (GET /v1/bookings/{id}/events) and the account's
live stream of them (GET /v1/events, Server-Sent Events). Thin: read rows, render.

Rows first: every event is a booking_events row before anyone hears of it; the stream reads
rows after the last id it sent (Last-Event-ID resumes) and sleeps between reads until a new
event of the account in any worker or instance wakes it (NOTIFY maas_events, sent only for
accounts with an open stream: maas/event_wakeups.py), a protection job in this worker does, or
protection.poll_s passes.
`cleanup_ctx` runs this worker's protection jobs (maas/protection.py) and its wake-ups.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any, AsyncIterator

from aiohttp import web
from pydantic import BaseModel, Field

from maas.appkeys import DB, SETTINGS
from maas.errors import InvalidParameter
from maas.event_wakeups import WAKEUPS, wakeups_ctx
from maas.http import Router, principal_of
from maas.protection import PROTECTOR, protection_ctx
from ticketing import protection_store as pstore
from ticketing.errors import BookingNotFound

__all__ = ["router", "cleanup_ctx"]

router = Router(tag="bookings")


async def cleanup_ctx(app: web.Application) -> AsyncIterator[None]:
    async with contextlib.asynccontextmanager(wakeups_ctx)(app), \
            contextlib.asynccontextmanager(protection_ctx)(app):
        yield

# booking_events names of the store's own transitions -> the names the API shows
_NAMES = {"hold": "held", "confirm": "confirmed", "expire": "expired", "cancel": "cancelled",
          "cancel_leg": "leg_cancelled"}


class EventOut(BaseModel):
    id: int = Field(description="global order; the SSE `id` (Last-Event-ID resumes after it)")
    booking_id: str
    event: str = Field(description="held | confirmed | expired | cancelled | leg_cancelled | disrupted | rebooked | rebook_failed | restored | exchanged")
    status: str = Field(description="the booking's status after the event")
    leg_no: int | None = Field(None, description="the leg it concerns, if one")
    detail: dict[str, Any] = Field(default_factory=dict,
                                   description="amounts, reason (cancelled | missed_connection), "
                                   "times: a time of a stop (missed_connection's `arrival`, "
                                   "`departure`) is local to that stop with its offset, e.g. "
                                   "2026-12-01T08:30:00+08:00, as plan legs; a hold's "
                                   "`expires_at` is UTC like the booking's",
                                   examples=[{"leg_no": 1, "reason": "missed_connection",
                                              "arrival": "2026-12-01T08:30:00+08:00",
                                              "departure": "2026-12-01T08:40:00+08:00",
                                              "connection_s": 900, "available_s": 600}])
    at: datetime


class EventList(BaseModel):
    items: list[EventOut]


def render(r: Any) -> EventOut:
    detail = r["detail"] if isinstance(r["detail"], dict) else json.loads(r["detail"] or "{}")
    return EventOut(id=r["id"], booking_id=r["booking_id"], event=_NAMES.get(r["event"], r["event"]),
                    status=r["to_status"], leg_no=r["leg_no"], detail=detail, at=r["occurred_at"])


@router.get("/v1/bookings/{id}/events", summary="What happened to one of my bookings, in order",
            auth=("account",), response=EventList,
            errors={404: "booking_not_found: no such booking, or not yours"})
async def booking_events(request: web.Request) -> EventList:
    bid = request.match_info["id"]
    rows = await pstore.booking_events(request.app[DB], bid, principal_of(request).account_id)
    if rows is None:
        raise BookingNotFound(f"no booking {bid}", booking_id=bid)
    return EventList(items=[render(r) for r in rows])


@contextlib.asynccontextmanager
async def _unwoken() -> AsyncIterator[asyncio.Event]:
    yield asyncio.Event()


def _last_id(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or "0"
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidParameter("Last-Event-ID must be an event id this stream sent",
                               field="Last-Event-ID")
    return int(raw)


@router.get("/v1/events", summary="Server-Sent Events: my bookings' events as they happen",
            auth=("account",), response_content="text/event-stream",
            headers={"Last-Event-ID": "optional; resume after this event id (also ?last_event_id=)"},
            errors={400: "invalid_parameter: Last-Event-ID is not an event id"},
            description="Each event: `id: <event id>`, `event: <name>`, `data: <EventOut JSON>`. "
            "Comments (`: keepalive`) keep idle connections open.")
async def events_stream(request: web.Request) -> web.StreamResponse:
    after = _last_id(request)
    account = principal_of(request).account_id
    pool, poll = request.app[DB], request.app[SETTINGS].protection.poll_s
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await resp.prepare(request=request)   # (keyword: not a database prepare)
    await resp.write(b": stream of booking events\n\n")
    wake = request.app[PROTECTOR].written if PROTECTOR in request.app else None
    wakeups = request.app[WAKEUPS] if WAKEUPS in request.app else None
    async with wakeups.stream(account) if wakeups else _unwoken() as mine:
        while True:
            mine.clear()      # before the read: a wake-up during it is not lost
            rows = await pstore.account_events(pool, account, after, 100)
            for r in rows:
                ev = render(r)
                await resp.write(f"id: {ev.id}\nevent: {ev.event}\ndata: {ev.model_dump_json()}\n\n".encode())
                after = ev.id
            if len(rows) == 100:
                continue
            waits = [asyncio.ensure_future(mine.wait())]
            if wake is not None:
                waits.append(asyncio.ensure_future(wake.wait()))
            try:
                await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            await resp.write(b": keepalive\n\n")
