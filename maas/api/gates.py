"""Gate side of check-in: validate (QR or face), the offline manifest, offline taps, conflicts.

POST /v1/gates/{gate}/validate answers 200 with `result` accept|reject and a stable `code`
(see ticketing/README.md); HTTP errors are for bad requests and credentials only.
"""

from __future__ import annotations

import logging
from time import monotonic
from datetime import date as Date, datetime, time, timedelta, timezone
from typing import Literal

import numpy as np
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from maas.appkeys import CLOCK, DB, LIVE
from maas.auth import Principal
from maas.errors import Forbidden
from maas.http import INT32_MAX, Router, annotate, principal_of
from maas.api.checkin import CheckinState, checkin_state
from ticketing import checkin_store as store
from ticketing import face_store
from ticketing.checkin_errors import (AlreadyUsed, Cancelled, CodeExpired, InvalidTemplate, Malformed,
                                      NoFaceMatch, Rejection)
from ticketing.faces import Gallery, from_bytes, match, normalise
from ticketing.gate import ACCEPT, Decision, candidate_legs, check_ticket
from ticketing.keyring import public_bytes
from ticketing.manifest import ALG, Manifest, gate_key, seal_manifest
from ticketing.tokens import Scanned, TicketToken, parse_qr
from ticketing.totp import leg_secret, new_secret

__all__ = ["router"]

log = logging.getLogger(__name__)
router = Router(tag="gates")


def _stops(request: web.Request, station: str) -> tuple[str, ...]:
    """The stop ids a gate at `station` admits to: the station and, when the live network
    knows it as a parent station, its platforms (and their boarding areas)."""
    snap = request.app[LIVE].current
    cache = checkin_state(request.app).gate_stops
    key = (snap.generation, station)
    got = cache.get(key)
    if got is None:
        net = snap.network
        found = np.flatnonzero(net.stop_id == station) if len(net.stop_id) else np.array([], int)
        members = set(int(i) for i in found)
        frontier = set(members)
        while frontier:
            kids = np.flatnonzero(np.isin(net.stop_parent, list(frontier)))
            frontier = {int(k) for k in kids} - members
            members |= frontier
        got = (station, *sorted(str(net.stop_id[i]) for i in members if net.stop_id[i] != station))
        if len(cache) > 10_000:
            cache.clear()
        cache[key] = got
    return got


def _gate(request: web.Request) -> Principal:
    p = principal_of(request)
    gate = request.match_info["gate"]
    if p.role != "gate" or p.gate_id != gate or not p.station:
        raise Forbidden("this needs the key of this gate", gate=gate)
    return p


# --- validate -----------------------------------------------------------------------------


class ValidateRequest(BaseModel):
    qr: str | None = Field(None, max_length=4096, description="scanned QR payload")
    face: list[float] | None = Field(None, description="probe face template (fixed length)")

    @model_validator(mode="after")
    def one_of(self) -> "ValidateRequest":
        if (self.qr is None) == (self.face is None):
            raise ValueError("send exactly one of qr or face")
        return self

    def __repr__(self) -> str:
        return "ValidateRequest(...)"


class Validation(BaseModel):
    result: Literal["accept", "reject"]
    code: str = Field(description='"ok" on accept; else bad_signature, unknown_key, code_expired, '
                      "wrong_station, not_yet_valid, validity_over, already_used, cancelled, "
                      "malformed, no_face_match, face_ambiguous")
    booking: str | None = Field(description="booking id (when the ticket is authentic)")
    leg: int | None = Field(description="leg entered (accept) or concerned (reject)")
    passengers: int | None = Field(description="passengers to let through on this ticket")


async def _record(conn, st: CheckinState, p: Principal, booking: str, legs: list[int],  # type: ignore[no-untyped-def]
                  method: str, step: int | None, now: datetime) -> int:
    """Enter the first leg not entered yet; AlreadyUsed if every one was."""
    for leg in legs:
        try:
            tap = await store.record_tap(conn, booking=booking, leg=leg, gate=p.gate_id,
                                         station=p.station, method=method, step=step, now=now,
                                         require_confirmed=True)
        except AlreadyUsed:
            continue
        if tap is None:           # cancelled since we looked
            raise Cancelled("booking cancelled", leg=leg)
        return leg
    raise AlreadyUsed("ticket already used for this leg", leg=legs[0])


async def _fast_accept(conn, st: CheckinState, p: Principal, stops: tuple[str, ...],  # type: ignore[no-untyped-def]
                       scanned: Scanned, token: TicketToken, secret: bytes, now: datetime
                       ) -> tuple[int, int] | None:
    """The common cases in one statement each: secret known (cached), code current, booking
    and leg confirmed, leg not entered (accept) or already entered (AlreadyUsed: the statement
    saw booking and leg confirmed, so no refusal of an earlier order applies). None when
    anything else may be true: the full path decides, so refusals keep the module's order."""
    cfg = st.cfg
    try:
        legs, step = check_ticket(
            scanned, token, stops, now, booking_cancelled=False, cancelled_legs=(),
            secret_of=lambda i: leg_secret(secret, i), step_s=cfg.totp_step_s,
            skew=cfg.totp_skew_steps, digits=cfg.totp_digits)
    except CodeExpired:
        return None               # cancelled would come first: let the full path look
    for leg in legs:
        try:
            tap = await store.record_tap(conn, booking=token.booking, leg=leg.index, gate=p.gate_id,
                                         station=p.station, method="qr", step=step, now=now,
                                         require_confirmed=True)
        except AlreadyUsed:
            continue
        return (leg.index, step) if tap is not None else None
    # every leg the code opens was confirmed and entered when we tried it: what the full path
    # (which tries the same legs in the same order) would answer
    raise AlreadyUsed("ticket already used for this leg", leg=legs[0].index)


async def _validate_qr(request: web.Request, st: CheckinState, p: Principal, qr: str,
                       now: datetime) -> Decision:
    token = None
    cfg = st.cfg
    db = request.app[DB]
    try:
        scanned = parse_qr(qr)
        keys = st.keys.cached_verification_keys(want=scanned.token.key_id)
        if keys is None:
            async with db.acquire() as conn:
                keys = await st.keys.verification_keys(conn, want=scanned.token.key_id)
        token = st.verified.verify(scanned, keys)
        stops = _stops(request, p.station or "")
        candidate_legs(token, stops, now)              # station/time refusals need no DB
        st.warm(request.app, stops, now)
        secret = st.secrets.get(token.booking)
        async with db.acquire() as conn:
            done = secret and await _fast_accept(conn, st, p, stops, scanned, token, secret, now)
            if done:
                leg, step = done
            else:
                state = await store.ticket_state(conn, token.booking, st.data_keys, st.secrets)
                # no stored secret (should not happen): a fresh one never matches
                booking_secret = state.secret if state and state.secret else new_secret()
                legs, step = check_ticket(
                    scanned, token, stops, now,
                    booking_cancelled=state is None or state.status != "confirmed",
                    cancelled_legs=state.cancelled_legs if state else (),
                    secret_of=lambda i: leg_secret(booking_secret, i),
                    step_s=cfg.totp_step_s, skew=cfg.totp_skew_steps, digits=cfg.totp_digits)
                leg = await _record(conn, st, p, token.booking, [x.index for x in legs], "qr", step, now)
    except Rejection as err:
        return Decision.reject(err, token)
    return Decision("accept", ACCEPT, token.booking, leg, token.passenger_count, step)


async def _gallery(conn, st: CheckinState, stops: tuple[str, ...], now: datetime,  # type: ignore[no-untyped-def]
                   reload: bool = False) -> tuple[float, list[face_store.FaceCandidate], np.ndarray]:
    """The station's face gallery, unsealed, kept `face_gallery_cache_s` per worker (loading and
    unsealing 1,000 templates per request would dominate). Rows carry their windows, so the
    caller filters by the exact time; a withdrawn face still never admits (record_tap checks
    the stored template in the same statement as the tap)."""
    cfg = st.cfg
    t = monotonic()
    got = st.galleries.get(stops)
    if reload or got is None or t - got[0] > cfg.face_gallery_cache_s:
        cands = await face_store.face_candidates(conn, stops, now, cfg, st.data_keys,
                                            horizon_s=cfg.face_gallery_cache_s)
        matrix = (np.vstack([from_bytes(c.template) for c in cands]) if cands
                  else np.zeros((0, cfg.face_dimension), dtype=np.float32))
        got = (t, cands, matrix)
        if len(st.galleries) > 1000:
            st.galleries.clear()
        st.galleries[stops] = got
    return got


def _match_now(cands: list[face_store.FaceCandidate], matrix: np.ndarray, probe: np.ndarray,
               now: datetime, cfg) -> str:  # type: ignore[no-untyped-def]
    rows: dict[str, int] = {}
    for i, c in enumerate(cands):
        if c.valid_from <= now <= c.valid_until:
            rows.setdefault(c.account_id, i)
    gallery = Gallery(tuple(rows), matrix[list(rows.values())] if rows else matrix[:0])
    return match(gallery, probe, cfg.face_threshold)[0]


async def _validate_face(request: web.Request, st: CheckinState, p: Principal,
                         face: list[float], now: datetime) -> Decision:
    cfg = st.cfg
    booking = None
    pax = None
    try:
        try:
            probe = normalise(face, cfg.face_dimension)
        except InvalidTemplate:
            raise Malformed("face template of the wrong form") from None
        stops = _stops(request, p.station or "")
        async with request.app[DB].acquire() as conn:
            loaded_at, cands, matrix = await _gallery(conn, st, stops, now)
            try:
                account = _match_now(cands, matrix, probe, now, cfg)
            except NoFaceMatch:
                if monotonic() - loaded_at < 1.0:
                    raise
                # enrolled or booked since the gallery was loaded? look once more
                _, cands, matrix = await _gallery(conn, st, stops, now, reload=True)
                account = _match_now(cands, matrix, probe, now, cfg)
            mine = [c for c in cands if c.account_id == account and c.valid_from <= now <= c.valid_until]
            # one booking at a time: the earliest one admitting here now
            booking, pax = mine[0].booking_id, mine[0].passengers
            leg = None
            for c in mine:
                if c.booking_id != booking:
                    continue
                try:
                    tap = await store.record_tap(conn, booking=booking, leg=c.leg_no, gate=p.gate_id,
                                                 station=p.station, method="face", step=None, now=now,
                                                 require_face=True)
                except AlreadyUsed:
                    continue
                if tap is None:       # face withdrawn, consent narrowed or booking cancelled
                    st.galleries.pop(stops, None)
                    booking, pax = None, None
                    raise NoFaceMatch("no enrolled face matches")
                leg = c.leg_no
                break
            if leg is None:
                raise AlreadyUsed("ticket already used for this leg", leg=mine[0].leg_no)
    except Rejection as err:
        return Decision("reject", err.code, booking, err.extra.get("leg"), pax)
    return Decision("accept", ACCEPT, booking, leg, pax)


@router.post("/v1/gates/{gate}/validate", summary="Admit or refuse a ticket (QR or face)",
             auth=("gate",), body=ValidateRequest, response=Validation,
             errors={403: "not this gate's key", 422: "send exactly one of qr or face"},
             description="Always 200 with result accept|reject and a stable reason code.")
async def validate(request: web.Request, body: ValidateRequest) -> Validation:
    p = _gate(request)
    st = checkin_state(request.app)
    now = request.app[CLOCK].now()
    if body.qr is not None:
        d = await _validate_qr(request, st, p, body.qr, now)
    else:
        assert body.face is not None
        d = await _validate_face(request, st, p, body.face, now)
    # the decision goes on the request's access line (refusals are the security signal:
    # forgeries, replays; accepts are also rows in gate_taps)
    annotate(request, gate=p.gate_id, result=d.result, code=d.code, booking=d.booking, leg=d.leg)
    return Validation(result=d.result, code=d.code, booking=d.booking, leg=d.leg,  # type: ignore[arg-type]
                      passengers=d.passengers)


# --- offline manifest ---------------------------------------------------------------------


class ManifestQuery(BaseModel):
    date: Date | None = Field(None, description="the day (YYYY-MM-DD); default: today (UTC)")


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
    st = checkin_state(request.app)
    cfg = st.cfg
    now = request.app[CLOCK].now()
    day = query.date or now.date()
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    lo = start - timedelta(seconds=cfg.manifest_before_s)
    hi = start + timedelta(days=1, seconds=cfg.manifest_after_s)
    async with request.app[DB].acquire() as conn:
        stops = _stops(request, p.station or "")
        entries, revoked = await store.manifest_content(conn, stops, lo, hi, cfg, st.data_keys, now)
        keys = await st.keys.verification_keys(conn)
        signer = await st.keys.signer(conn)
    keys = {**keys, signer.key_id: signer.private.public_key()}
    m = Manifest(gate=p.gate_id or "", station=p.station or "", date=day, issued_at=now,
                 covers_from=lo, covers_until=hi, totp_step_s=cfg.totp_step_s,
                 totp_skew_steps=cfg.totp_skew_steps, totp_digits=cfg.totp_digits,
                 keys={k: public_bytes(v) for k, v in keys.items()}, entries=entries, revoked=revoked,
                 stops=stops)
    bearer = request.headers["Authorization"].partition(" ")[2].strip()
    env = seal_manifest(m, signer, gate_key(bearer, m.gate))
    log.info("manifest issued", extra={"gate": m.gate, "entries": len(entries), "revoked": len(revoked)})
    return web.json_response(env, headers={"Cache-Control": "no-store"})


# --- offline taps and conflicts -----------------------------------------------------------


class TapIn(BaseModel):
    tap_id: str = Field(min_length=8, max_length=64, description="the gate's unique id for the tap (uuid)")
    booking: str = Field(max_length=128)
    leg: int = Field(ge=0, le=INT32_MAX)
    at: AwareDatetime = Field(description="when the gate admitted (with offset)")
    step: int | None = Field(None, ge=0, le=INT32_MAX, description="TOTP step of the accepted code")


class TapsUpload(BaseModel):
    taps: list[TapIn] = Field(max_length=10_000)


class TapOutcome(BaseModel):
    tap_id: str
    outcome: Literal["recorded", "conflict", "duplicate", "unknown_leg", "wrong_station"] = Field(
        description="recorded: the leg's entry; conflict: the leg was entered elsewhere too (first "
        "tap wins); duplicate: this tap id was uploaded before; unknown_leg: no such booking leg; "
        "wrong_station: the leg does not board at this gate's station (not stored)")


class TapsResult(BaseModel):
    recorded: int
    conflicts: int
    duplicates: int
    unknown: int = Field(description="unknown_leg + wrong_station")
    taps: list[TapOutcome]


@router.post("/v1/gates/{gate}/taps", summary="Upload taps made offline (idempotent by tap id)",
             auth=("gate",), body=TapsUpload, response=TapsResult)
async def upload_taps(request: web.Request, body: TapsUpload) -> TapsResult:
    p = _gate(request)
    taps = [store.UploadedTap(t.tap_id, t.booking, t.leg, t.at.astimezone(timezone.utc), t.step)
            for t in sorted(body.taps, key=lambda t: t.at)]
    out = await store.upload_taps(request.app[DB], p.gate_id or "", p.station or "", taps,
                                  request.app[CLOCK].now(), stops=_stops(request, p.station or ""))
    count = {k: sum(1 for _, o in out if o == k)
             for k in ("recorded", "conflict", "duplicate", "unknown_leg", "wrong_station")}
    if count["conflict"]:
        log.warning("offline double use detected", extra={"gate": p.gate_id, "conflicts": count["conflict"]})
    return TapsResult(recorded=count["recorded"], conflicts=count["conflict"],
                      duplicates=count["duplicate"], unknown=count["unknown_leg"] + count["wrong_station"],
                      taps=[TapOutcome(tap_id=i, outcome=o) for i, o in out])  # type: ignore[arg-type]


class ConflictsQuery(BaseModel):
    limit: int = Field(100, ge=1, le=1000)


class TapRef(BaseModel):
    tap_id: str
    gate: str
    at: datetime


class TapConflict(BaseModel):
    booking: str
    leg: int
    operator: str = Field(description='the leg\'s operator "feed:agency_id"')
    winner: TapRef = Field(description="the first tap: it stands")
    loser: TapRef = Field(description="the later tap of the same ticket at another gate")
    detected_at: datetime


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
    rows = await store.list_conflicts(request.app[DB], operator, query.limit)
    return Conflicts(conflicts=[TapConflict(
        booking=r["booking_id"], leg=r["leg_no"], operator=r["agency_id"],
        winner=TapRef(tap_id=r["winner_tap_id"], gate=r["winner_gate"], at=r["winner_at"]),
        loser=TapRef(tap_id=r["loser_tap_id"], gate=r["loser_gate"], at=r["loser_at"]),
        detected_at=r["detected_at"]) for r in rows])
