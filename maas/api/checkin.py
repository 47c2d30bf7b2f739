"""Passenger side of check-in: the journey token (QR) and face enrolment.

GET /v1/bookings/{id}/token, /qr.svg, /qr.png; POST/DELETE /v1/accounts/face. The module's
`cleanup_ctx` holds the per-process check-in state (key and secret caches) and runs the
face-erasure sweeper.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, AsyncIterator

import segno
from aiohttp import web
from pydantic import BaseModel, Field

from maas.appkeys import CLOCK, DB, SETTINGS
from maas.errors import NotFound
from maas.http import Router, principal_of
from ticketing import checkin_store as store
from ticketing import face_store
from ticketing.checkin_config import CheckinConfig, from_settings
from ticketing.checkin_errors import BookingNotConfirmed, ConsentRequired
from ticketing.faces import normalise, to_bytes
from ticketing.keyring import DataKeyring, KeyCache
from ticketing.tokens import (SignedTicket, TicketToken, TokenLeg, VerifiedTickets, sign_static,
                              signed_ticket)
from ticketing.totp import leg_codes, seconds_to_next_step, step_of

__all__ = ["router", "cleanup_ctx", "CHECKIN", "CheckinState", "checkin_state", "rotate_checkin_data"]

log = logging.getLogger(__name__)
router = Router(tag="checkin")


@dataclass
class CheckinState:
    cfg: CheckinConfig
    data_keys: DataKeyring
    keys: KeyCache
    secrets: store.SecretCache
    warm_every_s: float = 60.0
    gate_stops: dict[tuple[int, str], tuple[str, ...]] = field(default_factory=dict)
    galleries: dict[tuple[str, ...], Any] = field(default_factory=dict)   # stops -> (t, rows, matrix)
    tickets: dict[tuple[Any, ...], SignedTicket] = field(default_factory=dict)  # see _current_qr
    verified: VerifiedTickets = field(default_factory=VerifiedTickets)  # signed parts known good
    _warmed: dict[tuple[str, ...], float] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def warm(self, app: web.Application, stops: tuple[str, ...], now: datetime) -> None:
        """Load, in the background, the secrets of bookings boarding at `stops` now (at most
        once a minute per station), so most accepts there take one statement."""
        t = time.monotonic()
        if t - self._warmed.get(stops, float("-inf")) < self.warm_every_s:
            return
        self._warmed[stops] = t
        task = asyncio.create_task(self._warm(app, stops, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _warm(self, app: web.Application, stops: tuple[str, ...], now: datetime) -> None:
        try:
            async with app[DB].acquire() as conn:
                await store.station_secrets(conn, stops, now, self.cfg, self.data_keys, self.secrets)
        except Exception:  # noqa: BLE001 — only an optimisation; the full path still works
            log.warning("could not warm the secret cache", exc_info=True)


CHECKIN = web.AppKey("checkin", CheckinState)
TICKET_CACHE = 10_000   # signed static parts kept per worker (~1.5 kB each; cleared when full)


def checkin_state(app: web.Application) -> CheckinState:
    st = app.get(CHECKIN)
    if st is None:   # cleanup_ctx not run (an app built without this module's context)
        settings = app[SETTINGS]
        dk = settings.data_keys()
        st = CheckinState(from_settings(settings.gates), dk, KeyCache(dk, settings.gates.key_cache_s),
                          store.SecretCache())
        app[CHECKIN] = st
    return st


async def _sweep_forever(app: web.Application) -> None:
    st = checkin_state(app)
    interval = app[SETTINGS].gates.face_sweep_interval_s
    while True:
        try:
            n = await face_store.sweep_faces(app[DB], app[CLOCK].now(), st.cfg.face_retention_s)
            if n:
                log.info("erased expired face templates", extra={"count": n})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 — the sweeper must outlive a database hiccup
            log.warning("face sweep failed; will retry", exc_info=True)
        await asyncio.sleep(interval)


async def cleanup_ctx(app: web.Application) -> AsyncIterator[None]:
    checkin_state(app)
    task = asyncio.create_task(_sweep_forever(app))
    try:
        yield
    finally:
        for t in list(checkin_state(app)._tasks):
            t.cancel()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


async def rotate_checkin_data(pool: Any, settings: Any) -> int:
    """Re-seal TOTP secrets, face templates and signing keys under the active data key (for
    `maas keys rotate-data`, after MAAS_SECRET_KEYS gets a new first key)."""
    return await store.reseal_all(pool, settings.data_keys())


# --- the journey token --------------------------------------------------------------------


class TokenResponse(BaseModel):
    qr: str = Field(description="the QR payload (base45 text): signed journey + rotating code")
    refresh_in_s: float = Field(description="seconds until the rotating code changes; fetch again then")
    step_s: int = Field(description="seconds per rotating-code step")


async def _current_qr(request: web.Request) -> tuple[str, float, int]:
    app = request.app
    st = checkin_state(app)
    booking_id = request.match_info["id"]
    account = principal_of(request).account_id
    now = app[CLOCK].now()
    async with app[DB].acquire() as conn:
        src = await store.token_source(conn, booking_id)
        if src is None or src.account_id != account:
            raise NotFound("no such booking", booking=booking_id)
        if src.status != "confirmed" or not src.legs:
            raise BookingNotConfirmed(f"booking is {src.status}; tokens are for confirmed bookings",
                                      booking=booking_id, status=src.status)
        if src.sealed_secret is None:          # the first token of this booking
            secret, issued_at = await store.create_secret(conn, booking_id, st.data_keys, now)
            st.secrets.put(booking_id, secret)
        else:
            issued_at = src.issued_at
            secret = st.secrets.get(booking_id) or st.secrets.unsealed(
                booking_id, st.data_keys, src.data_key_id, src.sealed_secret)
        signer = await st.keys.signer(conn)
    cfg = st.cfg
    # everything the signed part is made of is in the key, read just now: a cancelled leg or
    # a new signing key gives another key, never a stale ticket
    key = (signer.key_id, booking_id, issued_at, src.categories, src.legs)
    signed = st.tickets.get(key)
    if signed is None:
        token = TicketToken(
            key_id=signer.key_id, booking=booking_id, issued_at=issued_at,
            passengers=tuple(Counter(src.categories).items()),
            legs=tuple(TokenLeg(leg_no, board, alight, *cfg.window(mode, dep, arr))
                       for leg_no, board, alight, mode, dep, arr in src.legs),
        )
        signed = signed_ticket(sign_static(token, signer.private))
        if len(st.tickets) >= TICKET_CACHE:
            st.tickets.clear()
        st.tickets[key] = signed
    public = st.keys.cached_key(signer.key_id)
    if public is not None:     # we signed it: a gate of this worker need not verify it again
        st.verified.add(signed.signed, public)
    codes = leg_codes(secret, [leg[0] for leg in src.legs], step_of(now, cfg.totp_step_s),
                      digits=cfg.totp_digits, step_s=cfg.totp_step_s)
    return signed.qr(codes), seconds_to_next_step(now, cfg.totp_step_s), cfg.totp_step_s


_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/v1/bookings/{id}/token", summary="The journey's QR payload (rotating)",
            auth=("account",), response=TokenResponse,
            errors={404: "not your booking", 409: "booking not confirmed"})
async def token(request: web.Request) -> web.Response:
    qr, refresh, step = await _current_qr(request)
    body = TokenResponse(qr=qr, refresh_in_s=round(refresh, 3), step_s=step)
    return web.Response(text=body.model_dump_json(), content_type="application/json",
                        headers=_NO_STORE)


def _render(qr: str, kind: str) -> bytes:
    buf = io.BytesIO()
    segno.make(qr, error="m", micro=False).save(buf, kind=kind, scale=6, border=4)
    return buf.getvalue()


@router.get("/v1/bookings/{id}/qr.svg", summary="The journey's QR code as SVG",
            auth=("account",), response_content="image/svg+xml",
            errors={404: "not your booking", 409: "booking not confirmed"})
async def qr_svg(request: web.Request) -> web.Response:
    qr, _, _ = await _current_qr(request)
    return web.Response(body=_render(qr, "svg"), content_type="image/svg+xml", headers=_NO_STORE)


@router.get("/v1/bookings/{id}/qr.png", summary="The journey's QR code as PNG",
            auth=("account",), response_content="image/png",
            errors={404: "not your booking", 409: "booking not confirmed"})
async def qr_png(request: web.Request) -> web.Response:
    qr, _, _ = await _current_qr(request)
    return web.Response(body=_render(qr, "png"), content_type="image/png", headers=_NO_STORE)


# --- faces --------------------------------------------------------------------------------


class FaceEnrolment(BaseModel):
    template: list[float] = Field(description="face template from the app's face model (fixed length)")
    consent: bool = Field(description="explicit consent to face boarding; must be true")
    operators: list[str] | None = Field(
        None, description='limit consent to these operators ("feed:agency_id" or feed); null: all')

    def __repr__(self) -> str:   # never print the template
        return f"FaceEnrolment(consent={self.consent}, operators={self.operators})"


class FaceEnrolled(BaseModel):
    enrolled: bool
    dimension: int
    operators: list[str] | None = Field(description="operators the consent covers; null: all")
    erased_after_h: float = Field(description="hours after the last journey ends the template is erased")


class FaceErased(BaseModel):
    erased: bool = Field(description="true if a template was erased, false if none was enrolled")


@router.post("/v1/accounts/face", summary="Enrol a face template (consent required)",
             auth=("account",), body=FaceEnrolment, response=FaceEnrolled, status=201,
             errors={422: "consent missing or template of the wrong length"})
async def enrol_face(request: web.Request, body: FaceEnrolment) -> FaceEnrolled:
    app = request.app
    st = checkin_state(app)
    if body.consent is not True:
        raise ConsentRequired("face boarding needs explicit consent", field="consent")
    unit = normalise(body.template, st.cfg.face_dimension)
    account = principal_of(request).account_id
    assert account is not None
    await face_store.enrol_face(app[DB], account, to_bytes(unit), st.cfg.face_dimension, body.operators,
                           st.data_keys, app[CLOCK].now())
    st.galleries.clear()   # this worker sees it at once; others within face_gallery_cache_s
    return FaceEnrolled(enrolled=True, dimension=st.cfg.face_dimension, operators=body.operators,
                        erased_after_h=st.cfg.face_retention_s / 3600)


@router.delete("/v1/accounts/face", summary="Erase the enrolled face template now",
               auth=("account",), response=FaceErased)
async def erase_face(request: web.Request) -> FaceErased:
    account = principal_of(request).account_id
    assert account is not None
    erased = await face_store.erase_face(request.app[DB], account)
    checkin_state(request.app).galleries.clear()   # other workers: never admits (see gates)
    return FaceErased(erased=erased)

