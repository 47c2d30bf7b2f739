"""Itineraries as the planner returns them, and their stable, bookable ids.

An itinerary id encodes an `ItineraryKey`: the (feed, version) pairs the plan was made on and,
for each transit leg, the trip, its service date, the positions of the boarding and alighting
stop in the trip's stop sequence, the two stops and the two absolute (UTC) times. That is all a
booking needs to hold seats per trip segment, without the planner keeping any state.

Wire format: ``base64url(body + tag)`` where ``tag`` is an 8-byte keyed BLAKE2b (MAC mode) of
the body, so a changed character is detected (tamper-evident, not secret; pass a deployment
secret as `secret` to make ids unforgeable across installations).

The body (format 2) is binary, made without compressing: byte 2 (or 3, below), then unsigned
LEB128 varints, then the key's strings as one UTF-8 text. The varints: the number of versions
and per version the lengths (code points) of feed and version; the number of legs and per leg

    feed  1 + the index of the version whose ``feed:`` prefixes trip_id, from_stop and
          to_stop and was cut from all three here; 0 if they are written whole
    the lengths of trip_id, from_stop and to_stop (as written)
    departure - the previous leg's arrival (the first leg: - 0), zigzag (signed)
    arrival - departure, zigzag
    service_date - departure's UTC day, zigzag
    board_pos, then alight_pos - board_pos - 1

with times in unix seconds and dates as ordinals. The text is the versions' feed and version,
then each leg's trip_id, from_stop and to_stop, concatenated. When the trip ids (as written)
add up to ``_DEFLATE_TRIPS`` code points or more, the text is kept raw-deflated (first byte 3)
if that is shorter: several long trip ids repeat much of each other (NYC's: 3 legs or more),
where format 1's zlib was shorter than the plain text. Deflating costs about as much as the
rest of an id, so short ids, most of them, never try it.

Format 1 (ids handed out before): the body is ``zlib(json([1, versions, legs]))``. Its first
byte is a zlib header (low nibble 8), never 2 or 3, so `decode_id` tells the two apart.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timezone

from routing.errors import InvalidItineraryId
from routing.frozen import blank

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

_STORED, _DEFLATED = 2, 3       # first byte of a format 2 body: how its text is kept
_TAG_BYTES = 8
_DEFLATE_TRIPS = 96             # trip id code points (as written) from which deflating may pay
_UNIX_DAY = 719163              # date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
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


def new_leg(**values: object) -> Leg:
    """`Leg(**values)` without the frozen dataclass's `__init__`, which sets each of its 22
    fields through `object.__setattr__` (~4x the cost; a plan makes its walks and the legs of
    rides not seen before). Every field without a default must be given (tests check the two
    ways make equal legs)."""
    leg = blank(Leg)
    vars(leg).update(values)
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


def _pack(key: ItineraryKey) -> bytes:
    """The format 2 body of `key` (module docstring). No compression on most ids: zlib's
    Huffman coding cost ~15 us an id, more than the whole encoding does now."""
    versions = key.versions
    head = _VERSIONS.get(versions)
    if head is None:
        head = _versions_part(versions)
    out = bytearray(head[0])
    append = out.append
    texts = [head[1]]
    index = head[2]
    n = len(key.legs)
    if n > 0x7F:
        _varint(out, n)
    else:
        append(n)
    prev = trip_chars = 0
    for leg in key.legs:
        trip, from_stop, to_stop = leg.trip_id, leg.from_stop, leg.to_stop
        feed, colon, rest = trip.partition(":")
        ref = index.get(feed, 0) if colon else 0
        if ref:
            prefix = trip[:len(feed) + 1]
            if from_stop.startswith(prefix) and to_stop.startswith(prefix):
                n = len(prefix)
                trip, from_stop, to_stop = rest, from_stop[n:], to_stop[n:]
            else:
                ref = 0
        board = leg.board_pos
        hops = leg.alight_pos - board - 1
        if board < 0 or hops < 0:
            raise ValueError("LegKey positions must satisfy 0 <= board_pos < alight_pos")
        departure, arrival = leg.departure, leg.arrival
        if departure.tzinfo is None or arrival.tzinfo is None:
            raise ValueError("LegKey times must be timezone-aware")
        # int(x.timestamp()) at ~half its cost (its float, exact in whole seconds)
        t = departure - _EPOCH
        dep = int(departure.timestamp()) if t.microseconds else t.days * 86400 + t.seconds
        t = arrival - _EPOCH
        arr = int(arrival.timestamp()) if t.microseconds else t.days * 86400 + t.seconds
        # zigzag: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ... (|n| < 2**63: datetimes' range)
        d, a, s = dep - prev, arr - dep, leg.service_date.toordinal() - _UNIX_DAY - dep // 86400
        tn = len(trip)
        for n in (ref, tn, len(from_stop), len(to_stop), d << 1 ^ d >> 63,
                  a << 1 ^ a >> 63, s << 1 ^ s >> 63, board, hops):
            while n > 0x7F:
                append(n & 0x7F | 0x80)
                n >>= 7
            append(n)
        texts += (trip, from_stop, to_stop)
        trip_chars += tn
        prev = arr
    text = "".join(texts).encode()
    if trip_chars >= _DEFLATE_TRIPS:
        z = zlib.compressobj(1, zlib.DEFLATED, -9, 1)   # level 6 is no shorter here
        packed = z.compress(text) + z.flush()
        if len(packed) < len(text):
            out[0] = _DEFLATED
            text = packed
    out += text
    return bytes(out)


def _varint(out: bytearray, n: int) -> None:
    """Unsigned LEB128 of n >= 0 appended to `out`."""
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)


def _versions_part(versions: tuple[tuple[str, str], ...]
                   ) -> tuple[bytes, str, dict[str, int]]:
    """A body's first byte (`_STORED`) and the varints of `versions`, their text and each
    feed's 1-based index; kept (a planner makes its ids on a few sets of versions)."""
    out = bytearray((_STORED,))
    _varint(out, len(versions))
    index: dict[str, int] = {}
    for i, (feed, version) in enumerate(versions, 1):
        _varint(out, len(feed))
        _varint(out, len(version))
        index.setdefault(feed, i)
    got = (bytes(out), "".join(f + v for f, v in versions), index)
    if len(_VERSIONS) >= 64:
        _VERSIONS.clear()
    _VERSIONS[versions] = got
    return got


# versions -> `_versions_part`'s (head of the body, text, feed -> index); bounded
_VERSIONS: dict[tuple[tuple[str, str], ...], tuple[bytes, str, dict[str, int]]] = {}


def _tag(body: bytes, secret: bytes) -> bytes:
    """8-byte BLAKE2b of `body` keyed with `secret`: copied from a hasher that has taken the
    key already (a keyed init hashes a whole 128-byte key block: ~40 % of the tag's cost)."""
    keyed = _KEYED.get(secret)
    if keyed is None:
        keyed = hashlib.blake2b(key=secret[:64], digest_size=_TAG_BYTES)
        if len(_KEYED) >= 16:
            _KEYED.clear()
        _KEYED[secret] = keyed
    h = keyed.copy()
    h.update(body)
    return h.digest()


# secret -> a BLAKE2b that has hashed it as its key (a process has one or two secrets)
_KEYED: dict[bytes, hashlib.blake2b] = {}


def encode_id(key: ItineraryKey, secret: bytes = DEFAULT_SECRET) -> str:
    """Compact, URL-safe, deterministic and tamper-evident id for `key` (format 2)."""
    body = _pack(key)
    memo = (secret, body)
    got = _IDS.get(memo)
    if got is None:
        # base64.urlsafe_b64encode's steps without its two Python-level wrappers
        got = binascii.b2a_base64(body + _tag(body, secret), newline=False).translate(
            _URLSAFE).rstrip(b"=").decode("ascii")
        if len(_IDS) >= _IDS_MAX:
            _IDS.clear()
        _IDS[memo] = got
    return got


_URLSAFE, _STD = bytes.maketrans(b"+/", b"-_"), bytes.maketrans(b"-_", b"+/")

# (secret, body) -> id: planners return the same itineraries again and again, and the id is
# a pure function of these two; bounded, cleared when full
_IDS: dict[tuple[bytes, bytes], str] = {}
_IDS_MAX = 1 << 13             # ~0.4 KB an entry


def decode_id(s: str, secret: bytes = DEFAULT_SECRET) -> ItineraryKey:
    """Inverse of `encode_id` (and reads format 1 ids); raises InvalidItineraryId on anything
    malformed or altered."""
    try:
        # base64.urlsafe_b64decode's steps (non-ASCII: ValueError) without its wrappers
        blob = binascii.a2b_base64((s + "=" * (-len(s) % 4)).encode("ascii").translate(_STD))
    except (binascii.Error, ValueError, TypeError):
        raise InvalidItineraryId("itinerary id is not valid base64url") from None
    if len(blob) <= _TAG_BYTES:
        raise InvalidItineraryId("itinerary id is too short")
    body, tag = blob[:-_TAG_BYTES], blob[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(body, secret)):
        raise InvalidItineraryId("itinerary id was altered or belongs to another installation")
    try:
        return _unpack(body) if body[0] in (_STORED, _DEFLATED) else _unpack_json(body)
    except (ValueError, TypeError, IndexError, zlib.error, OverflowError, OSError) as exc:
        raise InvalidItineraryId(f"itinerary id payload is malformed: {exc}") from None


def _varints(body: bytes, pos: int, count: int) -> tuple[list[int], int]:
    """`count` LEB128 varints from body[pos:], and the position after them."""
    out = []
    for _ in range(count):
        b = body[pos]
        pos += 1
        n, shift = b & 0x7F, 7
        while b > 0x7F:
            b = body[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
        out.append(n)
    return out, pos


def _unpack(body: bytes) -> ItineraryKey:
    """The key of a format 2 body (module docstring)."""
    (nv,), pos = _varints(body, 1, 1)
    lens, pos = _varints(body, pos, 2 * nv)
    (nl,), pos = _varints(body, pos, 1)
    nums, pos = _varints(body, pos, 9 * nl)
    data = body[pos:]
    if body[0] == _DEFLATED:
        data = zlib.decompress(data, -15)
    text = data.decode()
    at = 0
    versions = []
    for i in range(0, 2 * nv, 2):
        f, v = lens[i], lens[i + 1]
        versions.append((text[at:at + f], text[at + f:at + f + v]))
        at += f + v
    legs = []
    prev = 0
    for i in range(0, 9 * nl, 9):
        ref, tn, fn, sn, d, a, sd, board, hops = nums[i:i + 9]
        trip = text[at:at + tn]
        from_stop = text[at + tn:at + tn + fn]
        to_stop = text[at + tn + fn:at + tn + fn + sn]
        at += tn + fn + sn
        if ref:
            prefix = versions[ref - 1][0] + ":"
            trip, from_stop, to_stop = prefix + trip, prefix + from_stop, prefix + to_stop
        dep = prev + (d >> 1 ^ -(d & 1))
        arr = dep + (a >> 1 ^ -(a & 1))
        legs.append(_leg_key(
            trip_id=trip,
            service_date=date.fromordinal(_UNIX_DAY + dep // 86400 + (sd >> 1 ^ -(sd & 1))),
            board_pos=board, alight_pos=board + hops + 1, from_stop=from_stop, to_stop=to_stop,
            departure=datetime.fromtimestamp(dep, timezone.utc),
            arrival=datetime.fromtimestamp(arr, timezone.utc)))
        prev = arr
    if at != len(text):
        raise ValueError("trailing text")
    return ItineraryKey(tuple(versions), tuple(legs))


def _leg_key(**fields: object) -> LegKey:
    """`LegKey(**fields)` without the frozen dataclass's `__init__` (8 `object.__setattr__`
    calls, ~2/3 of a decoded leg's cost); every field must be given."""
    key = blank(LegKey)
    vars(key).update(fields)
    return key


def _unpack_json(body: bytes) -> ItineraryKey:
    """The key of a format 1 body: ``zlib(json([1, versions, legs]))``, any zlib window (the
    stream header says which)."""
    fmt, versions, legs = json.loads(zlib.decompress(body, bufsize=4096))
    if fmt != 1:
        raise ValueError(f"unknown id format {fmt}")
    return ItineraryKey(
        versions=tuple((str(f), str(v)) for f, v in versions),
        legs=tuple(
            _leg_key(
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
