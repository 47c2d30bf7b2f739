"""Gate decisions: the checks shared by the online endpoint and the offline gate validator.

One order of checks, so online and offline give the same code for the same ticket:

    malformed -> unknown_key -> bad_signature          (the payload itself)
    wrong_station -> not_yet_valid / validity_over     (the signed legs against gate and clock)
    cancelled, replaced                                (revocations: a leg exchanged or
                                                        rebooked is `replaced`, naming the
                                                        leg that replaced it)
    code_expired                                       (rotating code not within now ± skew)
    already_used                                       (this leg was already entered)
    code_expired                                       (this code's step was already accepted —
                                                        a replay at another gate)

`GateValidator` runs all of it with only a manifest (no network) and keeps the taps to
upload later; the online endpoint runs `check_ticket` and records the tap in PostgreSQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Callable, Collection, Mapping, Protocol
from zoneinfo import ZoneInfo

from ticketing.checkin_errors import (AlreadyUsed, Cancelled, CodeExpired, NotInManifest,
                                      NotYetValid, Rejection, Replaced, ValidityOver, WrongStation)
from ticketing.idcards import IdLeg, canonical_id, choose_leg, manifest_index
from ticketing.keyring import load_public
from ticketing.manifest import Manifest, ReplacedBy
from ticketing.tokens import Scanned, TicketToken, TokenLeg, parse_qr, verify
from ticketing.totp import match_step

__all__ = ["ACCEPT", "Decision", "ReplacedBy", "replaced_error", "OfflineTap", "GateValidator", "candidate_legs",
           "check_ticket", "check_tap_proof", "ProofRefused", "Now"]

ACCEPT = "ok"   # the code of every accept


class Now(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class Decision:
    result: str                 # "accept" | "reject"
    code: str                   # ACCEPT or a rejection code
    booking: str | None = None
    leg: int | None = None
    passengers: int | None = None
    step: int | None = None     # the TOTP step an accept burned (internal, never rendered)
    passenger: int | None = None  # ID card: the passenger_no admitted (one person, not the party)
    replaced_by: ReplacedBy | None = None   # code replaced: the leg to board instead
    valid_from: datetime | None = None   # not_yet_valid: when the leg's window opens
    valid_until: datetime | None = None  # validity_over: when it closed

    @classmethod
    def reject(cls, err: Rejection, token: TicketToken | None = None, *,
               booking: str | None = None, passengers: int | None = None) -> "Decision":
        """The refusal `err`; booking and party from the verified `token` if there is one."""
        if token is not None:
            booking, passengers = token.booking, token.passenger_count
        return cls("reject", err.code, booking, err.extra.get("leg"), passengers,
                   replaced_by=err.extra.get("replaced_by"),
                   valid_from=_instant(err.extra.get("valid_from")),
                   valid_until=_instant(err.extra.get("valid_until")))

    def localised(self, tz: tzinfo) -> "Decision":
        """The same decision with its window's instants written in `tz` (the station's)."""
        if self.valid_from is None and self.valid_until is None:
            return self
        return replace(self, valid_from=self.valid_from and self.valid_from.astimezone(tz),
                       valid_until=self.valid_until and self.valid_until.astimezone(tz))


def _instant(iso: object) -> datetime | None:
    return datetime.fromisoformat(iso) if isinstance(iso, str) else None


def replaced_error(leg: int, by: ReplacedBy, **extra: object) -> Replaced:
    return Replaced(f"leg {leg} was replaced by leg {by.leg} ({by.trip_id})", leg=leg,
                    replaced_by=by, **extra)


def candidate_legs(token: TicketToken, station: str | Collection[str], now: datetime) -> list[TokenLeg]:
    """Legs of the ticket that board at `station` and admit at `now`, in ticket order.

    `station` is a stop id, or the set of stop ids a gate admits to (a station and its
    platforms)."""
    stops = (station,) if isinstance(station, str) else station
    here = [leg for leg in token.legs if leg.board in stops]
    if not here:
        raise WrongStation("no leg of this ticket boards here")
    valid = [leg for leg in here if leg.valid_from <= now <= leg.valid_until]
    if valid:
        return valid
    upcoming = [leg for leg in here if now < leg.valid_from]
    if upcoming:
        first = min(upcoming, key=lambda leg: leg.valid_from)
        raise NotYetValid("ticket not valid yet here", leg=first.index,
                          valid_from=first.valid_from.isoformat())
    last = max(here, key=lambda leg: leg.valid_until)
    raise ValidityOver("ticket no longer valid here", leg=last.index,
                       valid_until=last.valid_until.isoformat())


def check_ticket(scanned: Scanned, token: TicketToken, station: str | Collection[str],
                 now: datetime, *, booking_cancelled: bool, cancelled_legs: Collection[int],
                 secret_of: Callable[[int], bytes | None] | None, step_s: int, skew: int,
                 digits: int, replaced: Mapping[int, ReplacedBy] | None = None
                 ) -> tuple[list[TokenLeg], int]:
    """The legs this verified ticket may enter now and the TOTP step their codes matched.

    Raises the rejection that comes first in the module's order. `secret_of(leg)` gives a
    leg's code secret; `secret_of` None means the booking is not known here (offline: not in
    the manifest). `replaced`: the booking's legs (among `cancelled_legs`) that an exchange or
    a rebooking replaced, and by what; refused as `replaced` rather than `cancelled`."""
    legs = candidate_legs(token, station, now)
    if booking_cancelled:
        raise Cancelled("booking cancelled")
    live = [leg for leg in legs if leg.index not in cancelled_legs]
    if not live:
        gone = next((leg for leg in legs if replaced and leg.index in replaced), None)
        if gone is not None and replaced is not None:
            raise replaced_error(gone.index, replaced[gone.index])
        raise Cancelled("leg cancelled")
    legs = live
    if secret_of is None:
        raise NotInManifest("booking not in this gate's manifest")
    matched: list[TokenLeg] = []
    step = None
    for leg in legs:
        secret = secret_of(leg.index)
        if secret is None:
            raise NotInManifest("leg not in this gate's manifest")
        s = match_step(secret, scanned.code_of(leg.index), now, step_s=step_s, skew=skew,
                       digits=digits)
        if s is not None:
            matched.append(leg)
            step = s if step is None else step
    if step is None:
        raise CodeExpired("rotating code is not current")
    return matched, step


class ProofRefused(Exception):
    """An offline tap whose proof does not hold; `outcome` is the upload's outcome code."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


def check_tap_proof(scanned: Scanned, token: TicketToken, *, booking: str, leg: int,
                    step: int | None, at: datetime, now: datetime, stops: Collection[str],
                    secret_of: Callable[[int], bytes | None], step_s: int, skew: int,
                    digits: int) -> int:
    """The TOTP step of an offline QR tap, proven by the QR the gate scanned (`scanned`, whose
    signature the caller verified into `token`): the online decision at the tap's time `at`,
    on the stored secrets, must have admitted this leg. Raises ProofRefused:

    - invalid_proof: the QR is of another booking, its rotating code was not current at `at`,
      or it does not open this leg (or at another step than the tap says);
    - outside_validity: `at` is outside the leg's validity window, or later than now;
    - wrong_station: the leg does not board at this gate's stops.

    A cancellation is not a refusal here: the gate could not know it offline (the upload
    records the tap; conflicts and refunds see it)."""
    if token.booking != booking:
        raise ProofRefused("invalid_proof", "the scanned QR is another booking's")
    if at > now + timedelta(seconds=step_s * max(skew, 1)):
        raise ProofRefused("outside_validity", "the tap is later than now")
    try:
        legs, matched = check_ticket(scanned, token, stops, at, booking_cancelled=False,
                                     cancelled_legs=(), secret_of=secret_of, step_s=step_s,
                                     skew=skew, digits=digits)
    except WrongStation:
        raise ProofRefused("wrong_station", "the ticket does not board at this gate") from None
    except (NotYetValid, ValidityOver):
        raise ProofRefused("outside_validity", "the tap is outside the leg's validity") from None
    except Rejection as err:   # code_expired, not_in_manifest: the code proves no scan then
        raise ProofRefused("invalid_proof", f"the scanned QR does not prove the tap ({err.code})") from None
    if leg not in {x.index for x in legs} or (step is not None and step != matched):
        raise ProofRefused("invalid_proof", "the scanned QR does not open this leg then")
    return matched


@dataclass(frozen=True)
class OfflineTap:
    """An accept made offline, to upload with POST /v1/gates/{gate}/taps, with its proof: the
    QR payload scanned, or the ID card read (the server checks either as it would online)."""

    tap_id: str
    gate: str
    booking: str
    leg: int
    at: datetime
    step: int | None
    passenger: int | None = None   # ID card: the passenger who entered (else the whole party)
    qr: str | None = None          # the QR payload scanned (a QR tap's proof)
    id_card: tuple[str, str] | None = None   # (id_type, number) read (an ID-card tap's proof)

    def __repr__(self) -> str:   # never print the ID number
        return f"OfflineTap({self.tap_id!r}, {self.booking!r}, leg={self.leg})"

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"tap_id": self.tap_id, "booking": self.booking, "leg": self.leg,
                                  "at": self.at.isoformat(), "step": self.step}
        if self.passenger is not None:
            out["passenger"] = self.passenger
        if self.qr is not None:
            out["qr"] = self.qr
        if self.id_card is not None:
            out["id_card"] = {"id_type": self.id_card[0], "number": self.id_card[1]}
        return out


@dataclass
class GateValidator:
    """What a gate device runs with the network down: only the manifest and a clock."""

    manifest: Manifest
    clock: Now
    taps: list[OfflineTap] = field(default_factory=list)

    def __post_init__(self) -> None:
        m = self.manifest
        self._keys = {kid: load_public(raw) for kid, raw in m.keys.items()}
        self._used_legs = {(b, i) for b, e in m.entries.items() for i in e.used_legs}
        self._used_steps: set[tuple[str, int]] = set()
        self._stops = frozenset(m.stops or (m.station,))
        self._used_passengers: set[tuple[str, int, int]] = set()   # (booking, leg, passenger)
        self._zone = ZoneInfo(m.tz)   # the station's: taps and decisions are written in it
        self._ids: dict[bytes, list[IdLeg]] = {}
        for x in m.ids:
            self._ids.setdefault(x.index, []).extend(
                IdLeg(x.booking, x.passenger, leg.index, m.station if not m.stops else m.stops[0],
                      leg.valid_from, leg.valid_until, leg.cancelled, leg.used,
                      m.replaced.get(x.booking, {}).get(leg.index)) for leg in x.legs)

    def validate(self, qr: str) -> Decision:
        m = self.manifest
        now = self.clock.now()
        token = None
        try:
            scanned = parse_qr(qr)
            token = verify(scanned, self._keys)
            entry = m.entries.get(token.booking)
            revoked = m.revoked.get(token.booking, ())
            legs, step = check_ticket(
                scanned, token, self._stops, now,
                booking_cancelled=token.booking in m.revoked and revoked is None,
                cancelled_legs=revoked or (), secret_of=entry.secrets.get if entry else None,
                step_s=m.totp_step_s, skew=m.totp_skew_steps, digits=m.totp_digits,
                replaced=m.replaced.get(token.booking))
            leg = next((x for x in legs if (token.booking, x.index) not in self._used_legs), None)
            if leg is None:
                raise AlreadyUsed("ticket already used for this leg", leg=legs[0].index)
            if (token.booking, step) in self._used_steps:
                raise CodeExpired("this code was already accepted", leg=leg.index)
        except Rejection as err:
            return Decision.reject(err, token).localised(self._zone)
        self._used_legs.add((token.booking, leg.index))
        self._used_steps.add((token.booking, step))
        self.taps.append(OfflineTap(str(uuid.uuid4()), m.gate, token.booking, leg.index,
                                    now.astimezone(self._zone), step, qr=qr))
        return Decision("accept", ACCEPT, token.booking, leg.index, token.passenger_count, step)

    def remember(self, tap: OfflineTap) -> None:
        """Count a tap this gate made earlier (e.g. kept in a local queue between runs) as used."""
        if tap.passenger is not None:
            self._used_passengers.add((tap.booking, tap.leg, tap.passenger))
        else:
            self._used_legs.add((tap.booking, tap.leg))
            if tap.step is not None:
                self._used_steps.add((tap.booking, tap.step))

    def validate_id(self, id_type: str, number: str) -> Decision:
        """Admit or refuse an ID card offline with the decisions of the online endpoint; an ID
        the manifest does not know is `not_in_manifest` (booked since, or no ticket here)."""
        m = self.manifest
        now = self.clock.now()
        try:
            legs = self._ids.get(manifest_index(m.id_key, canonical_id(id_type, number)))
            if not legs:
                raise NotInManifest("no ticket for this ID in this gate's manifest")
            legs = [replace(x, used=True) if self._entered(x) else x for x in legs]
            chosen = choose_leg(legs, self._stops, now)
        except Rejection as err:
            booking = err.extra.get("booking")
            return Decision.reject(err, booking=booking,
                                   passengers=1 if booking else None).localised(self._zone)
        self._used_passengers.add((chosen.booking, chosen.leg, chosen.passenger))
        self.taps.append(OfflineTap(str(uuid.uuid4()), m.gate, chosen.booking, chosen.leg,
                                    now.astimezone(self._zone), None, chosen.passenger,
                                    id_card=(id_type, number)))
        return Decision("accept", ACCEPT, chosen.booking, chosen.leg, 1, None, chosen.passenger)

    def _entered(self, x: IdLeg) -> bool:
        return ((x.booking, x.leg, x.passenger) in self._used_passengers
                or (x.booking, x.leg) in self._used_legs)
