"""Properties of itinerary ids: exact round trip, and no alteration ever decodes to another key."""

from __future__ import annotations

import base64

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from routing.errors import InvalidItineraryId
from routing.itinerary import decode_id, encode_id

from tests.strategies import PURE, itinerary_keys

URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
secrets = st.binary(min_size=1, max_size=64)


def _blob(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _id(blob: bytes) -> str:
    return base64.urlsafe_b64encode(blob).rstrip(b"=").decode()


@PURE
@given(itinerary_keys, secrets)
def test_round_trip_is_exact_and_url_safe(key, secret):
    s = encode_id(key, secret)
    assert set(s) <= set(URL_SAFE)
    assert decode_id(s, secret) == key
    assert encode_id(key, secret) == s


@PURE
@given(itinerary_keys, secrets, st.data())
def test_a_changed_byte_is_always_detected(key, secret, data):
    blob = bytearray(_blob(encode_id(key, secret)))
    pos = data.draw(st.integers(0, len(blob) - 1), label="byte")
    blob[pos] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(InvalidItineraryId):
        decode_id(_id(bytes(blob)), secret)


@PURE
@given(itinerary_keys, secrets, st.data())
def test_a_changed_character_never_decodes_to_another_key(key, secret, data):
    """Either refused, or (a change only in the unused low bits of the last base64
    character) the same key: never a different itinerary."""
    s = encode_id(key, secret)
    pos = data.draw(st.integers(0, len(s) - 1), label="position")
    c = data.draw(st.sampled_from(URL_SAFE).filter(lambda c: c != s[pos]), label="character")
    try:
        got = decode_id(s[:pos] + c + s[pos + 1:], secret)
    except InvalidItineraryId:
        return
    assert got == key


@PURE
@given(itinerary_keys, secrets, secrets)
def test_an_id_from_another_installation_is_refused(key, secret, other):
    assume(other != secret)
    with pytest.raises(InvalidItineraryId):
        decode_id(encode_id(key, secret), other)
