"""Gate side of check-in: validate (QR or face), the offline manifest, offline taps, conflicts.

POST /v1/gates/{gate}/validate answers 200 with `result` accept|reject and a stable `code`
(see ticketing/README.md); HTTP errors are for bad requests and credentials only. Thin:
parse, call ticketing.checkin_service.Checkin (where the gate decision is made), render.
"""

from __future__ import annotations

from collections import Counter

from datetime import date as Date, datetime, timezone, tzinfo
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import (AwareDatetime, BaseModel, Field, SerializerFunctionWrapHandler,
                      model_serializer, model_validator)

from maas.appkeys import LIVE, REDIS, REQUEST_ID, SETTINGS
from maas.auth import Principal
from maas.errors import Forbidden
from maas.http import INT32_MAX, Router, annotate, json_body, principal_of
from maas.idprobes import RedisProbeLimiter
from maas.localtime import LocalTime, local, stop_zones, zone_name
from maas.middleware import problem_response
from maas.api.checkin import checkin_state
from ticketing import checkin_store as store
from ticketing.checkin_errors import TooManyUnknownIds
from ticketing.gate import Decision
from ticketing.manifest import ALG

__all__ = ["router"]

router = Router(tag="gates")


def _stops(request: web.Request, station: str) -> tuple[str, ...]:
    """The stop ids a gate at `station` admits to, on the live network."""
    snap = request.app[LIVE].current
    return checkin_state(request.app).stops(snap.generation, snap.network, station)


def _station_zone(request: web.Request, station: str) -> tzinfo:
    """The time zone of the gate's station: its times are written local to it."""
    return stop_zones(request.app[LIVE].current)(station)


def _gate(request: web.Request) -> Principal:
    p = principal_of(request)
    gate = request.match_info["gate"]
    if p.role != "gate" or p.gate_id != gate or not p.station:
        raise Forbidden("this needs the key of this gate", gate=gate)
    return p


# --- validate -----------------------------------------------------------------------------


class IdCard(BaseModel):
    id_type: Literal["prc_id", "passport", "hk_macao_permit", "taiwan_permit"] = Field(
        description="prc_id: PRC resident ID (居民身份证); passport; hk_macao_permit: 港澳居民来往内地通行证; "
        "taiwan_permit: 台湾居民来往大陆通行证")
    number: str = Field(min_length=1, max_length=64, description="as the card reader gives it")

    def __repr__(self) -> str:   # never print the number
        return f"IdCard(id_type={self.id_type!r})"


class ValidateRequest(BaseModel):
    qr: str | None = Field(None, max_length=4096, description="scanned QR payload")
    face: list[float] | None = Field(None, description="probe face template (fixed length)")
    id_card: IdCard | None = Field(None, description="an ID card read at the gate: admits its holder")

    @model_validator(mode="after")
    def one_of(self) -> "ValidateRequest":
        if sum(x is not None for x in (self.qr, self.face, self.id_card)) != 1:
            raise ValueError("send exactly one of qr, face or id_card")
        return self

    def __repr__(self) -> str:
        return "ValidateRequest(...)"


class ReplacedByOut(BaseModel):
    leg: int = Field(description="the booking's leg to board instead (the same QR and ID card)")
    trip_id: str = Field(description='"feed:trip_id"')
    departure: LocalTime = Field(description="local to its boarding station, with the offset")
    station: str = Field(description='where it boards, "feed:stop_id"')


class Validation(BaseModel):
    result: Literal["accept", "reject"]
    code: str = Field(description='"ok" on accept; else bad_signature, unknown_key, code_expired, '
                      "wrong_station, not_yet_valid, validity_over, already_used, cancelled, "
                      "replaced, malformed, no_face_match, face_ambiguous, invalid_id, unknown_id")
    booking: str | None = Field(description="booking id (when the ticket is authentic)")
    leg: int | None = Field(description="leg entered (accept) or concerned (reject)")
    passengers: int | None = Field(description="passengers to let through on this ticket "
                                   "(1 for an ID card: its holder)")
    passenger: int | None = Field(None, description="ID card: the holder's passenger number in "
                                  "the booking (absent for QR and face, which admit the party)")
    replaced_by: ReplacedByOut | None = Field(None, description="code replaced: the leg that "
                                              "replaced this one (exchanged or rebooked); else absent")
    valid_from: LocalTime | None = Field(None, description="not_yet_valid: when the leg's "
                                         "window opens here, local to the station with its offset",
                                         examples=["2026-12-01T06:20:00+08:00"])
    valid_until: LocalTime | None = Field(None, description="validity_over: when it closed, "
                                          "local to the station with its offset",
                                          examples=["2026-12-01T09:45:00+08:00"])

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        for name in ("passenger", "replaced_by", "valid_from", "valid_until"):   # only where they say something
            if out.get(name) is None:
                out.pop(name, None)
        return out


def _limiter(request: web.Request) -> RedisProbeLimiter:
    s = request.app[SETTINGS].gates
    return RedisProbeLimiter(request.app[REDIS], s.id_probe_limit, s.id_probe_window_s,
                             s.id_probe_block_s)


@router.post("/v1/gates/{gate}/validate", summary="Admit or refuse a ticket (QR, face or ID card)",
             auth=("gate",), body=ValidateRequest, response=Validation,
             errors={403: "not this gate's key", 422: "send exactly one of qr, face or id_card",
                     429: "too_many_unknown_ids: this key tried too many ID cards without a "
                     "ticket here (Retry-After)"},
             description="Always 200 with result accept|reject and a stable reason code.")
async def validate(request: web.Request, body: ValidateRequest) -> web.StreamResponse | Validation:
    p = _gate(request)
    svc = checkin_state(request.app)
    gate, station = p.gate_id or "", p.station or ""
    stops = _stops(request, station)
    if body.qr is not None:
        d = await svc.validate_qr(gate, station, stops, body.qr)
    elif body.id_card is not None:
        try:
            d = await svc.validate_id(gate, station, stops, body.id_card.id_type,
                                      body.id_card.number, _limiter(request), p.id)
        except TooManyUnknownIds as err:
            annotate(request, gate=p.gate_id, code=err.code)
            return _too_many(request, err, int(err.extra["retry_after_s"]))
    else:
        assert body.face is not None
        d = await svc.validate_face(gate, station, stops, body.face)
    # the decision goes on the request's access line (refusals are the security signal:
    # forgeries, replays; accepts are also rows in gate_taps)
    # (never the ID number: the request body is not logged, and the decision does not hold it)
    annotate(request, gate=p.gate_id, result=d.result, code=d.code, booking=d.booking, leg=d.leg,
             via="id_card" if body.id_card is not None else ("qr" if body.qr else "face"))
    if d.valid_from is None and d.valid_until is None and d.replaced_by is None:
        return _plain_validation(d)
    if d.valid_from is not None or d.valid_until is not None:
        d = d.localised(_station_zone(request, station))
    by = d.replaced_by
    return Validation(result=d.result, code=d.code, booking=d.booking, leg=d.leg,  # type: ignore[arg-type]
                      passengers=d.passengers, passenger=d.passenger, valid_from=d.valid_from,
                      valid_until=d.valid_until,
                      replaced_by=None if by is None else ReplacedByOut(
                          leg=by.leg, trip_id=by.trip_id, station=by.station,
                          departure=by.departure.astimezone(
                              stop_zones(request.app[LIVE].current)(by.station))))


def _plain_validation(d: Decision) -> web.Response:
    """A decision without a window or a replacement (nearly every tap) as `Validation` writes
    it, byte for byte, without building the model (tests/api/test_gates.py compares them)."""
    out: dict[str, Any] = {"result": d.result, "code": d.code, "booking": d.booking, "leg": d.leg,
                           "passengers": d.passengers}
    if d.passenger is not None:
        out["passenger"] = d.passenger
    return json_body(orjson.dumps(out))


def _too_many(request: web.Request, err: TooManyUnknownIds, retry: int) -> web.Response:
    resp = problem_response(err.status, err.code, "Too many unknown ID cards", err.detail,
                            request.get(REQUEST_ID), retry_after_s=retry)
    resp.headers["Retry-After"] = str(retry)
    return resp


# --- offline manifest ---------------------------------------------------------------------


class ManifestQuery(BaseModel):
    date: Date | None = Field(None, description="the day (YYYY-MM-DD) in the station's time "
                              "zone; default: today there")


class ManifestEnvelope(BaseModel):
    v: int
    alg: str = Field(description=ALG + ": key = HKDF-SHA256(the gate's bearer key, "
                     "salt 'maas.manifest.v1', info 'gate:<gate id>')")
    gate: str
    station: str
    date: str
    nonce: str = Field(description="base64 AES-GCM nonce")
    ciphertext: str = Field(description="base64 AES-GCM ciphertext of the signed manifest")


@router.get("/v1/gates/{gate}/manifest", summary="The gate's signed, encrypted offline manifest",
            auth=("gate",), query=ManifestQuery, response=ManifestEnvelope,
            errors={403: "not this gate's key (a revoked key gets 401)"})
async def manifest(request: web.Request, query: ManifestQuery) -> web.Response:
    p = _gate(request)
    station = p.station or ""
    bearer = request.headers["Authorization"].partition(" ")[2].strip()
    env = await checkin_state(request.app).manifest(
        p.gate_id or "", station, _stops(request, station), query.date, bearer,
        stop_zone=stop_zones(request.app[LIVE].current),
        tz=zone_name(_station_zone(request, station)))
    return web.json_response(env, headers={"Cache-Control": "no-store"})


# --- offline taps and conflicts -----------------------------------------------------------


class TapIn(BaseModel):
    tap_id: str = Field(min_length=8, max_length=64, description="the gate's unique id for the tap (uuid)")
    booking: str = Field(max_length=128)
    leg: int = Field(ge=0, le=INT32_MAX)
    at: AwareDatetime = Field(description="when the gate admitted, with its offset (gates write "
                              "it local to the station, the manifest's tz)",
                              examples=["2026-12-01T06:41:07+08:00"])
    step: int | None = Field(None, ge=0, le=INT32_MAX, description="TOTP step of the accepted code")
    passenger: int | None = Field(None, ge=0, le=1000, description="ID-card tap: the passenger "
                                  "number who entered (the decision's `passenger`); absent: the party")
    qr: str | None = Field(None, max_length=4096, description="proof of a QR tap: the QR payload "
                           "scanned (checked as online at `at`); a QR tap without it is refused")
    id_card: IdCard | None = Field(None, description="proof of an ID-card tap (`passenger` set): "
                                   "the card read (checked, never stored)")

    def __repr__(self) -> str:   # never print the ID number
        return f"TapIn({self.tap_id!r})"


class TapsUpload(BaseModel):
    taps: list[TapIn] = Field(max_length=10_000)


class TapOutcome(BaseModel):
    tap_id: str
    outcome: Literal["recorded", "conflict", "duplicate", "unknown_leg", "wrong_station",
                     "proof_required", "invalid_proof", "outside_validity"] = Field(
        description="recorded: the leg's entry; conflict: the leg was entered elsewhere too (first "
        "tap wins); duplicate: this tap id was uploaded before; unknown_leg: no such booking leg; "
        "wrong_station: the leg does not board at this gate's station (not stored). Refused, not "
        "stored: proof_required: the tap carries no proof of the scan (`qr`, or `id_card`); "
        "invalid_proof: the QR is not ours, of another booking, or its rotating code was not "
        "current at `at` (or the card is not this passenger's); outside_validity: `at` is outside "
        "the leg's validity window or later than now")


class TapsResult(BaseModel):
    recorded: int
    conflicts: int
    duplicates: int
    unknown: int = Field(description="unknown_leg + wrong_station")
    refused: int = Field(0, description="proof_required + invalid_proof + outside_validity")
    taps: list[TapOutcome]


@router.post("/v1/gates/{gate}/taps", summary="Upload taps made offline (idempotent by tap id)",
             auth=("gate",), body=TapsUpload, response=TapsResult)
async def upload_taps(request: web.Request, body: TapsUpload) -> TapsResult:
    p = _gate(request)
    station = p.station or ""
    taps = [store.UploadedTap(t.tap_id, t.booking, t.leg, t.at.astimezone(timezone.utc), t.step,
                              t.passenger, t.qr,
                              (t.id_card.id_type, t.id_card.number) if t.id_card else None)
            for t in body.taps]
    out = await checkin_state(request.app).upload_taps(p.gate_id or "", station,
                                                       _stops(request, station), taps)
    count = Counter(o for _, o in out)
    return TapsResult(recorded=count["recorded"], conflicts=count["conflict"],
                      duplicates=count["duplicate"], unknown=count["unknown_leg"] + count["wrong_station"],
                      refused=count["proof_required"] + count["invalid_proof"] + count["outside_validity"],
                      taps=[TapOutcome(tap_id=i, outcome=o) for i, o in out])  # type: ignore[arg-type]


class ConflictsQuery(BaseModel):
    limit: int = Field(100, ge=1, le=1000)


class TapRef(BaseModel):
    tap_id: str
    gate: str
    at: LocalTime = Field(description="local to the leg's boarding stop, with its offset",
                          examples=["2026-12-01T06:41:07+08:00"])


class TapConflict(BaseModel):
    booking: str
    leg: int
    operator: str = Field(description='the leg\'s operator "feed:agency_id"')
    winner: TapRef = Field(description="the first tap: it stands")
    loser: TapRef = Field(description="the later tap of the same ticket at another gate")
    detected_at: LocalTime = Field(description="when the upload found it, local to the leg's "
                                   "boarding stop", examples=["2026-12-01T07:02:31+08:00"])


class Conflicts(BaseModel):
    conflicts: list[TapConflict]


@router.get("/v1/operators/{id}/conflicts", summary="Tickets used twice while gates were offline",
            auth=("operator",), query=ConflictsQuery, response=Conflicts,
            errors={403: "another operator's conflicts"})
async def conflicts(request: web.Request, query: ConflictsQuery) -> Conflicts:
    p = principal_of(request)
    operator = request.match_info["id"]
    if p.role != "admin" and p.operator_id != operator:
        raise Forbidden("an operator sees only its own conflicts", operator=operator)
    rows = await checkin_state(request.app).conflicts(operator, query.limit)
    zone = stop_zones(request.app[LIVE].current)

    def here(r: Any, key: str) -> datetime:
        return local(r[key], zone, r["from_stop"] or "")
    return Conflicts(conflicts=[TapConflict(
        booking=r["booking_id"], leg=r["leg_no"], operator=r["agency_id"],
        winner=TapRef(tap_id=r["winner_tap_id"], gate=r["winner_gate"], at=here(r, "winner_at")),
        loser=TapRef(tap_id=r["loser_tap_id"], gate=r["loser_gate"], at=here(r, "loser_at")),
        detected_at=here(r, "detected_at")) for r in rows])
