"""Check-in use cases: what the gate and journey-token HTTP handlers call.

Glue between the pure core (tokens, totp, gate decisions, faces, manifest) and the stores
(checkin_store.py, face_store.py); no HTTP here. `Checkin` also holds the
per-process caches these use cases live on: verification and signing keys, unsealed TOTP
secrets, signed static token parts, the stop ids a gate admits to, and face galleries.

Where a gate decision is made: `Checkin.validate_qr` / `validate_face` online (one order of
checks, `gate.check_ticket`), `gate.GateValidator` offline.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime, time as Time, timedelta, timezone, tzinfo
from typing import Any, Callable, Iterable, Protocol, Sequence
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np

from routing.network import Network
from ticketing import checkin_store as store
from ticketing import face_store
from ticketing import idcard_store
from ticketing.batcher import Batcher
from ticketing.checkin_config import CheckinConfig
from ticketing.checkin_errors import (AlreadyUsed, BookingNotConfirmed, Cancelled, CodeExpired,
                                      ConsentRequired, InvalidTemplate, Malformed, NoFaceMatch,
                                      Rejection, Replaced, TooManyUnknownIds, UnknownId)
from ticketing.faces import Gallery, from_bytes, match, normalise, to_bytes
from ticketing.gate import (ACCEPT, Decision, ProofRefused, candidate_legs, check_tap_proof,
                            check_ticket, replaced_error)
from ticketing.idcards import IdLeg, blind_indexes, canonical_id, choose_leg
from ticketing.keyring import DataKeyring, public_bytes
from ticketing.keyring_store import KeyCache
from ticketing.manifest import Manifest, gate_key, seal_manifest
from ticketing.tokens import (ParsedTickets, Scanned, SignedTicket, TicketToken, TokenLeg,
                              VerifiedTickets, parse_qr, sign_static, signed_ticket)
from ticketing.totp import leg_codes, leg_secret, new_secret, seconds_to_next_step, step_of

__all__ = ["Checkin", "CurrentQr", "ProbeLimiter", "station_stops", "TICKET_CACHE"]

log = logging.getLogger(__name__)
TICKET_CACHE = 10_000   # signed static parts kept per worker (~1.5 kB each; cleared when full)
PARSED_CACHE = 2_048    # scanned signed parts kept taken apart per worker (~2.3 kB each for 3 legs)
Candidates = list[face_store.FaceCandidate]


def station_stops(net: Network, station: str) -> tuple[str, ...]:
    """The stop ids a gate at `station` admits to: the station and, when the network knows
    it as a parent station, its platforms (and their boarding areas)."""
    found = np.flatnonzero(net.stop_id == station) if len(net.stop_id) else np.array([], int)
    members = set(int(i) for i in found)
    frontier = set(members)
    while frontier:
        kids = np.flatnonzero(np.isin(net.stop_parent, list(frontier)))
        frontier = {int(k) for k in kids} - members
        members |= frontier
    return (station, *sorted(str(net.stop_id[i]) for i in members if net.stop_id[i] != station))


class ProbeLimiter(Protocol):
    """Counts, per gate key, ID cards that found no ticket at the gate (maas/idprobes.py, on
    Redis). `window_s`: the counting window."""

    window_s: int

    async def blocked_until(self, who: str, now: datetime) -> datetime | None: ...

    async def miss(self, who: str, now: datetime) -> tuple[int, datetime] | None:
        """Count one miss; (misses, blocked until) when this one crossed the limit."""


MISSES = ("unknown_id", "wrong_station")   # an ID card without a ticket at this gate


@dataclass(frozen=True)
class CurrentQr:
    qr: str             # the QR payload: signed static part + the legs' current codes
    refresh_in_s: float  # seconds until the rotating code changes
    step_s: int


class Checkin:
    """The check-in use cases over one pool, one config, the data keys and one clock, with the
    per-process caches they need (one instance per worker)."""

    def __init__(self, pool: asyncpg.Pool, config: CheckinConfig, data_keys: DataKeyring,
                 keys: KeyCache, now: Callable[[], datetime], warm_every_s: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.pool, self.cfg, self.data_keys, self.keys, self.now = pool, config, data_keys, keys, now
        self.secrets = store.SecretCache()
        self.warm_every_s = warm_every_s
        self._mono = monotonic
        self.gate_stops: dict[tuple[int, str], tuple[str, ...]] = {}
        # stops -> (loaded at (monotonic), candidates, their templates as one matrix)
        self.galleries: dict[tuple[str, ...], tuple[float, Candidates, np.ndarray]] = {}
        self.tickets: dict[tuple[Any, ...], SignedTicket] = {}    # see current_qr
        self.verified = VerifiedTickets()                          # signed parts known good
        self.parsed = ParsedTickets(PARSED_CACHE)                  # signed parts taken apart
        self._warmed: dict[tuple[str, ...], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # the fast path's accepts: one statement per batch of concurrent requests (group commit)
        self.taps: Batcher[store.QrTap, bool] = Batcher(
            self._record_taps, self._record_tap, key=lambda t: t.booking,
            order=lambda t: (t.booking, t.leg))
        # the token's read (and a first token's secret): the same, one statement per batch
        self.sources: Batcher[store.TokenAsk, store.TokenSource | None] = Batcher(
            self._token_sources, self._token_source, key=lambda a: a.booking,
            order=lambda a: a.booking)

    async def _record_taps(self, taps: Sequence[store.QrTap]) -> list[bool | BaseException]:
        async with self.pool.acquire() as conn:
            if len(taps) > 1:
                return await store.record_taps(conn, taps)
            try:                   # alone: the one-accept statement (migration 0851)
                return [await store.record_qr_tap(conn, taps[0])]
            except (AlreadyUsed, CodeExpired) as refused:
                return [refused]

    async def _record_tap(self, tap: store.QrTap) -> bool:
        async with self.pool.acquire() as conn:
            return await store.record_qr_tap(conn, tap)

    async def _token_sources(self, asks: Sequence[store.TokenAsk]) -> list[store.TokenSource | None]:
        async with self.pool.acquire() as conn:
            if len(asks) > 1:
                return await store.token_sources(conn, asks)
            return [await store.token_source(conn, asks[0].booking, asks[0].account, asks[0].new)]

    async def _token_source(self, ask: store.TokenAsk) -> store.TokenSource | None:
        async with self.pool.acquire() as conn:
            return await store.token_source(conn, ask.booking, ask.account, ask.new)

    # --- the gate's stops and the secret cache ------------------------------------------------

    def stops(self, generation: int, net: Network, station: str) -> tuple[str, ...]:
        """`station_stops`, cached per network generation (a swap gives a new generation)."""
        key = (generation, station)
        got = self.gate_stops.get(key)
        if got is None:
            got = station_stops(net, station)
            if len(self.gate_stops) > 10_000:
                self.gate_stops.clear()
            self.gate_stops[key] = got
        return got

    def warm(self, stops: tuple[str, ...], now: datetime) -> None:
        """Load, in the background, the secrets of bookings boarding at `stops` now (at most
        once a minute per station), so most accepts there take one statement."""
        t = self._mono()
        if t - self._warmed.get(stops, float("-inf")) < self.warm_every_s:
            return
        self._warmed[stops] = t
        task = asyncio.create_task(self._warm(stops, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _warm(self, stops: tuple[str, ...], now: datetime) -> None:
        try:
            async with self.pool.acquire() as conn:
                await store.station_secrets(conn, stops, now, self.cfg, self.data_keys, self.secrets)
        except Exception:  # noqa: BLE001 — only an optimisation; the full path still works
            log.warning("could not warm the secret cache", exc_info=True)

    def close(self) -> None:
        """Cancel background warming (at shutdown); log the accepts' batch sizes."""
        self.taps.log_sizes(log, "gate accept batches")
        self.sources.log_sizes(log, "token read batches")
        for t in list(self._tasks):
            t.cancel()

    # --- validate: QR ---------------------------------------------------------------------

    async def validate_qr(self, gate: str, station: str, stops: tuple[str, ...], qr: str) -> Decision:
        """Admit or refuse a scanned QR at `gate` (of `station`, admitting to `stops`)."""
        now = self.now()
        token = None
        try:
            scanned = self.parsed.parse(qr)
            keys = self.keys.cached_verification_keys(want=scanned.token.key_id)
            if keys is None:
                keys = await self.keys.verification_keys_from(self.pool, want=scanned.token.key_id)
            token = self.verified.verify(scanned, keys, self.keys.own_key())
            candidate_legs(token, stops, now)              # station/time refusals need no DB
            self.warm(stops, now)
            secret = self.secrets.get(token.booking)
            done = secret and await self._fast_accept(gate, station, stops, scanned, token,
                                                      secret, now)
            if done:
                leg, step = done
            else:
                async with self.pool.acquire() as conn:
                    leg, step = await self._full_path(conn, gate, station, stops, scanned, token, now)
        except Rejection as err:
            return Decision.reject(err, token)
        return Decision("accept", ACCEPT, token.booking, leg, token.passenger_count, step)

    async def _full_path(self, conn: Any, gate: str, station: str, stops: tuple[str, ...],
                         scanned: Scanned, token: TicketToken, now: datetime) -> tuple[int, int]:
        cfg = self.cfg
        state = await store.ticket_state(conn, token.booking, self.data_keys, self.secrets)
        # no stored secret (should not happen): a fresh one never matches
        booking_secret = state.secret if state and state.secret else new_secret()
        legs, step = check_ticket(
            scanned, token, stops, now,
            booking_cancelled=state is None or state.status != "confirmed",
            cancelled_legs=state.cancelled_legs if state else (),
            secret_of=lambda i: leg_secret(booking_secret, i),
            step_s=cfg.totp_step_s, skew=cfg.totp_skew_steps, digits=cfg.totp_digits,
            replaced=state.replaced if state else None)
        leg = await self._record(conn, gate, station, token.booking, [x.index for x in legs],
                                 "qr", step, now)
        return leg, step

    async def _record(self, conn: Any, gate: str, station: str, booking: str, legs: list[int],
                      method: str, step: int | None, now: datetime) -> int:
        """Enter the first leg not entered yet; AlreadyUsed if every one was."""
        for leg in legs:
            try:
                tap = await store.record_tap(conn, booking=booking, leg=leg, gate=gate,
                                             station=station, method=method, step=step, now=now,
                                             require_confirmed=True)
            except AlreadyUsed:
                continue
            if tap is None:           # cancelled since we looked
                raise Cancelled("booking cancelled", leg=leg)
            return leg
        raise AlreadyUsed("ticket already used for this leg", leg=legs[0])

    async def _fast_accept(self, gate: str, station: str, stops: tuple[str, ...],
                           scanned: Scanned, token: TicketToken, secret: bytes, now: datetime
                           ) -> tuple[int, int] | None:
        """The common cases in one statement each (shared with the worker's concurrent accepts:
        `self.taps`, one statement per batch): secret known (cached), code current, booking
        and leg confirmed, leg not entered (accept) or already entered (AlreadyUsed: the statement
        saw booking and leg confirmed, so no refusal of an earlier order applies). None when
        anything else may be true: the full path decides, so refusals keep the module's order."""
        cfg = self.cfg
        try:
            legs, step = check_ticket(
                scanned, token, stops, now, booking_cancelled=False, cancelled_legs=(),
                secret_of=lambda i: leg_secret(secret, i), step_s=cfg.totp_step_s,
                skew=cfg.totp_skew_steps, digits=cfg.totp_digits)
        except CodeExpired:
            return None               # cancelled would come first: let the full path look
        for leg in legs:
            try:
                entered = await self.taps.submit(store.QrTap(token.booking, leg.index, gate,
                                                             station, step, now))
            except AlreadyUsed:
                continue
            return (leg.index, step) if entered else None
        # every leg the code opens was confirmed and entered when we tried it: what the full path
        # (which tries the same legs in the same order) would answer
        raise AlreadyUsed("ticket already used for this leg", leg=legs[0].index)

    # --- validate: ID card ----------------------------------------------------------------

    async def validate_id(self, gate: str, station: str, stops: tuple[str, ...], id_type: str,
                          number: str, limiter: ProbeLimiter | None = None, who: str = "") -> Decision:
        """Admit or refuse the holder of an ID card at `gate`: one passenger, on the booking
        valid here now and not yet used by them (ticketing.idcards.choose_leg). A gate key
        (`who`) over the limiter's limit of misses gets TooManyUnknownIds (429)."""
        now = self.now()
        if limiter is not None:
            until = await limiter.blocked_until(who, now)
            if until is not None and until > now:
                raise TooManyUnknownIds(
                    "this gate key tried too many ID cards without a ticket here; slowed down",
                    retry_after_s=max(1, math.ceil((until - now).total_seconds())))
        try:
            canonical = canonical_id(id_type, number)
            indexes = blind_indexes(self.data_keys.keys, canonical)
            async with self.pool.acquire() as conn:
                chosen = await self._admit_holder(conn, gate, station, stops, indexes, now)
        except Rejection as err:
            if limiter is not None and err.code in MISSES:
                await self._miss(limiter, who, gate, station, now)
            booking = err.extra.get("booking")
            return Decision.reject(err, booking=booking, passengers=1 if booking else None)
        return Decision("accept", ACCEPT, chosen.booking, chosen.leg, 1, None, chosen.passenger)

    async def _admit_holder(self, conn: Any, gate: str, station: str, stops: tuple[str, ...],
                            indexes: list[bytes], now: datetime) -> IdLeg:
        for _ in range(3):   # a tap lost to a race: look again (the state changed)
            rows = await idcard_store.holder_legs(conn, indexes, now, self.cfg)
            if not rows:
                raise UnknownId("no ticket for this ID")
            chosen = choose_leg([IdLeg(r.booking, r.passenger, r.leg, r.board,
                                       *self.cfg.window(r.mode, r.departure, r.arrival),
                                       r.cancelled, r.used, r.replaced_by) for r in rows], stops, now)
            tap = await idcard_store.record_passenger_tap(
                conn, booking=chosen.booking, leg=chosen.leg, passenger=chosen.passenger,
                gate=gate, station=station, now=now)
            if tap is not None:
                return chosen
        raise AlreadyUsed("ticket already used for this leg", leg=chosen.leg, booking=chosen.booking)

    async def _miss(self, limiter: ProbeLimiter, who: str, gate: str, station: str,
                    now: datetime) -> None:
        tripped = await limiter.miss(who, now)
        if tripped is None:
            return
        misses, until = tripped
        log.warning("gate key slowed down: many ID cards without a ticket here",
                    extra={"gate": gate, "station": station, "caller": who, "misses": misses})
        await idcard_store.add_probe_alert(self.pool, who, gate, station, misses,
                                           limiter.window_s, until, now)

    async def probe_alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        return await idcard_store.list_probe_alerts(self.pool, limit)

    # --- validate: face -------------------------------------------------------------------

    async def _gallery(self, conn: Any, stops: tuple[str, ...], now: datetime,
                       reload: bool = False) -> tuple[float, Candidates, np.ndarray]:
        """The station's face gallery, unsealed, kept `face_gallery_cache_s` per worker (loading and
        unsealing 1,000 templates per request would dominate). Rows carry their windows, so the
        caller filters by the exact time; a withdrawn face still never admits (record_tap checks
        the stored template in the same statement as the tap)."""
        cfg = self.cfg
        t = self._mono()
        got = self.galleries.get(stops)
        if reload or got is None or t - got[0] > cfg.face_gallery_cache_s:
            cands = await face_store.face_candidates(conn, stops, now, cfg, self.data_keys,
                                                     horizon_s=cfg.face_gallery_cache_s)
            matrix = (np.vstack([from_bytes(c.template) for c in cands]) if cands
                      else np.zeros((0, cfg.face_dimension), dtype=np.float32))
            got = (t, cands, matrix)
            if len(self.galleries) > 1000:
                self.galleries.clear()
            self.galleries[stops] = got
        return got

    def _match_now(self, cands: Candidates, matrix: np.ndarray, probe: np.ndarray,
                   now: datetime) -> str:
        rows: dict[str, int] = {}
        for i, c in enumerate(cands):
            if c.valid_from <= now <= c.valid_until:
                rows.setdefault(c.account_id, i)
        gallery = Gallery(tuple(rows), matrix[list(rows.values())] if rows else matrix[:0])
        return match(gallery, probe, self.cfg.face_threshold)[0]

    async def validate_face(self, gate: str, station: str, stops: tuple[str, ...],
                            face: Sequence[float]) -> Decision:
        """Admit or refuse a probe face template at `gate` (of `station`, admitting to `stops`)."""
        now = self.now()
        try:
            try:
                probe = normalise(face, self.cfg.face_dimension)
            except InvalidTemplate:
                raise Malformed("face template of the wrong form") from None
            async with self.pool.acquire() as conn:
                loaded_at, cands, matrix = await self._gallery(conn, stops, now)
                try:
                    account = self._match_now(cands, matrix, probe, now)
                except NoFaceMatch:
                    if self._mono() - loaded_at < 1.0:
                        raise
                    # enrolled or booked since the gallery was loaded? look once more
                    _, cands, matrix = await self._gallery(conn, stops, now, reload=True)
                    account = self._match_now(cands, matrix, probe, now)
                try:
                    booking, pax, leg = await self._enter_first_unused(
                        conn, gate, station, stops, self._mine(cands, account, now), now)
                except (NoFaceMatch, Replaced):
                    # the gallery may predate a change (a leg exchanged or cancelled, a face
                    # withdrawn; the leg that replaced one may admit here now): look once more
                    # (rare: the match held, but nothing could be entered)
                    _, cands, _ = await self._gallery(conn, stops, now, reload=True)
                    booking, pax, leg = await self._enter_first_unused(
                        conn, gate, station, stops, self._mine(cands, account, now), now)
        except Rejection as err:
            return Decision("reject", err.code, err.extra.get("booking"), err.extra.get("leg"),
                            err.extra.get("passengers"), replaced_by=err.extra.get("replaced_by"))
        return Decision("accept", ACCEPT, booking, leg, pax)

    @staticmethod
    def _mine(cands: Candidates, account: str, now: datetime) -> Candidates:
        return [c for c in cands if c.account_id == account and c.valid_from <= now <= c.valid_until]

    async def _enter_first_unused(self, conn: Any, gate: str, station: str, stops: tuple[str, ...],
                                  mine: Candidates, now: datetime) -> tuple[str, int, int]:
        """Enter the first leg, of any of the passenger's bookings valid here now (earliest
        first), not entered yet: one holding several bookings through this gate boards on the
        unused one. AlreadyUsed when every one was entered; Replaced when the only legs here
        were exchanged or rebooked (naming the replacement); NoFaceMatch when none may be
        entered by face (withdrawn, consent narrowed, cancelled)."""
        used = None
        gone = next((c for c in mine if c.replaced), None)
        for c in mine:
            if c.replaced:
                continue
            try:
                tap = await store.record_tap(conn, booking=c.booking_id, leg=c.leg_no, gate=gate,
                                             station=station, method="face", step=None, now=now,
                                             require_face=True)
            except AlreadyUsed:
                used = used or c
                continue
            if tap is not None:
                return c.booking_id, c.passengers, c.leg_no
        if used is not None:
            raise AlreadyUsed("ticket already used for this leg", leg=used.leg_no,
                              booking=used.booking_id, passengers=used.passengers)
        if gone is not None:
            by = (await store.replacements(conn, [gone.booking_id])).get(gone.booking_id, {})
            if gone.leg_no in by:
                raise replaced_error(gone.leg_no, by[gone.leg_no], booking=gone.booking_id,
                                     passengers=gone.passengers)
        self.galleries.pop(stops, None)   # face withdrawn, consent narrowed or cancelled
        raise NoFaceMatch("no enrolled face matches")

    # --- the offline manifest, offline taps and conflicts ---------------------------------

    async def manifest(self, gate: str, station: str, stops: tuple[str, ...], day: date | None,
                       bearer: str, stop_zone: Callable[[str], tzinfo] | None = None,
                       tz: str = "UTC") -> dict[str, Any]:
        """The gate's signed manifest for `day` (default: today) in `tz` (the station's time
        zone), sealed under a key derived from the gate's bearer key. `stop_zone(stop)`: the
        time zone a replacing leg's departure is shown in (its boarding stop's; default UTC)."""
        cfg = self.cfg
        now = self.now()
        here = ZoneInfo(tz)
        day = day or now.astimezone(here).date()
        start = datetime.combine(day, Time(0), tzinfo=here)
        lo = start - timedelta(seconds=cfg.manifest_before_s)
        hi = start + timedelta(days=1, seconds=cfg.manifest_after_s)
        async with self.pool.acquire() as conn:
            entries, revoked, replaced = await store.manifest_content(conn, stops, lo, hi, cfg,
                                                                      self.data_keys, now)
            id_key = os.urandom(32)
            ids = await idcard_store.manifest_ids(conn, stops, lo, hi, cfg, self.data_keys, id_key)
            keys = await self.keys.verification_keys(conn)
            signer = await self.keys.signer(conn)
        keys = {**keys, signer.key_id: signer.private.public_key()}
        m = Manifest(gate=gate, station=station, date=day, issued_at=now,
                     covers_from=lo, covers_until=hi, totp_step_s=cfg.totp_step_s,
                     totp_skew_steps=cfg.totp_skew_steps, totp_digits=cfg.totp_digits,
                     keys={k: public_bytes(v) for k, v in keys.items()}, entries=entries,
                     revoked=revoked, stops=stops, id_key=id_key, ids=tuple(ids), tz=tz,
                     replaced={b: {n: replace(r, departure=r.departure.astimezone(
                                   stop_zone(r.station) if stop_zone else timezone.utc))
                                   for n, r in legs.items()} for b, legs in replaced.items()})
        env = seal_manifest(m, signer, gate_key(bearer, m.gate))
        log.info("manifest issued", extra={"gate": m.gate, "entries": len(entries),
                                           "revoked": len(revoked)})
        return env

    async def upload_taps(self, gate: str, station: str, stops: tuple[str, ...],
                          taps: Iterable[store.UploadedTap]) -> list[tuple[str, str]]:
        """(tap id, outcome) per tap made offline, in time order (see checkin_store.upload_taps;
        an ID-card tap, which names its passenger, idcard_store.upload_passenger_tap)."""
        now = self.now()
        out = []
        party = []
        for t in sorted(taps, key=lambda t: t.at):
            try:
                t = await self._proven(t, stops, now)
            except ProofRefused as refused:   # nothing is stored: the gate cannot show the scan
                out.append((t.tap_id, refused.outcome))
                continue
            if t.passenger is None:
                party.append(t)
            else:
                out.append((t.tap_id, await idcard_store.upload_passenger_tap(
                    self.pool, gate, station, t.tap_id, t.booking, t.leg, t.passenger, t.at, now,
                    stops)))
        out += await store.upload_taps(self.pool, gate, station, party, now, stops=stops)
        conflicts = sum(1 for _, o in out if o == "conflict")
        if conflicts:
            log.warning("offline double use detected", extra={"gate": gate, "conflicts": conflicts})
        return out

    async def _proven(self, t: store.UploadedTap, stops: tuple[str, ...],
                      now: datetime) -> store.UploadedTap:
        """The tap, with the step its QR matched, if its proof holds as the scan would have
        online at the tap's time; else ProofRefused (proof_required, invalid_proof,
        outside_validity, wrong_station)."""
        if t.passenger is not None:
            await self._id_card_proven(t, stops, now)
            return t
        if t.qr is None:
            raise ProofRefused("proof_required", "an offline tap carries the QR payload it scanned")
        cfg = self.cfg
        try:
            scanned = parse_qr(t.qr)
            async with self.pool.acquire() as conn:
                keys = await self.keys.verification_keys(conn, want=scanned.token.key_id)
                token = self.verified.verify(scanned, keys)
                state = await store.ticket_state(conn, t.booking, self.data_keys, self.secrets)
        except Rejection as err:   # malformed, unknown_key, bad_signature
            raise ProofRefused("invalid_proof", f"the scanned QR is not a ticket of ours ({err.code})") from None
        if state is None or state.secret is None:
            raise ProofRefused("invalid_proof", "no such booking with tickets")
        secret = state.secret
        step = check_tap_proof(scanned, token, booking=t.booking, leg=t.leg, step=t.step, at=t.at,
                               now=now, stops=stops, secret_of=lambda i: leg_secret(secret, i),
                               step_s=cfg.totp_step_s, skew=cfg.totp_skew_steps, digits=cfg.totp_digits)
        return replace(t, step=step)

    async def _id_card_proven(self, t: store.UploadedTap, stops: tuple[str, ...],
                              now: datetime) -> None:
        """An ID-card tap's proof: the card read names this passenger of this booking, and the
        leg boards here and admits at the tap's time (the number is checked, never stored)."""
        if t.id_card is None:
            raise ProofRefused("proof_required", "an offline ID-card tap carries the card it read")
        try:
            indexes = blind_indexes(self.data_keys.keys, canonical_id(*t.id_card))
        except Rejection:
            raise ProofRefused("invalid_proof", "the ID card read is malformed") from None
        async with self.pool.acquire() as conn:
            rows = await idcard_store.holder_legs(conn, indexes, t.at, self.cfg)
        row = next((r for r in rows if (r.booking, r.passenger, r.leg) == (t.booking, t.passenger, t.leg)),
                   None)
        if row is None:
            raise ProofRefused("invalid_proof", "the ID card read is not this passenger's")
        if row.board not in stops:
            raise ProofRefused("wrong_station", "the leg does not board at this gate")
        lo, hi = self.cfg.window(row.mode, row.departure, row.arrival)
        if not lo <= t.at <= hi or t.at > now + timedelta(seconds=self.cfg.totp_step_s):
            raise ProofRefused("outside_validity", "the tap is outside the leg's validity")

    async def conflicts(self, operator: str, limit: int) -> list[dict[str, Any]]:
        return await store.list_conflicts(self.pool, operator, limit)

    # --- the journey token ----------------------------------------------------------------

    async def current_qr(self, account: str | None, booking_id: str) -> CurrentQr | None:
        """The QR payload of `account`'s confirmed booking now; None if there is no such
        booking of this account. The first call creates the booking's TOTP secret."""
        now = self.now()
        secret = self.secrets.get(booking_id)
        # not known to this worker: maybe the first token, so the read stores a secret if none
        new = store.new_sealed_secret(self.data_keys, booking_id, now) if secret is None else None
        src = await self.sources.submit(store.TokenAsk(booking_id, account, new))
        if src is None or src.account_id != account:
            return None
        if src.status != "confirmed" or not src.legs:
            raise BookingNotConfirmed(f"booking is {src.status}; tokens are for confirmed bookings",
                                      booking=booking_id, status=src.status)
        signer = self.keys.cached_signer()
        if new is not None and src.created:    # the first token of this booking
            secret, issued_at = new.secret, src.issued_at
            self.secrets.put(booking_id, secret)
        elif src.sealed_secret is None:         # a racing first token won, or cached without a row
            async with self.pool.acquire() as conn:
                secret, issued_at = await store.create_secret(conn, booking_id, self.data_keys, now)
                signer = signer or await self.keys.signer(conn)
            self.secrets.put(booking_id, secret)
        else:
            issued_at = src.issued_at
            secret = secret or self.secrets.unsealed(
                booking_id, self.data_keys, src.data_key_id, src.sealed_secret)
        if signer is None:
            signer = await self.keys.signer_from(self.pool)
        cfg = self.cfg
        # everything the signed part is made of is in the key, read just now: a cancelled leg or
        # a new signing key gives another key, never a stale ticket
        key = (signer.key_id, booking_id, issued_at, src.categories, src.legs)
        signed = self.tickets.get(key)
        if signed is None:
            token = TicketToken(
                key_id=signer.key_id, booking=booking_id, issued_at=issued_at,
                passengers=tuple(Counter(src.categories).items()),
                legs=tuple(TokenLeg(leg_no, board, alight, *cfg.window(mode, dep, arr))
                           for leg_no, board, alight, mode, dep, arr in src.legs),
            )
            signed = signed_ticket(sign_static(token, signer.private))
            if len(self.tickets) >= TICKET_CACHE:
                self.tickets.clear()
            self.tickets[key] = signed
            self.parsed.add(signed, token)   # a gate of this worker decodes only its codes
        public = self.keys.cached_key(signer.key_id)
        if public is not None:     # we signed it: a gate of this worker need not verify it again
            self.verified.add(signed.signed, public)
        codes = leg_codes(secret, [leg[0] for leg in src.legs], step_of(now, cfg.totp_step_s),
                          digits=cfg.totp_digits, step_s=cfg.totp_step_s)
        return CurrentQr(signed.qr(codes), seconds_to_next_step(now, cfg.totp_step_s), cfg.totp_step_s)

    # --- faces ----------------------------------------------------------------------------

    async def enrol_face(self, account: str, template: Sequence[float], consent: bool,
                         operators: list[str] | None) -> None:
        """Store `account`'s face template (consent required), sealed."""
        if consent is not True:
            raise ConsentRequired("face boarding needs explicit consent", field="consent")
        unit = normalise(template, self.cfg.face_dimension)
        await face_store.enrol_face(self.pool, account, to_bytes(unit), self.cfg.face_dimension,
                                    operators, self.data_keys, self.now())
        self.galleries.clear()   # this worker sees it at once; others within face_gallery_cache_s

    async def erase_face(self, account: str) -> bool:
        erased = await face_store.erase_face(self.pool, account)
        self.galleries.clear()   # other workers: never admits (see validate_face)
        return erased

    async def sweep_faces(self) -> int:
        """Erase templates `face_retention_s` after their holder's last journey ended."""
        return await face_store.sweep_faces(self.pool, self.now(), self.cfg.face_retention_s)

    async def reseal_all(self) -> int:
        """Re-seal TOTP secrets, face templates and signing keys under the active data key."""
        return await store.reseal_all(self.pool, self.data_keys)
