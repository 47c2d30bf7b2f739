"""Bookings endpoints: one linked booking for a multi-leg, multi-operator journey.

Thin: parse (pydantic), call ticketing.service.Bookings, render. Money is
{"amount": "12.50", "currency": "CNY"}; passenger names and ID numbers only ever appear
masked. `cleanup_ctx` builds the service and runs the hold-expiry sweeper.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from dataclasses import replace
from datetime import date, datetime
from typing import Any, AsyncIterator
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, Field, model_validator
from pydantic_core import to_json

from feeds import store as feed_store
from maas.api.plan import PlanQuery, profile_options, to_query
from maas.api.plan_options import PlanOptions
from maas.appkeys import BOOKINGS, CLOCK, DB, LIVE, SETTINGS
from maas.domain_metrics import DOMAIN_METRICS
from maas.errors import Forbidden, InvalidParameter, NotFound
from maas.http import INT32_MAX, Router, json_body, principal_of
from maas.idempotency import HEADER, Key, idempotent, key_of, purge, replay
from maas.localtime import LocalTime, Zone, stop_zones, utc_zone  # noqa: F401 (utc_zone: tests)
from maas.protection import sale_options, sold_connection_of
from maas.services import bookings_of
from routing.errors import NoTimetable
from routing.itinerary import DEFAULT_SECRET, decode_id
from ticketing import store
from ticketing.errors import CapacityTargetUnknown
from ticketing.fares import format_minor
from ticketing.offers import resolve_legs
from ticketing.rebook import offer_legs
from ticketing.service import PassengerInput

__all__ = ["router", "cleanup_ctx", "BOOKINGS"]

log = logging.getLogger(__name__)
router = Router(tag="bookings")
IDEMPOTENCY_TTL_S = 24 * 3600
_IDEM_DOC = {HEADER: "required; the same key and body again returns the first response"}
_OFFER_WINDOW_S = 3 * 3600   # exchange alternatives depart within 3 h of the asked time
_IDEM_OPT = {HEADER: "optional; the same key and body again returns the first response"}


async def _sweep_forever(app: web.Application) -> None:
    svc = app[BOOKINGS]
    while True:
        await asyncio.sleep(svc.config.sweeper_interval_s)
        try:
            expired = await svc.sweep()
            if expired:
                log.info("expired %d holds", expired, extra={"expired": expired})
            await purge(app[DB], IDEMPOTENCY_TTL_S)
        except Exception:  # noqa: BLE001 — keep sweeping; inventory never depends on it
            log.exception("hold-expiry sweep failed")


async def cleanup_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[BOOKINGS] = bookings_of(app[DB], settings, app[CLOCK].now, app.get(DOMAIN_METRICS))
    task = asyncio.create_task(_sweep_forever(app))
    try:
        yield
    finally:
        app[BOOKINGS].close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- models --------------------------------------------------------------------------------

class PassengerIn(BaseModel):
    name: str = Field(max_length=200, description="full name as on the ID document")
    id_number: str = Field(max_length=64, description="ID document number")
    category: str = Field("adult", description="adult | child | senior | disabled")
    id_type: str = Field("prc_id", description="prc_id | passport | hk_macao_permit | taiwan_permit")


class BookingIn(PlanOptions):
    """The itinerary, the passengers, and the /v1/plan options (PlanOptions) the itinerary was
    planned with: connection protection re-plans a disrupted journey with them, and each change
    is sold (and protected) with its connection time (min_transfer_s + extra_transfer_s).
    Default: the modes of the legs booked, no other option."""
    itinerary_id: str = Field(max_length=8192, description="`id` of an itinerary from /v1/plan")
    passengers: list[PassengerIn] = Field(max_length=50, description="one seat each on every leg")


class LegPath(BaseModel):
    id: str = Field(description="booking id")
    leg: int = Field(ge=0, le=INT32_MAX, description="0-based position of the leg in the journey")


class ConfirmIn(BaseModel):
    payment_ref: str = Field(min_length=1, max_length=200, description="payment provider reference")


class Money(BaseModel):
    amount: str = Field(description='decimal string, e.g. "12.50"')
    currency: str = Field(description="ISO 4217")


class LegOut(BaseModel):
    leg: int = Field(description="0-based position in the journey")
    status: str = Field(description="held | confirmed | cancelled | expired | replaced (exchanged "
                        "or rebooked: see replaced_by)")
    operator: str = Field(description='"feed:agency_id"')
    operator_name: str
    mode: str
    route_id: str
    trip_id: str
    service_date: date
    from_stop: str = Field(description='"feed:stop_id"')
    to_stop: str
    departure: LocalTime = Field(description="local to from_stop, with its UTC offset")
    arrival: LocalTime = Field(description="local to to_stop, with its UTC offset")
    price: Money = Field(description="for all passengers, after concessions and re-pricing")
    refund: Money
    price_source: str = Field(description='"fare:<gtfs fare>" or "tariff:<mode|operator>"')
    replaced_by: int | None = Field(None, description="status replaced: `leg` of the first leg "
                                    "that replaced this one (a later leg of this booking); else null")


class PassengerOut(BaseModel):
    name: str = Field(description="masked")
    id_number: str = Field(description="masked")
    id_type: str
    category: str


class TicketOut(BaseModel):
    id: str
    leg: int
    passenger: int
    status: str = Field(description="issued | cancelled")


class RefundOfferOut(BaseModel):
    legs: list[int] = Field(description="the broken legs: POST /v1/bookings/{id}/cancel with {\"legs\": these} refunds them in full")
    refund: Money = Field(description="their full price (no fee), at most what is left of the payment")


class ProtectionOut(BaseModel):
    state: str = Field(description="rebooked | rebook_failed | restored (works again: the refund offer withdrawn)")
    at: datetime = Field(description="when connection protection did it")
    legs: list[int] = Field(description="the legs the disruption broke (rebooked: the legs replaced)")
    refund_offer: RefundOfferOut | None = Field(description="rebook_failed: the full refund of the broken legs, while they are still booked")


class BookingOut(BaseModel):
    id: str
    status: str = Field(description="held | confirmed | cancelled | expired")
    expires_at: datetime = Field(description="end of the hold")
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    itinerary_id: str
    legs: list[LegOut]
    passengers: list[PassengerOut]
    tickets: list[TicketOut] = Field(description="one per leg per passenger once confirmed")
    total: Money = Field(description="price of the legs still booked")
    paid: Money
    refund: Money = Field(description="refunds granted so far")
    payment_ref: str | None
    protection: ProtectionOut | None = Field(None, description="what connection protection did last (null: nothing)")


class BookingPage(BaseModel):
    items: list[BookingOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null at the end")


class ListQuery(BaseModel):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None


class CapacityIn(BaseModel):
    route_id: str | None = Field(None, description='"feed:route_id" (or the bare GTFS id)')
    trip_id: str | None = Field(None, description='"feed:trip_id" (or the bare GTFS id)')
    seats: int = Field(ge=0, le=100_000, description="seats per trip run and service date")

    @model_validator(mode="after")
    def _one_target(self) -> "CapacityIn":
        if (self.route_id is None) == (self.trip_id is None):
            raise ValueError("give exactly one of route_id and trip_id")
        return self


class CapacityOut(BaseModel):
    feed: str
    route_id: str | None
    trip_id: str | None
    seats: int


def _money(minor: int, currency: str) -> Money:
    return Money(amount=format_minor(minor), currency=currency)


def render(b: store.BookingView, zone: Zone) -> BookingOut:
    cur = b.currency
    return BookingOut(
        id=b.id, status=b.status, expires_at=b.expires_at, created_at=b.created_at,
        confirmed_at=b.confirmed_at, cancelled_at=b.cancelled_at, itinerary_id=b.itinerary_id,
        legs=[LegOut(leg=g.leg_no, status=g.status, operator=g.agency_id,
                     operator_name=g.agency_name, mode=g.mode, route_id=g.route_id,
                     trip_id=g.trip_id, service_date=g.service_date, from_stop=g.from_stop,
                     to_stop=g.to_stop, departure=g.departure.astimezone(zone(g.from_stop)),
                     arrival=g.arrival.astimezone(zone(g.to_stop)),
                     price=_money(g.price_minor, cur), refund=_money(g.refund_minor, cur),
                     price_source=g.price_source, replaced_by=g.replaced_by) for g in b.legs],
        passengers=[PassengerOut(name=p.name_masked, id_number=p.id_masked, id_type=p.id_type,
                                 category=p.category) for p in b.passengers],
        tickets=[TicketOut(id=t.id, leg=t.leg_no, passenger=t.passenger_no, status=t.status)
                 for t in b.tickets],
        total=_money(b.total_minor, cur), paid=_money(b.paid_minor, cur),
        refund=_money(b.refund_minor, cur), payment_ref=b.payment_ref,
        protection=_protection(b))


def _protection(b: store.BookingView) -> dict[str, Any] | None:
    """The booking's `protection` as BookingOut has it (a standing refund offer: the broken
    legs still booked, their full price up to what is left of the payment)."""
    p = b.protection
    if not p:
        return None
    offer = None
    legs = offer_legs(p, [{"leg_no": g.leg_no, "status": g.status} for g in b.legs])
    if legs:
        price = sum(g.price_minor for g in b.legs if g.leg_no in set(legs))
        offer = {"legs": list(legs),
                 "refund": _money_dict(min(price, max(0, b.paid_minor - b.refund_minor)),
                                       b.currency)}
    return {"state": p.get("state"), "at": datetime.fromisoformat(p["at"]),
            "legs": list(p.get("legs", ())), "refund_offer": offer}


def _money_dict(minor: int, currency: str) -> dict[str, str]:
    return {"amount": format_minor(minor), "currency": currency}


def render_json(b: store.BookingView, zone: Zone) -> bytes:
    """`render(b).model_dump_json(by_alias=True)` without building the models (the same
    bytes: pydantic-core's encoder, the fields in BookingOut's order; tested)."""
    cur = b.currency
    return to_json({
        "id": b.id, "status": b.status, "expires_at": b.expires_at, "created_at": b.created_at,
        "confirmed_at": b.confirmed_at, "cancelled_at": b.cancelled_at,
        "itinerary_id": b.itinerary_id,
        "legs": [{"leg": g.leg_no, "status": g.status, "operator": g.agency_id,
                  "operator_name": g.agency_name, "mode": g.mode, "route_id": g.route_id,
                  "trip_id": g.trip_id, "service_date": g.service_date,
                  "from_stop": g.from_stop, "to_stop": g.to_stop,
                  "departure": g.departure.astimezone(zone(g.from_stop)).isoformat(),
                  "arrival": g.arrival.astimezone(zone(g.to_stop)).isoformat(), "price": _money_dict(g.price_minor, cur),
                  "refund": _money_dict(g.refund_minor, cur), "price_source": g.price_source,
                  "replaced_by": g.replaced_by}
                 for g in b.legs],
        "passengers": [{"name": p.name_masked, "id_number": p.id_masked, "id_type": p.id_type,
                        "category": p.category} for p in b.passengers],
        "tickets": [{"id": t.id, "leg": t.leg_no, "passenger": t.passenger_no,
                     "status": t.status} for t in b.tickets],
        "total": _money_dict(b.total_minor, cur), "paid": _money_dict(b.paid_minor, cur),
        "refund": _money_dict(b.refund_minor, cur), "payment_ref": b.payment_ref,
        "protection": _protection(b)})


def _respond(request: web.Request, b: store.BookingView, status: int = 200) -> web.Response:
    """The booking as json_response(render(b, zone)) would send it."""
    return json_body(render_json(b, stop_zones(request.app[LIVE].current)), status=status)


class _Body:
    """The response of a booking use case that stores it with its own writes (Idempotency-Key:
    `stored` is what the store needs, None without a key): rendered once, sent as stored."""

    def __init__(self, zone: Zone, key: Key | None, status: int = 200) -> None:
        self.zone, self.key, self.status, self.body = zone, key, status, b""

    @property
    def stored(self) -> store.Idempotent | None:
        """Made when asked, not kept: it refers to this body (`render`), and kept here the two
        would make a cycle, which only the collector frees, with the booking it rendered."""
        key = self.key
        return None if key is None else store.Idempotent(
            key.scope, key.key, key.digest, self.render, self.status)

    def render(self, b: store.BookingView) -> bytes:
        self.body = render_json(b, self.zone)
        return self.body

    def response(self, b: store.BookingView) -> web.Response:
        """The booking as json_response(render(b, zone)) would send it."""
        return json_body(self.body or render_json(b, self.zone), status=self.status)


# --- endpoints -----------------------------------------------------------------------------

def _account(request: web.Request) -> str:
    account = principal_of(request).account_id
    assert account is not None  # auth=("account",)
    return account


_ERRORS = {404: "no such booking (or not yours)", 409: "not allowed in the booking's state"}


@router.post("/v1/bookings", summary="Hold seats on every leg of an itinerary (one booking)",
             auth=("account",), body=BookingIn, response=BookingOut, status=201,
             headers=_IDEM_DOC,
             errors={400: "missing Idempotency-Key or malformed itinerary id",
                     409: "a leg is sold out (`leg` names it); nothing is held",
                     410: "the itinerary's timetable is no longer live",
                     422: "invalid passenger field (`field` names it) or reused Idempotency-Key"})
async def create_booking(request: web.Request, body: BookingIn) -> web.StreamResponse:
    snap = request.app[LIVE].current
    secret = getattr(getattr(snap.planner, "config", None), "id_secret", DEFAULT_SECRET)
    key = decode_id(body.itinerary_id, secret)
    people = [PassengerInput(p.name, p.id_number, p.category, p.id_type) for p in body.passengers]
    options = sale_options(body.modes, body.wheelchair, body.max_walk_m, body.min_transfer_s,
                           profile_options(body))
    conn_of = sold_connection_of(getattr(snap.planner, "config", None), options)
    idem = await key_of(request)
    body_of = _Body(stop_zones(snap), idem, 201)
    try:
        view = await request.app[BOOKINGS].hold(_account(request), body.itinerary_id, key,
                                                snap.network, snap.versions, people, None,
                                                options, conn_of, idempotent=body_of.stored)
    except store.Replayed as used:
        return replay(request, idem, used.row)  # type: ignore[arg-type]
    return body_of.response(view)


@router.get("/v1/bookings", summary="My bookings, newest first", auth=("account",),
            query=ListQuery, response=BookingPage)
async def list_bookings(request: web.Request, query: ListQuery) -> BookingPage:
    after = None
    if query.cursor:
        try:
            stamp, _, bid = base64.urlsafe_b64decode(query.cursor.encode()).decode().partition("|")
            after = (datetime.fromisoformat(stamp), bid)
            if after[0].tzinfo is None or "\x00" in bid:
                raise ValueError("not a cursor of ours")
        except ValueError:
            raise InvalidParameter("cursor is not one this API returned", field="cursor") from None
    views = await request.app[BOOKINGS].list(_account(request), query.limit + 1, after)
    more = len(views) > query.limit
    views = views[:query.limit]
    cursor = None
    if more:
        last = views[-1]
        cursor = base64.urlsafe_b64encode(f"{last.created_at.isoformat()}|{last.id}".encode()).decode()
    zone = stop_zones(request.app[LIVE].current)
    return BookingPage(items=[render(v, zone) for v in views], next_cursor=cursor)


@router.get("/v1/bookings/{id}", summary="One of my bookings", auth=("account",),
            response=BookingOut, errors={404: _ERRORS[404]})
async def get_booking(request: web.Request) -> web.Response:
    return _respond(request, await request.app[BOOKINGS].get(_account(request), request.match_info["id"]))


@router.post("/v1/bookings/{id}/confirm", summary="Pay: held -> confirmed, tickets issued",
             auth=("account",), body=ConfirmIn, response=BookingOut, headers=_IDEM_OPT,
             errors=_ERRORS)
async def confirm_booking(request: web.Request, body: ConfirmIn) -> web.StreamResponse:
    idem = await key_of(request, required=False)
    body_of = _Body(stop_zones(request.app[LIVE].current), idem)
    try:
        view = await request.app[BOOKINGS].confirm(
            _account(request), request.match_info["id"], body.payment_ref, None, body_of.stored)
    except store.Replayed as used:
        return replay(request, idem, used.row)  # type: ignore[arg-type]
    return body_of.response(view)


class CancelIn(BaseModel):
    legs: list[int] | None = Field(None, min_length=1, max_length=64,
                                   description="take connection protection's refund offer: the broken "
                                   "legs it names (booking `protection.refund_offer.legs`, or some of "
                                   "them), refunded in full; default: cancel the whole booking")

    @model_validator(mode="after")
    def _legs_in_range(self) -> "CancelIn":
        if self.legs is not None and any(n < 0 or n > INT32_MAX for n in self.legs):
            raise ValueError("legs are 0-based leg numbers")
        return self


@router.post("/v1/bookings/{id}/cancel",
             summary="Cancel the whole booking (refund per operator rules; broken legs with a "
                     "refund offer in full), or with `legs` only the offer's broken legs",
             auth=("account",), body=CancelIn, body_optional=True, response=BookingOut,
             headers=_IDEM_OPT,
             errors={**_ERRORS, 409: "not allowed in the booking's state; `no_refund_offer`: "
                                      "`legs` are not broken legs of a standing refund offer"})
async def cancel_booking(request: web.Request, body: CancelIn) -> web.StreamResponse:
    idem = await key_of(request, required=False)
    body_of = _Body(stop_zones(request.app[LIVE].current), idem)
    try:
        view, _ = await request.app[BOOKINGS].cancel(_account(request), request.match_info["id"],
                                                     None, None, body.legs, body_of.stored)
    except store.Replayed as used:
        return replay(request, idem, used.row)  # type: ignore[arg-type]
    return body_of.response(view)


@router.post("/v1/bookings/{id}/legs/{leg}/cancel",
             summary="Cancel one leg; the rest is re-priced and the difference refunded",
             auth=("account",), path_params=LegPath, response=BookingOut, headers=_IDEM_OPT,
             errors={**_ERRORS, 400: "leg is not a number"})
async def cancel_leg(request: web.Request, path: LegPath) -> web.StreamResponse:
    leg = path.leg

    idem = await key_of(request, required=False)
    body_of = _Body(stop_zones(request.app[LIVE].current), idem)
    try:
        view, _ = await request.app[BOOKINGS].cancel(_account(request), request.match_info["id"],
                                                     leg, None, None, body_of.stored)
    except store.Replayed as used:
        return replay(request, idem, used.row)  # type: ignore[arg-type]
    return body_of.response(view)


class QuoteQuery(BaseModel):
    leg: int | None = Field(None, ge=0, le=INT32_MAX,
                            description="quote cancelling only this leg (default: the whole booking)")


class QuoteLegOut(BaseModel):
    leg: int
    price: Money = Field(description="what the leg costs now (all passengers)")
    refund: Money = Field(description="what cancelling refunds for this leg")
    new_price: Money | None = Field(description="the leg's price after a one-leg cancel re-prices it")


class RefundQuoteOut(BaseModel):
    booking_id: str
    quoted_at: datetime = Field(description="the refund rules depend on the time left to departure")
    status_after: str = Field(description="the booking's status after the cancel")
    refund: Money = Field(description="total refund of the cancel")
    total_after: Money = Field(description="price of the legs still booked after the cancel")
    legs: list[QuoteLegOut] = Field(description="the legs the cancel refunds or re-prices")


@router.get("/v1/bookings/{id}/refund-quote",
            summary="What a cancel would refund now, per leg (same rules as the cancel)",
            auth=("account",), query=QuoteQuery, response=RefundQuoteOut,
            errors={404: _ERRORS[404], 409: "the booking (or leg) cannot be cancelled"})
async def refund_quote(request: web.Request, query: QuoteQuery) -> RefundQuoteOut:
    view, out, t = await request.app[BOOKINGS].refund_quote(
        _account(request), request.match_info["id"], query.leg)
    cur = view.currency
    prices = {g.leg_no: g.price_minor for g in view.legs}
    nos = sorted(out.leg_refunds.keys() | out.leg_prices.keys())
    return RefundQuoteOut(
        booking_id=view.id, quoted_at=t, status_after=out.status.value,
        refund=_money(out.refund_minor, cur), total_after=_money(out.total_minor, cur),
        legs=[QuoteLegOut(leg=n, price=_money(prices[n], cur),
                          refund=_money(out.leg_refunds.get(n, 0), cur),
                          new_price=_money(out.leg_prices[n], cur) if n in out.leg_prices
                          else None) for n in nos])


class ExchangeOffersIn(BaseModel):
    date: str | None = Field(None, max_length=10,
                             description="YYYY-MM-DD at the boarding stop; default the leg's day")
    time: str | None = Field(None, max_length=8,
                             description="HH:MM[:SS] local; default the leg's departure time")


class OfferLegOut(BaseModel):
    operator: str
    mode: str
    route_id: str
    trip_id: str
    service_date: date
    from_stop: str
    to_stop: str
    departure: LocalTime = Field(description="local to from_stop, with its UTC offset")
    arrival: LocalTime = Field(description="local to to_stop, with its UTC offset")
    price: Money = Field(description="for all passengers, by their categories")


class ExchangeOfferOut(BaseModel):
    offer_id: str = Field(description="pass to POST /v1/bookings/{id}/exchange")
    expires_at: datetime
    replaces_from_leg: int = Field(description="this leg and the booked legs after it are replaced")
    itinerary_id: str
    legs: list[OfferLegOut]
    price_difference: Money = Field(description="new legs' price - replaced legs' price (negative: back to you)")
    fee: Money = Field(description="what the refund rules keep of the replaced legs now")
    due: Money = Field(description="price_difference + fee: > 0 charged, < 0 refunded")


class ExchangeOffersOut(BaseModel):
    offers: list[ExchangeOfferOut]


class ExchangeIn(BaseModel):
    offer_id: str = Field(min_length=1, max_length=64, description="from exchange-offers")


def _secret(request: web.Request) -> bytes:
    snap = request.app[LIVE].current
    return getattr(getattr(snap.planner, "config", None), "id_secret", DEFAULT_SECRET)


@router.post("/v1/bookings/{id}/legs/{leg}/exchange-offers",
             summary="Alternatives for a leg and the legs after it (改签), each a short-lived offer",
             auth=("account",), path_params=LegPath, body=ExchangeOffersIn,
             response=ExchangeOffersOut,
             errors={400: "bad date or time", 404: _ERRORS[404],
                     409: "`leg_not_exchangeable`: not a confirmed leg of a confirmed booking, "
                          "or departed", 503: "no timetable loaded"})
async def exchange_offers(request: web.Request, path: LegPath,
                          body: ExchangeOffersIn) -> ExchangeOffersOut:
    snap = request.app[LIVE].current
    planner = snap.planner
    if planner is None:
        raise NoTimetable("no timetable is loaded yet")

    def replan(origin: str, destination: str, modes: frozenset[str], leg: Any) -> list[Any]:
        tz = ZoneInfo(planner.place_tz(origin, {}))
        local = leg["departure"].astimezone(tz)
        q = to_query(PlanQuery.model_validate({
            "from": origin, "to": destination,
            "date": body.date or leg["service_date"].isoformat(),
            "time": body.time or local.strftime("%H:%M")}))
        q = replace(q, modes=modes, limit=request.app[BOOKINGS].config.exchange_offers,
                    window_s=_OFFER_WINDOW_S)
        return [it for it in planner.plan(q) if it.key.legs]   # a walk-only one: nothing to sell

    svc = request.app[BOOKINGS]
    zone = stop_zones(snap)
    offers, cur = await svc.exchange_offers(_account(request), request.match_info["id"],
                                            path.leg, snap.network, replan)
    return ExchangeOffersOut(offers=[ExchangeOfferOut(
        offer_id=o.offer.id, expires_at=o.offer.expires_at, replaces_from_leg=o.offer.from_leg,
        itinerary_id=o.offer.itinerary_id,
        legs=[OfferLegOut(operator=g.agency_id, mode=g.mode, route_id=g.route_id,
                          trip_id=g.trip_id, service_date=g.service_date,
                          from_stop=g.from_stop, to_stop=g.to_stop,
                          departure=g.departure.astimezone(zone(g.from_stop)),
                          arrival=g.arrival.astimezone(zone(g.to_stop)), price=_money(p, cur))
              for g, p in zip(resolve_legs(snap.network, o.itinerary.key.legs),
                              o.money.new_prices, strict=True)],
        price_difference=_money(o.money.difference_minor, cur), fee=_money(o.money.fee_minor, cur),
        due=_money(o.money.due_minor, cur)) for o in offers])


@router.post("/v1/bookings/{id}/exchange",
             summary="Take an exchange offer: the legs swapped atomically, same booking and QR",
             auth=("account",), body=ExchangeIn, response=BookingOut, headers=_IDEM_DOC,
             errors={400: "missing Idempotency-Key", 404: "no such booking or offer",
                     409: "`seats_gone` (nothing changed), `offer_used`, `leg_not_exchangeable`",
                     410: "`offer_expired`, or `itinerary_stale` (timetable changed)",
                     503: "no timetable loaded"})
async def exchange(request: web.Request, body: ExchangeIn) -> web.StreamResponse:
    snap = request.app[LIVE].current
    if snap.network is None:
        raise NoTimetable("no timetable is loaded yet")
    secret = _secret(request)

    async def run(conn):  # type: ignore[no-untyped-def]
        return _respond(request, await request.app[BOOKINGS].exchange(
            _account(request), request.match_info["id"], body.offer_id, snap.network,
            snap.versions, lambda s: decode_id(s, secret), conn))

    return await idempotent(request, run)


def _namespaced(feed: str, ref: str) -> str:
    if ref.startswith(f"{feed}:"):
        return ref
    if ":" in ref.split("@", 1)[0] and not ref.startswith(f"{feed}:"):
        raise CapacityTargetUnknown(f"{ref} is not in feed {feed}", field="route_id/trip_id")
    return f"{feed}:{ref}"


@router.put("/v1/feeds/{feed}/capacity", summary="Seats per trip run for a route or a trip",
            auth=("operator",), body=CapacityIn, response=CapacityOut,
            errors={403: "the feed belongs to another operator", 404: "no such feed",
                    422: "no such route/trip in the live timetable"})
async def put_capacity(request: web.Request, body: CapacityIn) -> CapacityOut:
    feed = request.match_info["feed"]
    principal = principal_of(request)
    owner = await feed_store.feed_owner(request.app[DB], feed)
    if owner is None:
        raise NotFound(f"no feed {feed!r}", feed=feed)
    if principal.role != "admin" and owner != principal.operator_id:
        raise Forbidden(f"feed {feed!r} belongs to another operator", feed=feed)
    scope, ref = ("route", body.route_id) if body.route_id else ("trip", body.trip_id)
    ref = _namespaced(feed, ref or "")
    net = request.app[LIVE].current.network
    if net is not None and feed in getattr(net, "feeds", ()):
        known = net.route_id if scope == "route" else net.trip_id
        base = ref.split("@", 1)[0]
        if not any(str(x) == ref or str(x).split("@", 1)[0] == base for x in known):
            raise CapacityTargetUnknown(f"no {scope} {ref} in the live timetable",
                                        field=f"{scope}_id")
    await store.set_capacity(request.app[DB], feed, scope, ref, body.seats, principal.key_id)
    return CapacityOut(feed=feed, route_id=ref if scope == "route" else None,
                       trip_id=ref if scope == "trip" else None, seats=body.seats)
