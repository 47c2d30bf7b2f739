"""The offline manifest of one gate for one day: signed by us, encrypted for that gate.

Contents: the verification keys of journey tokens; every confirmed booking with a leg that
boards at the gate's station in the covered period, with the TOTP secrets of THOSE legs (the
only place a secret ever leaves the server) and the legs already entered online; the revocations
(cancelled bookings / legs) for that station and period; the TOTP parameters; for ID cards,
a random key of this manifest alone and each passenger of those bookings under it (the HMAC
of the normalised ID, ticketing/idcards.py) with the legs boarding here.

Layers, innermost first:
    body      canonical JSON, zlib-compressed
    signed    {"kid", "sig": Ed25519(DOMAIN | body), "body"}            (JSON)
    envelope  {"alg", "gate", "station", "date", "nonce", "ciphertext"}  AES-256-GCM of
              `signed`, key = HKDF-SHA256(gate's bearer key, salt, info=gate id), aad binds
              gate, station and date.
The gate holds its own bearer key, so it derives the same AES key; we never store that key
(API keys are stored hashed) and a revoked gate key is refused the manifest by auth.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ticketing.checkin_errors import ManifestInvalid
from ticketing.keyring import SigningKey, load_public

__all__ = ["ReplacedBy", "ManifestLeg", "ManifestEntry", "ManifestIdLeg", "ManifestId", "Manifest", "gate_key", "seal_manifest",
           "open_manifest", "ALG"]

ALG = "A256GCM+HKDF-SHA256(gate-key)"
_DOMAIN = b"maas.manifest.v1\x00"
_SALT = b"maas.manifest.v1"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


@dataclass(frozen=True)
class ReplacedBy:
    """The leg that replaced a booked leg (an exchange or a rebooking: booking_legs.replaced_by,
    followed to the leg that is not itself replaced): what a gate shows a passenger it refuses
    with `replaced`. `departure` carries the offset of its boarding stop's zone."""

    leg: int
    trip_id: str
    departure: datetime
    station: str        # its boarding stop, "feed:stop_id"

    def as_json(self) -> dict[str, object]:
        return {"leg": self.leg, "trip_id": self.trip_id, "departure": self.departure.isoformat(),
                "station": self.station}


@dataclass(frozen=True)
class ManifestLeg:
    index: int
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True)
class ManifestEntry:
    booking: str
    secrets: dict[int, bytes]        # leg -> its code secret, for the legs boarding here only
    passengers: int
    legs: tuple[ManifestLeg, ...]
    used_legs: frozenset[int] = frozenset()

    def __repr__(self) -> str:  # never print the secret
        return f"ManifestEntry(booking={self.booking!r}, legs={len(self.legs)})"


@dataclass(frozen=True)
class ManifestIdLeg:
    index: int
    valid_from: datetime
    valid_until: datetime
    cancelled: bool = False   # booking or leg cancelled
    used: bool = False        # this passenger (or the whole party) already entered it


@dataclass(frozen=True)
class ManifestId:
    """One passenger of a booking boarding here, findable by ID card: `index` is
    HMAC-SHA256(the manifest's id_key, "id_type|NUMBER") (ticketing.idcards.manifest_index)."""

    booking: str
    passenger: int
    index: bytes
    legs: tuple[ManifestIdLeg, ...]

    def __repr__(self) -> str:
        return f"ManifestId(booking={self.booking!r}, passenger={self.passenger})"


@dataclass(frozen=True)
class Manifest:
    gate: str
    station: str
    date: date
    issued_at: datetime
    covers_from: datetime
    covers_until: datetime
    totp_step_s: int
    totp_skew_steps: int
    totp_digits: int
    keys: dict[str, bytes]                          # key id -> raw Ed25519 public key
    entries: dict[str, ManifestEntry] = field(default_factory=dict)   # booking -> entry
    revoked: dict[str, tuple[int, ...] | None] = field(default_factory=dict)  # None: all legs
    stops: tuple[str, ...] = ()       # stop ids this gate admits to (station + platforms); () = station
    id_key: bytes = b""               # random per manifest: the key of every ManifestId.index
    ids: tuple[ManifestId, ...] = ()  # ID-card holders of the bookings boarding here
    # booking -> {replaced leg boarding here -> the leg that replaced it} (those legs are also
    # in `revoked`, so a gate that predates `replaced` still refuses them, as `cancelled`)
    replaced: dict[str, dict[int, ReplacedBy]] = field(default_factory=dict)
    tz: str = "UTC"                   # the station's IANA time zone (its feed's): `date` is a
                                      # day there; a gate writes taps and shows times in it

    def __repr__(self) -> str:
        return (f"Manifest(gate={self.gate!r}, station={self.station!r}, date={self.date}, "
                f"entries={len(self.entries)}, revoked={len(self.revoked)})")


def _body(m: Manifest) -> dict[str, Any]:
    return {
        "v": 1,
        "gate": m.gate,
        "station": m.station,
        "date": m.date.isoformat(),
        "issued_at": _ts(m.issued_at),
        "covers": [_ts(m.covers_from), _ts(m.covers_until)],
        "totp": [m.totp_step_s, m.totp_skew_steps, m.totp_digits],
        "keys": {k: _b64(v) for k, v in sorted(m.keys.items())},
        "bookings": [
            [e.booking, {str(i): _b64(v) for i, v in sorted(e.secrets.items())}, e.passengers,
             [[leg.index, _ts(leg.valid_from), _ts(leg.valid_until)] for leg in e.legs],
             sorted(e.used_legs)]
            for e in m.entries.values()
        ],
        "revoked": {b: (None if legs is None else list(legs)) for b, legs in m.revoked.items()},
        "stops": list(m.stops),
        "id_key": _b64(m.id_key),
        "tz": m.tz,
        "ids": [[x.booking, x.passenger, _b64(x.index),
                 [[leg.index, _ts(leg.valid_from), _ts(leg.valid_until), int(leg.cancelled),
                   int(leg.used)] for leg in x.legs]]
                for x in m.ids],
        "replaced": {b: {str(i): [r.leg, r.trip_id, _ts(r.departure), r.station,
                                  _offset_s(r.departure)]
                         for i, r in sorted(legs.items())}
                     for b, legs in m.replaced.items()},
    }


def _offset_s(dt: datetime) -> int:
    off = dt.utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _replaced(raw: Mapping[str, Any]) -> dict[str, dict[int, ReplacedBy]]:
    return {b: {int(i): ReplacedBy(int(leg), str(trip), datetime.fromtimestamp(
                    int(dep), timezone(timedelta(seconds=int(off)))), str(station))
                for i, (leg, trip, dep, station, off) in legs.items()}
            for b, legs in raw.items()}


def _from_body(d: dict[str, Any]) -> Manifest:
    entries = {}
    for booking, secrets_, pax, legs, used in d["bookings"]:
        entries[booking] = ManifestEntry(
            booking, {int(i): _unb64(v) for i, v in secrets_.items()}, int(pax),
            tuple(ManifestLeg(int(i), _dt(vf), _dt(vu)) for i, vf, vu in legs),
            frozenset(int(i) for i in used))
    step, skew, digits = d["totp"]
    return Manifest(
        gate=d["gate"], station=d["station"], date=date.fromisoformat(d["date"]),
        issued_at=_dt(d["issued_at"]), covers_from=_dt(d["covers"][0]),
        covers_until=_dt(d["covers"][1]), totp_step_s=int(step), totp_skew_steps=int(skew),
        totp_digits=int(digits), keys={k: _unb64(v) for k, v in d["keys"].items()},
        entries=entries,
        revoked={b: (None if v is None else tuple(int(i) for i in v))
                 for b, v in d["revoked"].items()},
        stops=tuple(d.get("stops", ())),
        id_key=_unb64(d.get("id_key", "")),
        tz=str(d.get("tz", "UTC")),
        ids=tuple(ManifestId(booking, int(pax), _unb64(index),
                             tuple(ManifestIdLeg(int(i), _dt(vf), _dt(vu), bool(c), bool(u))
                                   for i, vf, vu, c, u in legs))
                  for booking, pax, index, legs in d.get("ids", ())),
        replaced=_replaced(d.get("replaced", {})),
    )


def gate_key(gate_secret: str, gate_id: str) -> bytes:
    """The AES key of a gate's manifests, derived from the gate's own bearer key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                info=b"gate:" + gate_id.encode()).derive(gate_secret.encode())


def _aad(gate: str, station: str, day: str) -> bytes:
    return f"maas.manifest.v1|{gate}|{station}|{day}".encode()


def seal_manifest(m: Manifest, signer: SigningKey, key: bytes) -> dict[str, Any]:
    """The envelope (JSON-ready dict) a gate downloads."""
    body = zlib.compress(json.dumps(_body(m), separators=(",", ":"), sort_keys=True).encode(), 6)
    signed = json.dumps({"kid": signer.key_id, "sig": _b64(signer.private.sign(_DOMAIN + body)),
                         "body": _b64(body)}).encode()
    nonce = os.urandom(12)
    day = m.date.isoformat()
    ct = AESGCM(key).encrypt(nonce, signed, _aad(m.gate, m.station, day))
    return {"v": 1, "alg": ALG, "gate": m.gate, "station": m.station, "date": day,
            "nonce": _b64(nonce), "ciphertext": _b64(ct)}


def open_manifest(envelope: Mapping[str, Any], key: bytes,
                  trusted_keys: Mapping[str, bytes] | None = None) -> Manifest:
    """Decrypt and verify a manifest (gate side, no network).

    The signature is checked with `trusted_keys` (key id -> raw public key) when the gate has
    pinned some; otherwise with the keys inside the manifest (trust on first use, the
    manifest having come over an authenticated channel)."""
    try:
        aad = _aad(envelope["gate"], envelope["station"], envelope["date"])
        signed = json.loads(AESGCM(key).decrypt(
            _unb64(envelope["nonce"]), _unb64(envelope["ciphertext"]), aad))
        body = _unb64(signed["body"])
        d = json.loads(zlib.decompress(body))
    except InvalidTag:
        raise ManifestInvalid("manifest does not decrypt with this gate's key") from None
    except (KeyError, ValueError, TypeError, zlib.error):
        raise ManifestInvalid("manifest is not well formed") from None
    keys = trusted_keys if trusted_keys is not None else {
        k: _unb64(v) for k, v in d.get("keys", {}).items()}
    raw = keys.get(signed.get("kid"))
    if raw is None:
        raise ManifestInvalid("manifest signed by an unknown key")
    try:
        load_public(raw).verify(_unb64(signed["sig"]), _DOMAIN + body)
    except (InvalidSignature, ValueError):
        raise ManifestInvalid("manifest signature does not verify") from None
    m = _from_body(d)
    if (m.gate, m.station, m.date.isoformat()) != (
            envelope["gate"], envelope["station"], envelope["date"]):
        raise ManifestInvalid("manifest header does not match its body")
    return m
