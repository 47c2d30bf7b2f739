"""A scan whose signed part this process signed or parsed before decodes only its codes, and
answers exactly what `parse_qr` answers, for genuine, altered and malformed payloads alike."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from ticketing.base45 import b45decode, b45decode_short, b45encode
from ticketing.checkin_errors import Malformed
from ticketing.tokens import (ParsedTickets, TicketToken, TokenLeg, parse_qr, sign_static,
                              signed_ticket)
from tests.api.checkin_fixtures import T0, journey, signer


def _outcome(parse, qr):
    try:
        return parse(qr)
    except Malformed as err:
        return ("malformed", str(err))


def _tokens(key):
    odd = journey(str(uuid.uuid4()), key_id=key.key_id)
    # a booking id as text, times with microseconds (parse_qr reads back whole seconds), one leg
    even = TicketToken(key.key_id, "BK-2026-0001", T0 + timedelta(microseconds=123456),
                       (("adult", 2), ("child", 1)),
                       (TokenLeg(4, "crh:QDN", "crh:JNX", T0 + timedelta(seconds=1.5),
                                 T0 + timedelta(hours=3, microseconds=7)),))
    return [odd, even]


def _variants(qr: str, rng: random.Random) -> list[str]:
    """The payload, other codes, and the tail altered every way a scanner or a forger might."""
    raw = b45decode(qr)
    out = [qr, qr + "0", qr + "00", qr + "000", qr[:-1], qr[:-2], qr[:-3], qr[:-15], qr.lower(),
           qr[:-1] + "é", qr[:-3] + ":::", qr[:-2] + "::", "", "x" * 5000, qr + "A" * 4096]
    for n in range(1, 4):   # another code count byte
        out.append(b45encode(raw[:-(1 + 4 * n)] + bytes([n]) + raw[-4 * n:]) if len(raw) > 4 * n else qr)
    for _ in range(60):
        pos = rng.randrange(len(raw))
        b = bytearray(raw)
        b[pos] ^= 1 << rng.randrange(8)
        out.append(b45encode(bytes(b)))
        text = list(qr)
        text[rng.randrange(len(text))] = rng.choice("0123456789ABCXYZ $%*+-./:a?")
        out.append("".join(text))
    return out


def test_same_answers_as_parse_qr_for_signed_here_parsed_before_and_altered():
    key = signer()
    rng = random.Random(7)
    for token in _tokens(key):
        signed = signed_ticket(sign_static(token, key.private))
        for codes_first, codes_next in (((1, 2, 3), (4, 5, 6)), ((0,), (99_999_999,))):
            first = signed.qr(list(codes_first[:len(token.legs)]) + [7] * (len(token.legs) - len(codes_first)))
            later = signed.qr(list(codes_next[:len(token.legs)]) + [8] * (len(token.legs) - len(codes_next)))
            for fill in ("signer", "scan"):
                cache = ParsedTickets()
                if fill == "signer":
                    cache.add(signed, token)
                else:
                    assert cache.parse(first) == parse_qr(first)
                for qr in [later, first, *_variants(later, rng)]:
                    assert _outcome(cache.parse, qr) == _outcome(parse_qr, qr), qr
                assert len(cache) >= 1


def test_a_scan_of_a_known_head_with_another_tail_is_the_other_ticket():
    key = signer()
    token = journey(str(uuid.uuid4()), key_id=key.key_id)
    signed = signed_ticket(sign_static(token, key.private))
    cache = ParsedTickets()
    cache.add(signed, token)
    # the same head, a signature's last byte changed (odd length: it sits in the tail)
    raw = bytearray(signed.signed + bytes([3]) + b"\x00\x00\x00\x01" * 3)
    assert len(signed.signed) % 2 == 1 and signed.tail
    raw[len(signed.signed) - 1] ^= 0xFF
    other = b45encode(bytes(raw))
    assert other.startswith(signed.head)
    assert cache.parse(other) == parse_qr(other)
    assert cache.parse(other).signature != parse_qr(signed.qr([1, 1, 1])).signature


def test_bounded():
    key = signer()
    cache = ParsedTickets(size=3)
    for _ in range(7):
        token = journey(str(uuid.uuid4()), key_id=key.key_id)
        cache.add(signed_ticket(sign_static(token, key.private)), token)
        assert len(cache) <= 3


@pytest.mark.parametrize("text", ["", "AB", "ABC", "GGW", "::", ":::", "a", "é", "0123456789ABCD",
                                  "FGW", "U5SD", "%69 VD92EX0"])
def test_short_decoding_is_b45decode(text):
    try:
        want = b45decode(text)
    except ValueError as err:
        with pytest.raises(ValueError) as got:
            b45decode_short(text)
        assert str(got.value) == str(err)
    else:
        assert b45decode_short(text) == want
