"""Sealing with data-at-rest keys (pure); signing-key rotation is tested on PostgreSQL in
tests/api/test_checkin.py."""

from __future__ import annotations

import os

import pytest

from ticketing.keyring import seal, unseal


class Keys:
    def __init__(self, keys, active):
        self.keys, self.active = keys, active


def test_seal_round_trip_and_key_rotation():
    k1 = Keys({"k1": os.urandom(32)}, "k1")
    kid, blob = seal(k1, b"secret", b"aad")
    assert kid == "k1" and b"secret" not in blob
    both = Keys({"k1": k1.keys["k1"], "k2": os.urandom(32)}, "k2")
    assert unseal(both, kid, blob, b"aad") == b"secret"       # old data still opens
    assert seal(both, b"x", b"")[0] == "k2"                     # new data uses the new key


def test_seal_is_bound_to_its_aad_and_key():
    k = Keys({"k1": os.urandom(32)}, "k1")
    kid, blob = seal(k, b"secret", b"booking:1")
    with pytest.raises(ValueError):
        unseal(k, kid, blob, b"booking:2")
    with pytest.raises(ValueError):
        unseal(Keys({"k1": os.urandom(32)}, "k1"), kid, blob, b"booking:1")
    with pytest.raises(KeyError):
        unseal(k, "k9", blob, b"booking:1")
    assert seal(k, b"secret", b"a")[1] != seal(k, b"secret", b"a")[1]   # fresh nonce each time
