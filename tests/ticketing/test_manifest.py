"""Manifest crypto: signed by us, encrypted for one gate, opened with no network."""

from __future__ import annotations

import base64
import json

import pytest

from maas.clock import FrozenClock
from ticketing.checkin_errors import ManifestInvalid
from ticketing.gate import ACCEPT, GateValidator
from ticketing.manifest import gate_key, open_manifest, seal_manifest
from ticketing.totp import new_secret

from tests.api.checkin_fixtures import RAIL_OPEN, journey, keys_of, manifest_for, qr_for, signer

GATE_TOKEN = "gate-key-of-g-rail-1-0123456789abcdef"


@pytest.fixture
def sealed():
    key = signer()
    token = journey(key_id=key.key_id)
    secret = new_secret()
    m = manifest_for([(token, secret)], key)
    return key, token, secret, m, seal_manifest(m, key, gate_key(GATE_TOKEN, m.gate))


def test_round_trip_and_offline_validation(sealed):
    key, token, secret, m, env = sealed
    opened = open_manifest(env, gate_key(GATE_TOKEN, m.gate))
    assert opened == m
    clock = FrozenClock(RAIL_OPEN)
    assert GateValidator(opened, clock).validate(qr_for(token, key, secret, clock.now())).code == ACCEPT


def test_secret_is_not_readable_without_the_gate_key(sealed):
    _, _, secret, m, env = sealed
    text = json.dumps(env)
    for form in (secret.hex(), base64.b64encode(secret).decode(), base64.b32encode(secret).decode()):
        assert form not in text
    with pytest.raises(ManifestInvalid):
        open_manifest(env, gate_key("another gate's key", m.gate))
    with pytest.raises(ManifestInvalid):
        open_manifest(env, gate_key(GATE_TOKEN, "g-other"))


def test_header_is_bound_to_the_ciphertext(sealed):
    _, _, _, m, env = sealed
    with pytest.raises(ManifestInvalid):
        open_manifest({**env, "station": "crh:JNX"}, gate_key(GATE_TOKEN, m.gate))
    ct = bytearray(base64.b64decode(env["ciphertext"]))
    ct[5] ^= 1
    with pytest.raises(ManifestInvalid):
        open_manifest({**env, "ciphertext": base64.b64encode(bytes(ct)).decode()},
                      gate_key(GATE_TOKEN, m.gate))


def test_signature_checked_against_pinned_keys(sealed):
    key, _, _, m, env = sealed
    k = gate_key(GATE_TOKEN, m.gate)
    assert open_manifest(env, k, trusted_keys=keys_of(key)) == m
    with pytest.raises(ManifestInvalid):
        open_manifest(env, k, trusted_keys=keys_of(signer()))
    # a manifest signed by a key that is not the one it names
    impostor = signer()
    forged = seal_manifest(m, type(key)(key.key_id, impostor.private), k)
    with pytest.raises(ManifestInvalid):
        open_manifest(forged, k)


def test_repr_never_shows_secrets(sealed):
    _, _, secret, m, _ = sealed
    text = repr(m) + repr(list(m.entries.values()))
    assert secret.hex() not in text and base64.b64encode(secret).decode() not in text
    assert "bytes" not in text and "\\x" not in text
