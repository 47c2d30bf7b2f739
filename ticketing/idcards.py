"""ID cards as tickets (一票（证）通行): the blind index of an ID number and the gate decision.

Pure: no I/O. A gate's card reader gives `(id_type, number)`; the number is checked like at
booking time (`passengers.normalise_id`: format, and for a PRC resident ID the region, birth
date and the GB 11643-1999 ISO 7064 MOD 11-2 check character) and then only ever used as:

- the **blind index** `HMAC-SHA256(index key, "id_type|NUMBER")`, stored beside each passenger
  (booking_passengers.id_index) so a gate finds the passenger's bookings with one indexed
  lookup, never by decrypting bookings. The index key is derived (HKDF-SHA256) from a data key
  of MAAS_SECRET_KEYS, its id stored beside the index: `maas keys rotate-data` recomputes the
  index under the active key, and a lookup tries the index under every configured key, so
  gates keep finding passengers during a rotation;
- the **manifest index** `HMAC-SHA256(manifest id key, "id_type|NUMBER")`, under a random key
  drawn for each manifest (inside the sealed manifest). A leaked manifest reveals nothing that
  matches in any other manifest or in the database.

`choose_leg` is the decision, shared by the online endpoint and the offline validator: among
the legs of every booking of the card's holder, admit on the one that is valid here and unused
(earliest first); else refuse with the code of the leg that came closest to admitting, in the
order of gate.py (wrong_station < not_yet_valid/validity_over < cancelled/replaced <
already_used). A leg an exchange or a rebooking replaced is `replaced`, naming its replacement.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Collection, Iterable, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ticketing.checkin_errors import (AlreadyUsed, Cancelled, InvalidId, NotYetValid, Rejection,
                                      Replaced, ValidityOver, WrongStation)
from ticketing.errors import InvalidPassenger
from ticketing.manifest import ReplacedBy
from ticketing.passengers import ID_TYPES, normalise_id

__all__ = ["ID_TYPES", "IdLeg", "canonical_id", "index_key", "blind_index", "blind_indexes",
           "manifest_index", "choose_leg"]

_SALT = b"maas.id-index.v1"


def canonical_id(id_type: str, number: str) -> str:
    """`id_type|NUMBER` (upper case, no spaces) after the booking-time checks; `InvalidId` (the
    gate's `invalid_id`) for a mistyped or forged number. Never put the number in the error."""
    try:
        return f"{id_type}|{normalise_id(id_type, number)}"
    except InvalidPassenger as err:
        raise InvalidId(err.detail) from None


def index_key(data_key: bytes, key_id: str) -> bytes:
    """The blind-index key derived from the data key `key_id` (never used to encrypt)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                info=b"id-index:" + key_id.encode()).derive(data_key)


def blind_index(key: bytes, canonical: str) -> bytes:
    return hmac.new(key, canonical.encode(), hashlib.sha256).digest()


def blind_indexes(data_keys: Mapping[str, bytes], canonical: str) -> list[bytes]:
    """The index of `canonical` under every configured data key (a lookup matches rows not
    re-indexed yet after a rotation)."""
    return [blind_index(index_key(k, kid), canonical) for kid, k in data_keys.items()]


def manifest_index(manifest_key: bytes, canonical: str) -> bytes:
    """The same keyed hash as the server's index, under one manifest's own random key."""
    return blind_index(manifest_key, canonical)


@dataclass(frozen=True)
class IdLeg:
    """One leg of one booking of the card's holder, as the gate sees it."""

    booking: str
    passenger: int            # the holder's passenger_no in that booking
    leg: int
    board: str                # boarding stop "feed:stop"
    valid_from: datetime
    valid_until: datetime
    cancelled: bool           # booking or leg no longer confirmed
    used: bool                # this passenger (or the whole party, by QR/face) entered this leg
    replaced_by: ReplacedBy | None = None   # the leg was replaced (and so `cancelled`) by this one


def _refusal(legs: list[IdLeg], stops: Collection[str], now: datetime) -> tuple[int, Rejection]:
    """(rank, rejection) of one booking's legs, the order of gate.candidate_legs/check_ticket."""
    here = [x for x in legs if x.board in stops]
    if not here:
        return 0, WrongStation("no booking of this ID boards here")
    valid = [x for x in here if x.valid_from <= now <= x.valid_until]
    if not valid:
        upcoming = [x for x in here if now < x.valid_from]
        if upcoming:
            first = min(upcoming, key=lambda x: x.valid_from)
            return 1, NotYetValid("ticket not valid yet here", leg=first.leg,
                                  valid_from=first.valid_from.isoformat(), booking=first.booking)
        last = max(here, key=lambda x: x.valid_until)
        return 1, ValidityOver("ticket no longer valid here", leg=last.leg,
                               valid_until=last.valid_until.isoformat(), booking=last.booking)
    live = [x for x in valid if not x.cancelled]
    if not live:
        gone = next((x for x in valid if x.replaced_by is not None), None)
        if gone is not None and gone.replaced_by is not None:
            return 2, Replaced(f"leg {gone.leg} was replaced by leg {gone.replaced_by.leg}",
                               leg=gone.leg, booking=gone.booking, replaced_by=gone.replaced_by)
        return 2, Cancelled("booking cancelled", leg=valid[0].leg, booking=valid[0].booking)
    return 3, AlreadyUsed("ticket already used for this leg", leg=live[0].leg, booking=live[0].booking)


def choose_leg(legs: Iterable[IdLeg], stops: Collection[str], now: datetime) -> IdLeg:
    """The leg to admit the card's holder on now at a gate admitting to `stops`; else the
    Rejection of the booking that came closest to admitting (ties: the earliest)."""
    legs = sorted(legs, key=lambda x: (x.valid_from, x.booking, x.leg))
    ok = [x for x in legs if x.board in stops and x.valid_from <= now <= x.valid_until
          and not x.cancelled and not x.used]
    if ok:
        return ok[0]
    by_booking: dict[str, list[IdLeg]] = {}
    for x in legs:
        by_booking.setdefault(x.booking, []).append(x)
    best: tuple[int, Rejection] | None = None
    for bl in by_booking.values():
        got = _refusal(bl, stops, now)
        if best is None or got[0] > best[0]:
            best = got
    if best is None:
        raise WrongStation("no booking of this ID boards here")
    raise best[1]
