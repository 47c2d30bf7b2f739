"""Itineraries as the planner returns them, and their stable, bookable ids.

An itinerary id encodes an `ItineraryKey`: the (feed, version) pairs the plan was made on and,
for each transit leg, the trip, its service date, the positions of the boarding and alighting
stop in the trip's stop sequence, the two stops and the two absolute (UTC) times. That is all a
booking needs to hold seats per trip segment, without the planner keeping any state.

Wire format: ``base64url(zlib(json(payload)) + tag)`` where ``tag`` is an 8-byte keyed BLAKE2b (MAC mode)
of the compressed payload, so a changed character is detected (tamper-evident, not secret; pass
a deployment secret as `secret` to make ids unforgeable across installations).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime, timezone

from routing.errors import InvalidItineraryId

__all__ = [
    "LegKey",
    "ItineraryKey",
    "Place",
    "Leg",
    "Itinerary",
    "new_leg",
    "encode_id",
    "decode_id",
]

_FORMAT = 1
_TAG_BYTES = 8
_WBITS = 10                     # deflate window 2**10 bytes (ids are far smaller)
DEFAULT_SECRET = b"maas-itinerary-id-v1"


@dataclass(frozen=True)
class LegKey:
    trip_id: str            # "feed:trip_id" (frequency runs: "feed:trip_id@HH:MM:SS")
    service_date: date      # GTFS service date of the trip
    board_pos: int          # 0-based position of from_stop in the trip's stop sequence
    alight_pos: int         # 0-based position of to_stop, > board_pos
    from_stop: str          # "feed:stop_id"
    to_stop: str
    departure: datetime     # aware, UTC
    arrival: datetime       # aware, UTC


@dataclass(frozen=True)
class ItineraryKey:
    versions: tuple[tuple[str, str], ...]   # (feed, version) pairs the itinerary was planned on
    legs: tuple[LegKey, ...]                # transit legs only, in travel order


@dataclass(frozen=True)
class Place:
    id: str | None          # "feed:stop_id", or None for a coordinate
    name: str
    lat: float
    lon: float
    tz: str                 # IANA zone used to render times at this place


@dataclass(frozen=True)
class Leg:
    mode: str                       # bus coach rail metro tram ferry air other | walk
    from_place: Place
    to_place: Place
    departure: datetime             # aware, in from_place's zone
    arrival: datetime               # aware, in to_place's zone
    duration_s: int
    feed: str | None = None
    trip_id: str | None = None
    route_id: str | None = None
    route_short_name: str | None = None
    route_long_name: str | None = None
    operator: str | None = None
    headsign: str | None = None
    stops: int = 0                  # hops ridden (alight_pos - board_pos); 0 for walks
    distance_m: float = 0.0         # walks only
    key: LegKey | None = None       # transit legs only
    # transit legs: the timetable's times (departure/arrival are realtime when known), the
    # departure delay (+ late, s) and whether the run has a realtime update; None/0 for walks
    scheduled_departure: datetime | None = None
    scheduled_arrival: datetime | None = None
    delay_s: int = 0
    realtime: bool = False
    trip_short_name: str | None = None   # train/flight number (trip_short_name, else route's)
    intermediate: tuple[Place, ...] = ()  # stops passed between from_place and to_place


# every field of Leg, in order, with its default (None where it has none)
_LEG_FIELDS = {f.name: None if f.default is MISSING else f.default for f in fields(Leg)}


def new_leg(**values: object) -> Leg:
    """`Leg(**values)` without the frozen dataclass's `__init__`, which sets each of its 22
    fields through `object.__setattr__` (~4x the cost; a plan makes its walks and the legs of
    rides not seen before). Every field without a default must be given (tests check the two
    ways make equal legs)."""
    leg = object.__new__(Leg)
    fields_ = dict(_LEG_FIELDS)
    fields_.update(values)
    leg.__dict__.update(fields_)
    return leg


@dataclass(frozen=True)
class Itinerary:
    id: str
    key: ItineraryKey
    departure: datetime
    arrival: datetime
    duration_s: int
    transfers: int
    legs: tuple[Leg, ...]
    # criteria=price: what the search counted for one adult (minor units; = the booking's
    # price for these legs). None: planned without prices.
    price_minor: int | None = None


def _epoch(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("LegKey times must be timezone-aware")
    return int(dt.timestamp())


def _compress(raw: bytes) -> bytes:
    """zlib stream with a 1 KiB window and the smallest memory level: an id payload is a few
    hundred bytes, so this compresses as well as the defaults (32 KiB window, ~256 KiB of
    state allocated and cleared per call) at a tenth of the CPU. `decode_id` reads the
    window size from the stream header, so ids made with either setting decode the same."""
    z = zlib.compressobj(6, zlib.DEFLATED, _WBITS, 1)
    return z.compress(raw) + z.flush()


def encode_id(key: ItineraryKey, secret: bytes = DEFAULT_SECRET) -> str:
    """Compact, URL-safe, deterministic and tamper-evident id for `key`."""
    payload = [
        _FORMAT,
        [list(v) for v in key.versions],
        [
            [
                leg.trip_id,
                leg.service_date.toordinal(),
                leg.board_pos,
                leg.alight_pos,
                leg.from_stop,
                leg.to_stop,
                _epoch(leg.departure),
                _epoch(leg.arrival),
            ]
            for leg in key.legs
        ],
    ]
    raw = _ID_JSON.encode(payload).encode()
    memo = (secret, raw)
    got = _IDS.get(memo)
    if got is None:
        body = _compress(raw)
        tag = hashlib.blake2b(body, key=secret[:64], digest_size=_TAG_BYTES).digest()
        got = base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode("ascii")
        if len(_IDS) >= _IDS_MAX:
            _IDS.clear()
        _IDS[memo] = got
    return got


# json.dumps(payload, separators=(",", ":"), ensure_ascii=False), its encoder built once
_ID_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

# (secret, payload) -> id: planners return the same itineraries again and again, and the id
# is a pure function of these two (deterministic deflate); bounded, cleared when full
_IDS: dict[tuple[bytes, bytes], str] = {}
_IDS_MAX = 1 << 13             # ~0.6 KB an entry


def decode_id(s: str, secret: bytes = DEFAULT_SECRET) -> ItineraryKey:
    """Inverse of `encode_id`; raises InvalidItineraryId on anything malformed or altered."""
    try:
        blob = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except (binascii.Error, ValueError, TypeError):
        raise InvalidItineraryId("itinerary id is not valid base64url") from None
    if len(blob) <= _TAG_BYTES:
        raise InvalidItineraryId("itinerary id is too short")
    body, tag = blob[:-_TAG_BYTES], blob[-_TAG_BYTES:]
    expected = hashlib.blake2b(body, key=secret[:64], digest_size=_TAG_BYTES).digest()
    if not hmac.compare_digest(tag, expected):
        raise InvalidItineraryId("itinerary id was altered or belongs to another installation")
    try:
        fmt, versions, legs = json.loads(zlib.decompress(body, bufsize=4096))
        if fmt != _FORMAT:
            raise ValueError(f"unknown id format {fmt}")
        return ItineraryKey(
            versions=tuple((str(f), str(v)) for f, v in versions),
            legs=tuple(
                LegKey(
                    trip_id=str(t),
                    service_date=date.fromordinal(int(d)),
                    board_pos=int(b),
                    alight_pos=int(a),
                    from_stop=str(fs),
                    to_stop=str(ts),
                    departure=datetime.fromtimestamp(int(dep), timezone.utc),
                    arrival=datetime.fromtimestamp(int(arr), timezone.utc),
                )
                for t, d, b, a, fs, ts, dep, arr in legs
            ),
        )
    except (ValueError, TypeError, zlib.error, OverflowError) as exc:
        raise InvalidItineraryId(f"itinerary id payload is malformed: {exc}") from None
