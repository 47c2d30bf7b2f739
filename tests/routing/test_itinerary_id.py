"""Itinerary ids: round trip, compact and URL-safe, tamper-evident."""

from datetime import date, datetime, timezone

import pytest

from routing.errors import InvalidItineraryId
from routing.itinerary import ItineraryKey, LegKey, decode_id, encode_id


def _key() -> ItineraryKey:
    utc = timezone.utc
    return ItineraryKey(
        versions=(("hsr", "v3"), ("qdbus", "v12")),
        legs=(
            LegKey("qdbus:301@07:10:00", date(2026, 11, 25), 0, 7, "qdbus:S1", "qdbus:S8",
                   datetime(2026, 11, 24, 23, 10, tzinfo=utc), datetime(2026, 11, 24, 23, 41, tzinfo=utc)),
            LegKey("hsr:G1234", date(2026, 11, 25), 2, 5, "hsr:QDN", "hsr:JNW",
                   datetime(2026, 11, 25, 0, 5, tzinfo=utc), datetime(2026, 11, 25, 2, 30, tzinfo=utc)),
        ),
    )


def test_round_trip_is_exact_and_url_safe():
    key = _key()
    s = encode_id(key)
    assert decode_id(s) == key
    assert encode_id(key) == s  # deterministic, so ids are stable
    assert set(s) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(s) < 250


def test_every_single_character_change_is_detected():
    s = encode_id(_key())
    for i in range(0, len(s), 3):
        c = "A" if s[i] != "A" else "B"
        with pytest.raises(InvalidItineraryId):
            decode_id(s[:i] + c + s[i + 1:])


@pytest.mark.parametrize("bad", ["", "x", "!!!!", "AAAAAAAAAAAAAAAAAAAA"])
def test_garbage_is_rejected(bad):
    with pytest.raises(InvalidItineraryId) as err:
        decode_id(bad)
    assert err.value.status == 400 and err.value.code == "invalid_itinerary_id"


def test_other_secret_is_rejected():
    s = encode_id(_key(), secret=b"one")
    with pytest.raises(InvalidItineraryId):
        decode_id(s, secret=b"two")
