"""Personal data: passenger validation per document type, masking, AES-GCM with key ids."""

from __future__ import annotations

import os
from datetime import date

import pytest

from ticketing.errors import DecryptionFailed, InvalidPassenger, UnknownCategory, UnknownKey
from ticketing.passengers import mask_id, mask_name, prc_id_check_digit, validate_passenger
from ticketing.pii import Keyring, pii_aad

VALID_ID = "11010519491231002X"   # the GB 11643 example: check digit X


def test_prc_check_digit_iso7064():
    assert prc_id_check_digit(VALID_ID[:17]) == "X"
    assert prc_id_check_digit("44052418800101001") == "4"


def test_valid_passengers_are_normalised():
    p = validate_passenger(0, "  张  三 ", VALID_ID.lower(), "senior")
    assert (p.name, p.id_number, p.category, p.id_type) == ("张 三", VALID_ID, "senior", "prc_id")
    assert validate_passenger(1, "Li Wei", "e12345678", id_type="passport").id_number == "E12345678"
    assert validate_passenger(2, "Chan", "H12345678", id_type="hk_macao_permit")


@pytest.mark.parametrize("name,number,id_type,field", [
    ("", VALID_ID, "prc_id", "passengers[3].name"),
    ("   ", VALID_ID, "prc_id", "passengers[3].name"),
    ("A\x00B", VALID_ID, "prc_id", "passengers[3].name"),
    ("张三", "110105194912310021", "prc_id", "passengers[3].id_number"),   # wrong check digit
    ("张三", "11010519491331002X", "prc_id", "passengers[3].id_number"),   # month 13
    ("张三", "99010519491231002X", "prc_id", "passengers[3].id_number"),   # no region 99
    ("张三", "1101051949123100", "prc_id", "passengers[3].id_number"),     # 16 chars
    ("张三", "E123", "passport", "passengers[3].id_number"),              # too short
    ("张三", "EABCDEFGH", "passport", "passengers[3].id_number"),          # no digit
    ("张三", "E12345678", "driving_licence", "passengers[3].id_type"),
])
def test_invalid_fields_are_named(name, number, id_type, field):
    with pytest.raises(InvalidPassenger) as err:
        validate_passenger(3, name, number, "adult", id_type)
    assert err.value.extra["field"] == field and err.value.status == 422


def test_birth_date_in_the_future_is_rejected_when_today_is_known():
    future = "110105" + "20300101" + "001"
    number = future + prc_id_check_digit(future)
    assert validate_passenger(0, "A", number).id_number == number
    with pytest.raises(InvalidPassenger):
        validate_passenger(0, "A", number, today=date(2026, 1, 1))


def test_unknown_category():
    with pytest.raises(UnknownCategory) as err:
        validate_passenger(0, "A", VALID_ID, "student")
    assert err.value.extra["field"] == "passengers[0].category"


def test_masks_hide_the_birth_date_and_most_of_the_name():
    assert mask_name("张三丰") == "张**" and mask_name("Li Wei") == "L* W**"
    assert mask_id(VALID_ID) == "110*************2X"
    assert "19491231" not in mask_id(VALID_ID)


def ring(active: str = "k1", **extra: bytes) -> Keyring:
    return Keyring({"k1": b"1" * 32, **extra}, active)


def test_round_trip_and_bound_to_its_row():
    kr = ring()
    aad = pii_aad("bk_1", 0, "name")
    kid, blob = kr.encrypt("张三", aad)
    assert kid == "k1" and "张三".encode() not in blob
    assert kr.decrypt(kid, blob, aad) == "张三"
    with pytest.raises(DecryptionFailed):
        kr.decrypt(kid, blob, pii_aad("bk_2", 0, "name"))    # copied into another booking
    with pytest.raises(DecryptionFailed):
        kr.decrypt(kid, blob[:-1] + bytes([blob[-1] ^ 1]), aad)
    assert kr.encrypt("张三", aad)[1] != blob                 # fresh nonce every time


def test_rotation_keeps_old_rows_readable_and_moves_them():
    old = ring()
    aad = pii_aad("bk_1", 0, "id_number")
    kid, blob = old.encrypt(VALID_ID, aad)
    new = ring("k2", k2=os.urandom(32))
    assert new.decrypt(kid, blob, aad) == VALID_ID
    kid2, blob2 = new.reencrypt(kid, blob, aad)
    assert kid2 == "k2" and new.decrypt(kid2, blob2, aad) == VALID_ID
    with pytest.raises(UnknownKey):
        Keyring({"k2": new.keys["k2"]}, "k2").decrypt(kid, blob, aad)
