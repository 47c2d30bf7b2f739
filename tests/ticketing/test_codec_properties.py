"""Properties of the check-in codecs: base45, journey tokens, gate manifests (pure)."""

from __future__ import annotations


import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ticketing.base45 import b45decode, b45encode
from ticketing.checkin_errors import ManifestInvalid, Rejection
from ticketing.keyring import load_public, public_bytes
from ticketing.manifest import gate_key, open_manifest, seal_manifest
from ticketing.tokens import VerifiedTickets, parse_qr, qr_payload, sign_static, signed_ticket, verify

from tests.strategies import PURE, codes_for, manifests, signing_keys, text, ticket_tokens

B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


# --- base45 --------------------------------------------------------------------------------

@PURE
@given(st.binary(max_size=600))
def test_base45_round_trips_any_bytes(data):
    encoded = b45encode(data)
    assert set(encoded) <= set(B45)
    assert len(encoded) == 3 * (len(data) // 2) + 2 * (len(data) % 2)   # RFC 9285 sizes
    assert b45decode(encoded) == data


@PURE
@given(st.binary(max_size=300))
def test_base45_encoders_agree(data):
    """The table encoder writes exactly what the RFC's loop writes."""
    from ticketing.base45 import _b45encode_loop
    assert b45encode(data) == _b45encode_loop(data)


@PURE
@given(st.text(B45, max_size=60))
def test_base45_decodes_only_canonical_text(s):
    """Every value has one spelling: what decodes re-encodes to the very same text, so two
    different QR texts can never carry the same bytes."""
    try:
        data = b45decode(s)
    except ValueError:
        return
    assert b45encode(data) == s


# --- journey tokens ------------------------------------------------------------------------

@st.composite
def signed_tokens(draw):
    key = draw(signing_keys)
    token = draw(ticket_tokens(key_id=key.key_id))
    codes = draw(codes_for(len(token.legs)))
    return key, token, codes, sign_static(token, key.private)


@PURE
@given(signed_tokens())
def test_token_round_trips_and_verifies(case):
    key, token, codes, signed = case
    qr = qr_payload(signed, codes)
    assert signed_ticket(signed).qr(codes) == qr            # the cached head gives the same text
    scanned = parse_qr(qr)
    assert scanned.token == token and list(scanned.codes) == codes
    assert verify(scanned, {key.key_id: load_public(public_bytes(key.private))}) == token


@PURE
@given(signed_tokens(), st.data())
def test_a_flipped_byte_of_the_signed_part_never_verifies(case, data):
    key, token, codes, signed = case
    pos = data.draw(st.integers(0, len(signed) - 1), label="byte")
    flip = data.draw(st.integers(1, 255), label="xor")
    forged = bytearray(signed)
    forged[pos] ^= flip
    keys = {key.key_id: load_public(public_bytes(key.private))}
    cache = VerifiedTickets()
    cache.verify(parse_qr(qr_payload(signed, codes)), keys)   # the genuine one, remembered
    for check in (verify, cache.verify):
        with pytest.raises(Rejection):
            check(parse_qr(qr_payload(bytes(forged), codes)), keys)


@PURE
@given(signed_tokens(), signing_keys)
def test_a_token_signed_by_another_key_under_the_same_id_never_verifies(case, other):
    key, token, codes, _ = case
    assume(public_bytes(other.private) != public_bytes(key.private))
    forged = qr_payload(sign_static(token, other.private), codes)
    with pytest.raises(Rejection):
        verify(parse_qr(forged), {key.key_id: load_public(public_bytes(key.private))})


# --- gate manifests ------------------------------------------------------------------------

@st.composite
def sealed_manifests(draw):
    signer = draw(signing_keys)
    m = draw(manifests(signer))
    secret = draw(text)
    return signer, m, secret, seal_manifest(m, signer, gate_key(secret, m.gate))


@PURE
@given(sealed_manifests())
def test_manifest_seal_then_open_is_the_same_manifest(case):
    signer, m, secret, envelope = case
    key = gate_key(secret, m.gate)
    assert open_manifest(envelope, key) == m
    pinned = {signer.key_id: public_bytes(signer.private)}
    assert open_manifest(envelope, key, trusted_keys=pinned) == m


@PURE
@given(sealed_manifests(), text, text)
def test_a_manifest_never_opens_with_another_gates_key(case, other_secret, other_gate):
    _, m, secret, envelope = case
    assume((other_secret, other_gate) != (secret, m.gate))
    with pytest.raises(ManifestInvalid):
        open_manifest(envelope, gate_key(other_secret, other_gate))


@PURE
@given(sealed_manifests(), st.sampled_from(["gate", "station", "date"]), text)
def test_a_manifest_moved_to_another_gate_station_or_day_never_opens(case, field, value):
    _, m, secret, envelope = case
    assume(value != envelope[field])
    with pytest.raises(ManifestInvalid):
        open_manifest({**envelope, field: value}, gate_key(secret, m.gate))


@PURE
@given(sealed_manifests(), signing_keys)
def test_a_pinned_gate_refuses_a_manifest_signed_by_a_key_it_does_not_trust(case, other):
    signer, m, secret, envelope = case
    assume(other.key_id != signer.key_id)
    with pytest.raises(ManifestInvalid):
        open_manifest(envelope, gate_key(secret, m.gate),
                      trusted_keys={other.key_id: public_bytes(other.private)})
