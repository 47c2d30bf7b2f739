"""The journey token: one QR payload for every gate of a linked booking.

    qr = base45( static | ed25519(static) | u8 n | n x u32 code )

`static` is fixed for a booking (its confirmed legs, their boarding/alighting stations and
admission windows, the passengers, the issue time) and signed with Ed25519 under a key id
carried inside it, so any operator's gate verifies it offline with the published keys. The
rotating codes are appended unsigned, one per leg in token order: TOTP of the leg's secret,
derived from the booking's (ticketing.totp.leg_secret), so a gate — which gets the secrets of
its station's legs only — cannot mint codes for another leg. They change every step; the
static part and signature never do.

Binary layout of `static`, version 1 (big-endian):

    u8  version (1)
    u8  len, kid                       signing key id (ascii)
    u8  tag: 1 -> 16-byte UUID booking id | 0 -> u8 len + utf-8 id
    u32 issued_at                      unix seconds, UTC
    u8  n, n x (u8 len + utf-8)        string table (station ids "feed:stop", categories)
    u8  n, n x (u8 str, u8 count)      passengers per category
    u8  n, n x (u8 leg, u8 board str, u8 alight str, u32 valid_from, u32 valid_until)

A 3-leg bus+rail+air booking for one passenger is 214 bytes in all, 321 base45 characters: a
version 11 QR code at error correction M (61x61 modules) (see ticketing/README.md for the measurement).
"""

from __future__ import annotations

import struct
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ticketing.base45 import b45decode, b45decode_short, b45encode
from ticketing.checkin_errors import BadSignature, Malformed, UnknownKey

__all__ = ["TokenLeg", "TicketToken", "Scanned", "sign_static", "qr_payload", "parse_qr",
           "verify", "encode_static", "SignedTicket", "signed_ticket", "VerifiedTickets",
           "ParsedTickets"]

VERSION = 1
SIG_LEN = 64
CODE_LEN = 4
_DOMAIN = b"maas.ticket.v1\x00"   # signatures over tickets can never pass for anything else
_U32 = struct.Struct(">I")
_LEG = struct.Struct(">BBBII")


def _ts(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("naive datetime in a ticket")
    return int(dt.timestamp())


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _canonical_uuid(text: str) -> uuid.UUID | None:
    """A UUID if `text` is one in canonical form (so the 16-byte encoding round-trips)."""
    try:
        u = uuid.UUID(text)
    except ValueError:
        return None
    return u if str(u) == text else None


@dataclass(frozen=True)
class TokenLeg:
    index: int             # the leg's position in the booking
    board: str             # "feed:stop" where this leg's ticket admits
    alight: str
    valid_from: datetime   # admission window at `board`, aware UTC
    valid_until: datetime


@dataclass(frozen=True)
class TicketToken:
    key_id: str
    booking: str
    issued_at: datetime
    passengers: tuple[tuple[str, int], ...]   # (category, count)
    legs: tuple[TokenLeg, ...]

    @property
    def passenger_count(self) -> int:
        return sum(n for _, n in self.passengers)


@dataclass(frozen=True)
class Scanned:
    """A QR payload taken apart; not yet verified."""

    token: TicketToken
    static: bytes
    signature: bytes
    codes: tuple[int, ...]           # leg position in token.legs -> rotating code

    def code_of(self, leg_index: int) -> int:
        for pos, leg in enumerate(self.token.legs):
            if leg.index == leg_index:
                return self.codes[pos]
        raise KeyError(leg_index)


def encode_static(t: TicketToken) -> bytes:
    strings: dict[str, int] = {}

    def sidx(s: str) -> int:
        if s not in strings:
            strings[s] = len(strings)
        return strings[s]

    pax = [(sidx(c), n) for c, n in t.passengers]
    legs = [(leg.index, sidx(leg.board), sidx(leg.alight), _ts(leg.valid_from),
             _ts(leg.valid_until)) for leg in t.legs]
    if len(strings) > 255 or len(legs) > 255 or len(pax) > 255:
        raise ValueError("ticket too large")
    out = bytearray([VERSION])
    kid = t.key_id.encode("ascii")
    out += bytes([len(kid)]) + kid
    as_uuid = _canonical_uuid(t.booking)
    if as_uuid is not None:
        out += b"\x01" + as_uuid.bytes
    else:
        b = t.booking.encode()
        if len(b) > 255:
            raise ValueError("booking id too long")
        out += b"\x00" + bytes([len(b)]) + b
    out += _U32.pack(_ts(t.issued_at))
    out.append(len(strings))
    for s in strings:
        b = s.encode()
        if len(b) > 255:
            raise ValueError(f"station id too long: {s!r}")
        out += bytes([len(b)]) + b
    out.append(len(pax))
    for i, n in pax:
        out += bytes([i, n])
    out.append(len(legs))
    for leg in legs:
        out += _LEG.pack(*leg)
    return bytes(out)


def sign_static(t: TicketToken, private_key: Ed25519PrivateKey) -> bytes:
    """static | signature; deterministic (Ed25519), so the same booking gives the same bytes."""
    static = encode_static(t)
    return static + private_key.sign(_DOMAIN + static)


def qr_payload(signed: bytes, codes: Sequence[int]) -> str:
    """The QR text: signed static part plus one rotating code per leg (token order)."""
    if len(codes) > 255:
        raise ValueError("too many codes")
    return b45encode(signed + bytes([len(codes)]) + b"".join(_U32.pack(c) for c in codes))


@dataclass(frozen=True)
class SignedTicket:
    """A signed static part kept ready for the rotating codes: base45 is positional per two
    bytes, so the text of the signed part's whole byte pairs never changes and only the tail
    (an odd last byte, the code count and the codes) is encoded per refresh."""

    signed: bytes  # static | signature
    head: str      # base45 of its leading whole byte pairs
    tail: bytes    # its odd last byte, if any

    def qr(self, codes: Sequence[int]) -> str:
        """The same text as `qr_payload(signed, codes)`."""
        if len(codes) > 255:
            raise ValueError("too many codes")
        return self.head + b45encode(self.tail + bytes([len(codes)])
                                     + b"".join(_U32.pack(c) for c in codes))


def signed_ticket(signed: bytes) -> SignedTicket:
    """`signed` (static | signature, from sign_static) ready to take codes."""
    cut = len(signed) - len(signed) % 2
    return SignedTicket(signed, b45encode(signed[:cut]), signed[cut:])


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise Malformed("truncated payload")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self) -> int:
        if self.pos >= len(self.buf):
            raise Malformed("truncated payload")
        self.pos += 1
        return self.buf[self.pos - 1]

    def string(self) -> str:
        try:
            return self.take(self.u8()).decode()
        except UnicodeDecodeError:
            raise Malformed("bad text in payload") from None


def parse_qr(qr: str) -> Scanned:
    """Take a scanned payload apart. Raises Malformed; says nothing about authenticity."""
    if not isinstance(qr, str) or not qr or len(qr) > 4096:
        raise Malformed("empty or oversized payload")
    try:
        raw = b45decode(qr)
    except ValueError:
        raise Malformed("not a base45 payload") from None
    r = _Reader(raw)
    token = _read_static(r)
    static_end = r.pos
    sig = r.take(SIG_LEN)
    n = r.u8()
    if n != len(token.legs):
        raise Malformed("one rotating code per leg expected")
    codes = tuple(_U32.unpack(r.take(CODE_LEN))[0] for _ in range(n))
    if r.pos != len(raw):
        raise Malformed("trailing bytes")
    return Scanned(token, raw[:static_end], sig, codes)


def _read_static(r: _Reader) -> TicketToken:
    """The static part at the reader's position (left just after it)."""
    if r.u8() != VERSION:
        raise Malformed("unknown payload version")
    try:
        kid = r.take(r.u8()).decode("ascii")
    except UnicodeDecodeError:
        raise Malformed("bad key id") from None
    tag = r.u8()
    if tag == 1:
        booking = str(uuid.UUID(bytes=r.take(16)))
    elif tag == 0:
        booking = r.string()
    else:
        raise Malformed("bad booking tag")
    issued = _U32.unpack(r.take(4))[0]
    strings = [r.string() for _ in range(r.u8())]
    try:
        pax = tuple((strings[i], n) for i, n in (tuple(r.take(2)) for _ in range(r.u8())))
        legs = []
        for _ in range(r.u8()):
            idx, b, a, vf, vu = _LEG.unpack(r.take(_LEG.size))
            legs.append(TokenLeg(idx, strings[b], strings[a], _dt(vf), _dt(vu)))
    except IndexError:
        raise Malformed("string index out of range") from None
    return TicketToken(kid, booking, _dt(issued), pax, tuple(legs))


def _b45_len(n_bytes: int) -> int:
    """How many base45 characters `n_bytes` bytes take."""
    return n_bytes // 2 * 3 + n_bytes % 2 * 2


class ParsedTickets:
    """Signed parts already taken apart, by the base45 text of their whole byte pairs: bounded,
    per process. Base45 is positional per two bytes, so every QR of a signed part starts with
    exactly that text (`SignedTicket.head`) whatever its codes, and a scan that starts with a
    known head decodes only its tail (an odd last byte, the code count, the codes). The answer
    is `parse_qr`'s for every input: anything but a well-formed tail of the known shape is
    parsed in full (and refused as it would be)."""

    def __init__(self, size: int = 2_048) -> None:
        self.size = size
        # head -> [the QR's whole length, the token as parse_qr gives it (or, added by the
        # signer, as signed: made so at the first scan), parsed yet, static, signature, odd byte]
        self._d: dict[str, list[Any]] = {}
        self._heads: dict[int, set[int]] = {}   # a QR's length -> the head lengths it may have

    def parse(self, qr: str) -> Scanned:
        """What `parse_qr(qr)` returns or raises."""
        if isinstance(qr, str) and len(qr) <= 4096:
            for cut in self._heads.get(len(qr), ()):
                got = self._d.get(qr[:cut])
                if got is not None and got[0] == len(qr):
                    scanned = self._tail(qr[cut:], got)
                    if scanned is not None:
                        return scanned
        scanned = parse_qr(qr)
        signed_len = len(scanned.static) + len(scanned.signature)
        cut = signed_len - signed_len % 2
        self._store(qr[:cut // 2 * 3], scanned.token, True, scanned.static, scanned.signature,
                    scanned.signature[len(scanned.signature) - signed_len % 2:])
        return scanned

    @staticmethod
    def _tail(text: str, got: list[Any]) -> Scanned | None:
        _, token, parsed, static, sig, odd = got
        try:
            rest = b45decode_short(text)
        except ValueError:
            return None
        n = len(token.legs)
        if (len(rest) != len(odd) + 1 + CODE_LEN * n or rest[len(odd)] != n
                or rest[:len(odd)] != odd):
            return None
        if not parsed:      # what parse_qr reads back: whole seconds, UTC
            token = got[1] = TicketToken(
                token.key_id, token.booking, _dt(_ts(token.issued_at)), tuple(token.passengers),
                tuple(TokenLeg(leg.index, leg.board, leg.alight, _dt(_ts(leg.valid_from)),
                               _dt(_ts(leg.valid_until))) for leg in token.legs))
            got[2] = True
        return Scanned(token, static, sig, struct.unpack_from(f">{n}I", rest, len(odd) + 1))

    def add(self, signed: SignedTicket, token: TicketToken) -> None:
        """A signed part this process made (`signed_ticket(sign_static(token, ...))`): its
        scans parse from here (costs the signer a dict entry, not a parse)."""
        cut = len(signed.signed) - SIG_LEN
        self._store(signed.head, token, False, signed.signed[:cut], signed.signed[cut:],
                    signed.tail)

    def _store(self, head: str, token: TicketToken, parsed: bool, static: bytes, sig: bytes,
               odd: bytes) -> None:
        if len(self._d) >= self.size:
            self._d.clear()
            self._heads.clear()
        whole = len(head) + _b45_len(len(odd) + 1 + CODE_LEN * len(token.legs))
        self._d[head] = [whole, token, parsed, static, sig, odd]
        self._heads.setdefault(whole, set()).add(len(head))

    def __len__(self) -> int:
        return len(self._d)


def verify(scanned: Scanned, keys: Mapping[str, Ed25519PublicKey]) -> TicketToken:
    """The token, if its key id is known and its signature verifies; else UnknownKey/BadSignature."""
    key = keys.get(scanned.token.key_id)
    if key is None:
        raise UnknownKey("signing key not known", key_id=scanned.token.key_id)
    try:
        key.verify(scanned.signature, _DOMAIN + scanned.static)
    except InvalidSignature:
        raise BadSignature("signature does not verify") from None
    return scanned.token


class VerifiedTickets:
    """Signed parts known to verify, each with the key object it verifies under: bounded LRU,
    per process. Ed25519 verification is deterministic, so the same bytes (static part AND
    signature, exactly) under the same key cannot give another answer: a replayed or re-shown
    code skips the curve arithmetic, anything altered is a different key here and is verified.
    The key is looked up first as always (an unknown or retired key id stays `unknown_key`),
    and an entry counts only while the key map holds the very object it was stored with."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._d: OrderedDict[bytes, Ed25519PublicKey] = OrderedDict()

    def verify(self, scanned: Scanned, keys: Mapping[str, Ed25519PublicKey],
               own: tuple[Ed25519PrivateKey, Ed25519PublicKey] | None = None) -> TicketToken:
        """What `verify(scanned, keys)` returns or raises.

        `own`: the private key this process signs with and the verification key object held
        for its id. A signed part under that key object is first checked by signing its static
        part again, a third of a verification's cost: Ed25519 signing is deterministic, so a
        ticket we signed carries exactly that signature. Any other signature is verified as
        always, so the answer is the same for every input."""
        key = keys.get(scanned.token.key_id)
        if key is None:
            raise UnknownKey("signing key not known", key_id=scanned.token.key_id)
        signed = scanned.static + scanned.signature
        if self._d.get(signed) is key:
            self._d.move_to_end(signed)
            return scanned.token
        if not (own is not None and own[1] is key
                and own[0].sign(_DOMAIN + scanned.static) == scanned.signature):
            verify(scanned, keys)
        self.add(signed, key)
        return scanned.token

    def add(self, signed: bytes, key: Ed25519PublicKey) -> None:
        """`signed` (static | signature) verifies under `key`: checked by the caller, or signed
        here with its private key."""
        self._d[signed] = key
        self._d.move_to_end(signed)
        if len(self._d) > self.size:
            self._d.popitem(last=False)

    def __len__(self) -> int:
        return len(self._d)
