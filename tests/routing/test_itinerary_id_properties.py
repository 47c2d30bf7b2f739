"""Properties of itinerary ids: exact round trip, and no alteration ever decodes to another key;
for the ids made now (format 2, its text stored or deflated) and those handed out before
(format 1, either zlib window)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from routing.errors import InvalidItineraryId
from routing.itinerary import ItineraryKey, decode_id, encode_id

from tests.routing.test_itinerary_id import format1_id
from tests.strategies import PURE, feed_itinerary_keys, itinerary_keys

URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
secrets = st.binary(min_size=1, max_size=64)
keys = st.one_of(itinerary_keys, feed_itinerary_keys())
# (key, secret) -> an id of it in each format
ids = st.sampled_from([encode_id,
                       lambda key, secret: format1_id(key, secret, wbits=10),
                       lambda key, secret: format1_id(key, secret, wbits=15)])


def _blob(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _id(blob: bytes) -> str:
    return base64.urlsafe_b64encode(blob).rstrip(b"=").decode()


@PURE
@given(keys, secrets)
def test_round_trip_is_exact_and_url_safe(key, secret):
    s = encode_id(key, secret)
    assert set(s) <= set(URL_SAFE)
    got = decode_id(s, secret)
    assert got == key and hash(got) == hash(key)
    assert encode_id(key, secret) == s


@PURE
@given(keys, secrets)
def test_format_1_ids_still_decode(key, secret):
    assert decode_id(format1_id(key, secret, wbits=15), secret) == key
    assert decode_id(format1_id(key, secret, wbits=10), secret) == key


@PURE
@given(keys, secrets, ids, st.data())
def test_a_changed_byte_is_always_detected(key, secret, make, data):
    blob = bytearray(_blob(make(key, secret)))
    pos = data.draw(st.integers(0, len(blob) - 1), label="byte")
    blob[pos] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(InvalidItineraryId):
        decode_id(_id(bytes(blob)), secret)


@PURE
@given(keys, secrets, ids, st.data())
def test_a_changed_character_never_decodes_to_another_key(key, secret, make, data):
    """Either refused, or (a change only in the unused low bits of the last base64
    character) the same key: never a different itinerary."""
    s = make(key, secret)
    pos = data.draw(st.integers(0, len(s) - 1), label="position")
    c = data.draw(st.sampled_from(URL_SAFE).filter(lambda c: c != s[pos]), label="character")
    try:
        got = decode_id(s[:pos] + c + s[pos + 1:], secret)
    except InvalidItineraryId:
        return
    assert got == key


@PURE
@given(keys, secrets, secrets, ids)
def test_an_id_from_another_installation_is_refused(key, secret, other, make):
    assume(other != secret)
    with pytest.raises(InvalidItineraryId):
        decode_id(make(key, secret), other)


@PURE
@given(st.sampled_from([2, 3]), st.binary(max_size=300), secrets)
def test_any_tagged_format_2_body_decodes_or_is_refused(kind, rest, secret):
    """A body signed with the secret (only its holder can) is read or refused as malformed,
    never raises anything else."""
    body = bytes([kind]) + rest
    tag = hashlib.blake2b(body, key=secret, digest_size=8).digest()
    try:
        got = decode_id(_id(body + tag), secret)
    except InvalidItineraryId:
        return
    assert isinstance(got, ItineraryKey)
