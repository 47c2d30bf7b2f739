"""Passenger side of check-in: the journey token (QR) and face enrolment.

GET /v1/bookings/{id}/token, /qr.svg, /qr.png; POST/DELETE /v1/accounts/face. Thin: parse,
call ticketing.checkin_service.Checkin, render. The module's `cleanup_ctx` builds the
worker's `Checkin` (it holds the per-process key and secret caches) and runs the
face-erasure sweeper.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import AsyncIterator

import orjson
import segno
from aiohttp import web
from pydantic import BaseModel, Field

from maas.appkeys import CLOCK, DB, SETTINGS
from maas.domain_metrics import DOMAIN_METRICS
from maas.errors import NotFound
from maas.http import Router, json_body, principal_of
from maas.services import checkin_of
from ticketing.checkin_service import Checkin, CurrentQr

__all__ = ["router", "cleanup_ctx", "CHECKIN", "checkin_state"]

log = logging.getLogger(__name__)
router = Router(tag="checkin")


CHECKIN = web.AppKey("checkin", Checkin)


def checkin_state(app: web.Application) -> Checkin:
    """The worker's check-in use cases (ticketing.checkin_service) and their caches."""
    svc = app.get(CHECKIN)
    if svc is None:   # cleanup_ctx not run (an app built without this module's context)
        svc = app[CHECKIN] = checkin_of(app[DB], app[SETTINGS], app[CLOCK].now,
                                        app.get(DOMAIN_METRICS))
    return svc


async def _sweep_forever(app: web.Application) -> None:
    svc = checkin_state(app)
    interval = app[SETTINGS].gates.face_sweep_interval_s
    while True:
        try:
            n = await svc.sweep_faces()
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
        checkin_state(app).close()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


# --- the journey token --------------------------------------------------------------------


class TokenResponse(BaseModel):
    qr: str = Field(description="the QR payload (base45 text): signed journey + rotating code")
    refresh_in_s: float = Field(description="seconds until the rotating code changes; fetch again then")
    step_s: int = Field(description="seconds per rotating-code step")


async def _current_qr(request: web.Request) -> CurrentQr:
    booking_id = request.match_info["id"]
    got = await checkin_state(request.app).current_qr(principal_of(request).account_id, booking_id)
    if got is None:
        raise NotFound("no such booking", booking=booking_id)
    return got


_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/v1/bookings/{id}/token", summary="The journey's QR payload (rotating)",
            auth=("account",), response=TokenResponse,
            errors={404: "not your booking", 409: "booking not confirmed"})
async def token(request: web.Request) -> web.Response:
    got = await _current_qr(request)
    return _token_response(got)


def _token_response(got: CurrentQr) -> web.Response:
    """`TokenResponse` as the model writes it, byte for byte, without building the model
    (tests/api/test_checkin.py compares them)."""
    body = {"qr": got.qr, "refresh_in_s": round(float(got.refresh_in_s), 3), "step_s": int(got.step_s)}
    return json_body(orjson.dumps(body), headers=_NO_STORE)


def _render(qr: str, kind: str) -> bytes:
    buf = io.BytesIO()
    segno.make(qr, error="m", micro=False).save(buf, kind=kind, scale=6, border=4)
    return buf.getvalue()


@router.get("/v1/bookings/{id}/qr.svg", summary="The journey's QR code as SVG",
            auth=("account",), response_content="image/svg+xml",
            errors={404: "not your booking", 409: "booking not confirmed"})
async def qr_svg(request: web.Request) -> web.Response:
    got = await _current_qr(request)
    return web.Response(body=_render(got.qr, "svg"), content_type="image/svg+xml", headers=_NO_STORE)


@router.get("/v1/bookings/{id}/qr.png", summary="The journey's QR code as PNG",
            auth=("account",), response_content="image/png",
            errors={404: "not your booking", 409: "booking not confirmed"})
async def qr_png(request: web.Request) -> web.Response:
    got = await _current_qr(request)
    return web.Response(body=_render(got.qr, "png"), content_type="image/png", headers=_NO_STORE)


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
    svc = checkin_state(request.app)
    account = principal_of(request).account_id
    assert account is not None
    await svc.enrol_face(account, body.template, body.consent, body.operators)
    return FaceEnrolled(enrolled=True, dimension=svc.cfg.face_dimension, operators=body.operators,
                        erased_after_h=svc.cfg.face_retention_s / 3600)


@router.delete("/v1/accounts/face", summary="Erase the enrolled face template now",
               auth=("account",), response=FaceErased)
async def erase_face(request: web.Request) -> FaceErased:
    account = principal_of(request).account_id
    assert account is not None
    erased = await checkin_state(request.app).erase_face(account)
    return FaceErased(erased=erased)

