"""The offline gate validator: every reason code, with only a manifest and an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from maas.clock import FrozenClock
from ticketing.base45 import b45decode, b45encode
from ticketing.gate import ACCEPT, GateValidator
from ticketing.totp import new_secret

from tests.api.checkin_fixtures import (RAIL, RAIL_OPEN, STEP, T0, journey, manifest_for, qr_for,
                                        signer)

@pytest.fixture
def world():
    key = signer()
    token = journey(key_id=key.key_id, passengers=(("adult", 1), ("child", 1)))
    secret = new_secret()
    clock = FrozenClock(RAIL_OPEN + timedelta(minutes=5))
    return key, token, secret, clock


def test_accepts_once_then_already_used(world):
    key, token, secret, clock = world
    gate = GateValidator(manifest_for([(token, secret)], key), clock)
    d = gate.validate(qr_for(token, key, secret, clock.now()))
    assert (d.result, d.code, d.booking, d.leg, d.passengers) == ("accept", ACCEPT, token.booking, 1, 2)
    clock.advance(STEP * 3)
    d2 = gate.validate(qr_for(token, key, secret, clock.now()))
    assert (d2.result, d2.code) == ("reject", "already_used")
    assert [(t.booking, t.leg) for t in gate.taps] == [(token.booking, 1)]


def test_replay_of_an_accepted_code_at_a_second_gate_of_another_leg(world):
    """Two legs board at the same station (there and back): the code accepted for the first
    leg cannot admit anyone to the second within its step."""
    key, _, secret, clock = world
    from ticketing.tokens import TicketToken, TokenLeg
    vf, vu = RAIL_OPEN, RAIL_OPEN + timedelta(hours=5)
    token = TicketToken(key.key_id, "b-there-and-back", T0, (("adult", 1),),
                        (TokenLeg(0, RAIL, "crh:JNX", vf, vu), TokenLeg(1, RAIL, "crh:TJN", vf, vu)))
    gate = GateValidator(manifest_for([(token, secret)], key), clock)
    qr = qr_for(token, key, secret, clock.now())
    assert gate.validate(qr).code == ACCEPT
    replay = gate.validate(qr)
    assert (replay.result, replay.code) == ("reject", "code_expired")
    clock.advance(STEP)
    assert gate.validate(qr_for(token, key, secret, clock.now())).leg == 1


def test_screenshot_expires_after_skew(world):
    key, token, secret, clock = world
    gate = GateValidator(manifest_for([(token, secret)], key), clock)
    shot = qr_for(token, key, secret, clock.now())
    clock.advance(STEP * 2)
    assert gate.validate(shot).code == "code_expired"
    assert gate.taps == []


def test_clock_skew_at_step_boundaries(world):
    key, token, secret, _ = world
    boundary = RAIL_OPEN + timedelta(seconds=STEP * 40)
    shown = qr_for(token, key, secret, boundary - timedelta(seconds=0.5))   # phone, old step
    # gate clock one whole step ahead of the phone: still accepted
    clock = FrozenClock(boundary + timedelta(seconds=STEP - 0.5))
    assert GateValidator(manifest_for([(token, secret)], key), clock).validate(shown).code == ACCEPT
    # gate clock just over two steps ahead: refused
    clock = FrozenClock(boundary + timedelta(seconds=STEP))
    assert GateValidator(manifest_for([(token, secret)], key), clock).validate(shown).code == "code_expired"
    # phone clock one step ahead of the gate: accepted
    ahead = qr_for(token, key, secret, boundary + timedelta(seconds=1))
    clock = FrozenClock(boundary - timedelta(seconds=1))
    assert GateValidator(manifest_for([(token, secret)], key), clock).validate(ahead).code == ACCEPT


def test_wrong_station(world):
    key, token, secret, clock = world
    gate = GateValidator(manifest_for([(token, secret)], key, station="crh:JNX"), clock)
    assert gate.validate(qr_for(token, key, secret, clock.now())).code == "wrong_station"


def test_not_yet_valid_and_validity_over(world):
    key, token, secret, _ = world
    m = manifest_for([(token, secret)], key)
    early = FrozenClock(RAIL_OPEN - timedelta(seconds=1))
    d = GateValidator(m, early).validate(qr_for(token, key, secret, early.now()))
    assert (d.code, d.leg) == ("not_yet_valid", 1)
    late = FrozenClock(token.legs[1].valid_until + timedelta(seconds=1))
    assert GateValidator(m, late).validate(qr_for(token, key, secret, late.now())).code == "validity_over"
    edge = FrozenClock(token.legs[1].valid_until)
    assert GateValidator(m, edge).validate(qr_for(token, key, secret, edge.now())).code == ACCEPT


def test_cancelled_booking_and_cancelled_leg(world):
    key, token, secret, clock = world
    qr = qr_for(token, key, secret, clock.now())
    whole = manifest_for([], key, revoked={token.booking: None})
    assert GateValidator(whole, clock).validate(qr).code == "cancelled"
    leg_only = manifest_for([(token, secret)], key, revoked={token.booking: (1,)})
    assert GateValidator(leg_only, clock).validate(qr).code == "cancelled"
    other_leg = manifest_for([(token, secret)], key, revoked={token.booking: (0,)})
    assert GateValidator(other_leg, clock).validate(qr).code == ACCEPT


def test_unknown_key_bad_signature_malformed(world):
    key, token, secret, clock = world
    stranger = signer()
    m = manifest_for([(token, secret)], key)
    gate = GateValidator(m, clock)
    foreign = journey(token.booking, key_id=stranger.key_id)
    assert gate.validate(qr_for(foreign, stranger, secret, clock.now())).code == "unknown_key"
    raw = bytearray(b45decode(qr_for(token, key, secret, clock.now())))
    raw[20] ^= 0x01                                   # inside the signed static part
    d = gate.validate(b45encode(bytes(raw)))
    assert (d.code, d.booking) == ("bad_signature", None)   # nothing unverified is echoed
    assert gate.validate("NOT A TICKET").code == "malformed"
    assert gate.taps == []


def test_not_in_manifest(world):
    key, token, secret, clock = world
    gate = GateValidator(manifest_for([], key), clock)
    assert gate.validate(qr_for(token, key, secret, clock.now())).code == "not_in_manifest"


def test_leg_entered_online_before_the_manifest_was_built(world):
    key, token, secret, clock = world
    m = manifest_for([(token, secret)], key, used={token.booking: (1,)})
    assert GateValidator(m, clock).validate(qr_for(token, key, secret, clock.now())).code == "already_used"


def test_taps_serialise_for_upload(world):
    key, token, secret, clock = world
    gate = GateValidator(manifest_for([(token, secret)], key), clock)
    gate.validate(qr_for(token, key, secret, clock.now()))
    (tap,) = gate.taps
    j = tap.as_json()
    assert j["booking"] == token.booking and j["leg"] == 1 and j["at"].endswith("+00:00")
    assert len(j["tap_id"]) == 36


def test_a_gate_cannot_mint_codes_for_another_stations_leg(world):
    """The bus operator's gate holds the secret of the bus leg only: codes it makes from it
    do not open the rail leg of the same ticket."""
    from ticketing.tokens import qr_payload, sign_static
    from ticketing.totp import code_for, step_of

    key, token, secret, clock = world
    bus_manifest = manifest_for([(token, secret)], key, station="qdbus:1001", gate="bus-1")
    stolen = bus_manifest.entries[token.booking].secrets
    assert set(stolen) == {0}
    step = step_of(clock.now(), STEP)
    forged = qr_payload(sign_static(token, key.private), [code_for(stolen[0], step)] * 3)
    rail = GateValidator(manifest_for([(token, secret)], key), clock)
    assert rail.validate(forged).code == "code_expired"
    assert rail.validate(qr_for(token, key, secret, clock.now())).code == ACCEPT
