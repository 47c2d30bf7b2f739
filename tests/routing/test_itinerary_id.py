"""Itinerary ids: round trip, compact and URL-safe, tamper-evident."""

import base64
import hashlib
import json
import zlib
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from routing.errors import InvalidItineraryId
from routing.itinerary import DEFAULT_SECRET, ItineraryKey, LegKey, decode_id, encode_id


def format1_id(key: ItineraryKey, secret: bytes = DEFAULT_SECRET, wbits: int = 10) -> str:
    """`key`'s id as encode_id made them before format 2: ``zlib(json)`` with a 1 KiB window
    (wbits 10, memory level 1), before that zlib's defaults (wbits 15)."""
    payload = [1, [list(v) for v in key.versions],
               [[leg.trip_id, leg.service_date.toordinal(), leg.board_pos, leg.alight_pos,
                 leg.from_stop, leg.to_stop, int(leg.departure.timestamp()),
                 int(leg.arrival.timestamp())] for leg in key.legs]]
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    z = zlib.compressobj(6, zlib.DEFLATED, wbits, 1 if wbits == 10 else 8)
    body = z.compress(raw) + z.flush()
    tag = hashlib.blake2b(body, key=secret[:64], digest_size=8).digest()
    return base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode("ascii")


def _body(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))[:-8]


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


# _key() as encode_id wrote it with zlib's default 32 KiB window (ids handed out before the
# encoder switched to a 1 KiB window); with the default secret, and with another secret
_HEAD = ("eJw9jbEOwjAMRP_lZg923MRNJgYkJIZKVQeGyAtiYIUKvp-mtN3e3UnvqlCteM5vEL4Kp4rX4_6Z"
         "W5QA9zavTVGWE1sRLswg05y7SExG2z4JDuxBYjnGJD3zhpoSN_9yVi4StDskgSKt9Xge8KfrcNsVUXaF6WJz9x_"
         "R9y3I")
_OLD_ID = _HEAD + "wkFDUHT-Ge0"
_OLD_ID_SECRET = _HEAD + "yM_EkuuMpGo"


def test_ids_handed_out_earlier_still_decode():
    assert decode_id(_OLD_ID) == _key()
    assert decode_id(_OLD_ID_SECRET, secret=b"deploy-secret") == _key()
    with pytest.raises(InvalidItineraryId):
        decode_id(_OLD_ID_SECRET)
    with pytest.raises(InvalidItineraryId):
        decode_id(_OLD_ID[:40] + ("A" if _OLD_ID[40] != "A" else "B") + _OLD_ID[41:])


def test_format1_id_is_how_ids_were_made():
    assert format1_id(_key(), wbits=15) == _OLD_ID
    assert format1_id(_key(), b"deploy-secret", wbits=15) == _OLD_ID_SECRET


def test_new_ids_are_no_longer_than_before():
    assert len(encode_id(_key())) <= len(_OLD_ID)


# _key() in format 2 (ids handed out from session 9 on): pinned, they must decode forever
_NEW_ID = ("AgIDAgUDAgIMAgKQ5bCwDYgdAgAGAQUDA8AW-IcBAAICaHNydjNxZGJ1c3YxMjMwMUAwNzoxMDowMFMx"
           "UzhHMTIzNFFETkpOV-i1nNfoBETD")


def test_ids_are_format_2():
    assert encode_id(_key()) == _NEW_ID
    assert decode_id(_NEW_ID) == _key()
    assert _body(_NEW_ID)[0] == 2          # text stored: short trip ids


def _nyc_key() -> ItineraryKey:
    """A real five-ride NYC itinerary: long trip ids, much alike (format 1 deflated them)."""
    nyc, t0 = "nyc-subway-2018:", datetime(2018, 6, 25, 19, 18, tzinfo=timezone.utc)
    rides = [("BSP18GEN-L045-Weekday-00_091650_L..N01R", 1, 3, "L28N", "L26N", 0, 210),
             ("ASP18GEN-3086-Weekday-00_092250_3..N01R", 3, 7, "254N", "250N", 540, 990),
             ("ASP18GEN-4097-Weekday-00_093450_4..N06R", 0, 2, "250N", "235N", 990, 1530),
             ("BSP18GEN-D076-Weekday-00_089050_D..S07R", 21, 27, "R31S", "B16S", 1830, 2820),
             ("BSP18GEN-N091-Weekday-00_095700_N..N42R", 7, 8, "N04N", "N03N", 3120, 3270)]
    return ItineraryKey((("nyc-subway-2018", "1"),), tuple(
        LegKey(nyc + trip, date(2018, 6, 25), board, alight, nyc + a, nyc + b,
               t0 + timedelta(seconds=dep), t0 + timedelta(seconds=arr))
        for trip, board, alight, a, b, dep, arr in rides))


def test_long_alike_trip_ids_are_deflated_and_no_longer_than_before():
    key = _nyc_key()
    s = encode_id(key)
    assert _body(s)[0] == 3
    assert decode_id(s) == key
    assert len(s) <= len(format1_id(key))
    shorter = replace(key, legs=key.legs[:2])   # two rides: stored, and no longer either
    assert _body(encode_id(shorter))[0] == 2
    assert len(encode_id(shorter)) <= len(format1_id(shorter))


def test_a_prefix_not_on_every_string_of_a_leg_is_written_whole():
    leg = _key().legs[1]
    for odd in (replace(leg, to_stop="qdbus:S1"), replace(leg, from_stop="S1"),
                replace(leg, trip_id="rail:G1234"), replace(leg, trip_id="G1234")):
        key = replace(_key(), legs=(_key().legs[0], odd))
        assert decode_id(encode_id(key)) == key


@pytest.mark.parametrize("change", [
    {"alight_pos": 2},                          # = board_pos
    {"board_pos": -1},
    {"departure": datetime(2026, 11, 25, 0, 5)},    # naive
])
def test_a_malformed_leg_key_is_not_encoded(change):
    key = replace(_key(), legs=(replace(_key().legs[1], **change),))
    with pytest.raises(ValueError):
        encode_id(key)


def test_the_memos_stay_bounded(monkeypatch):
    from routing import itinerary

    monkeypatch.setattr(itinerary, "_IDS_MAX", 2)
    itinerary._IDS.clear()
    keys = [replace(_key(), legs=_key().legs[:1]), replace(_key(), legs=_key().legs[1:]), _key()]
    for secret in [b"s%d" % i for i in range(20)]:
        ids = [encode_id(k, secret) for k in keys]
        assert len(itinerary._IDS) <= 2 and len(itinerary._KEYED) <= 16
        assert [decode_id(s, secret) for s in ids] == keys
        assert [encode_id(k, secret) for k in keys] == ids


def test_leg_times_are_written_as_their_whole_unix_seconds():
    """A leg's times enter the body as ``int(t.timestamp())`` (whole seconds, truncated), in
    whatever zone they are given; sub-second times (before 1970 too) round as that does."""
    from zoneinfo import ZoneInfo

    from routing import itinerary

    key = _key()
    shanghai = ZoneInfo("Asia/Shanghai")
    local = replace(key, legs=tuple(replace(leg, departure=leg.departure.astimezone(shanghai),
                                            arrival=leg.arrival.astimezone(shanghai))
                                    for leg in key.legs))
    assert encode_id(local) == _NEW_ID
    utc = timezone.utc
    for dep in (datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=utc),
                datetime(1969, 12, 31, 23, 59, 59, tzinfo=utc),
                datetime(2026, 11, 25, 0, 5, 0, 999999, tzinfo=utc)):
        arr = dep + timedelta(seconds=90, microseconds=7)
        leg = replace(key.legs[1], departure=dep, arrival=arr)
        body = itinerary._pack(replace(key, legs=(leg,)))
        got = decode_id(encode_id(replace(key, legs=(leg,)))).legs[0]
        assert int(got.departure.timestamp()) == int(dep.timestamp())
        assert int(got.arrival.timestamp()) == int(leg.arrival.timestamp())
        assert body == itinerary._pack(replace(key, legs=(replace(
            leg, departure=got.departure, arrival=got.arrival),)))


def test_the_versions_parts_are_kept_per_versions_and_bounded():
    from routing import itinerary

    key = _key()
    itinerary._VERSIONS.clear()
    for i in range(100):
        other = replace(key, versions=(("hsr", f"v{i}"), ("qdbus", "v12")))
        assert decode_id(encode_id(other)) == other
        assert len(itinerary._VERSIONS) <= 64
    assert encode_id(key) == _NEW_ID and key.versions in itinerary._VERSIONS
