"""The gate page's offline validator (maas/static/offline.js, WebCrypto in Chromium) gives the
same decisions as ticketing.gate.GateValidator for the same manifest, payloads and clock."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from maas.clock import FrozenClock
from ticketing.base45 import b45decode, b45encode
from ticketing.gate import GateValidator
from ticketing.keyring import SigningKey
from ticketing.manifest import ReplacedBy, gate_key, seal_manifest
from ticketing.tokens import TicketToken, TokenLeg
from ticketing.totp import new_secret

from tests.api.checkin_fixtures import (RAIL, RAIL_OPEN, STEP, T0, journey, manifest_for, qr_for,
                                        signer)
from tests.webapp.browser import wait_for

GATE_SECRET = "mk_test-gate-secret-not-a-real-one"

# in the page: open the manifest, then validate each case at its own instant, in order
_RUN = """
const [envelope, secret, cases, done] = arguments;
(async () => {
  const { openManifest, OfflineGate } = await import("/static/offline.js");
  const m = await openManifest(envelope, secret);
  let now = 0;
  const gate = new OfflineGate(m, () => now);
  const out = [];
  for (const [qr, at] of cases) { now = at; out.push(await gate.validate(qr)); }
  const { decisionView } = await import("/static/gate.js");
  const shown = out.filter(d => d.replaced_by).map(d => decisionView(d, "offline").textContent);
  done({ok: true, out, shown, taps: gate.taps.map(t => [t.booking, t.leg, t.step, t.at])});
})().catch(e => done({ok: false, error: String(e && e.message || e), name: e && e.name}));
"""


def _cases() -> tuple[Any, list[tuple[str, float]]]:
    """A manifest for the rail gate and payloads covering every reason code, with the instant
    each is presented."""
    key = signer()
    other = SigningKey("zz", Ed25519PrivateKey.generate())
    secret = new_secret()
    token = journey(key_id=key.key_id, passengers=(("adult", 1), ("child", 1)))
    cancelled = journey(key_id=key.key_id)
    cut_leg = journey(key_id=key.key_id)
    stranger = journey(key_id=key.key_id)            # not in the manifest
    vf, vu = RAIL_OPEN, RAIL_OPEN + timedelta(hours=5)
    twice = TicketToken(key.key_id, "b-there-and-back", T0, (("adult", 1),),
                        (TokenLeg(0, RAIL, "crh:JNX", vf, vu), TokenLeg(1, RAIL, "crh:TJN", vf, vu)))
    used = journey(key_id=key.key_id)
    swapped = journey(key_id=key.key_id)             # leg 1 exchanged for leg 3
    m = manifest_for([(token, secret), (cancelled, secret), (cut_leg, secret), (twice, secret),
                      (used, secret), (swapped, secret)], key,
                     revoked={cancelled.booking: None, cut_leg.booking: (1,), swapped.booking: (1,)},
                     used={used.booking: (1,)})
    m = replace(m, replaced={swapped.booking: {1: ReplacedBy(
        3, "crh:G-1130", datetime(2026, 11, 26, 11, 30, tzinfo=timezone(timedelta(hours=8))),
        "crh:QDN")}})
    m = replace(m, tz="Asia/Shanghai")     # taps are written in the station's time zone
    now = RAIL_OPEN + timedelta(minutes=5)
    good = qr_for(token, key, secret, now)
    raw = bytearray(b45decode(good))
    raw[-30] ^= 0x01                                  # inside the signature
    cases = [
        ("", now), ("NOT BASE45!!", now), (b45encode(b"\x02rest"), now),
        (qr_for(journey(key_id="zz"), other, secret, now), now),            # unknown_key
        (b45encode(bytes(raw)), now),                                        # bad_signature
        (qr_for(token, key, secret, now), RAIL_OPEN - timedelta(minutes=1)),  # not_yet_valid
        (qr_for(token, key, secret, now), T0 + timedelta(hours=9)),          # validity_over
        (qr_for(cancelled, key, secret, now), now),                          # cancelled
        (qr_for(cut_leg, key, secret, now), now),                            # leg cancelled
        (qr_for(swapped, key, secret, now), now),                            # leg replaced
        (qr_for(stranger, key, secret, now), now),                           # not_in_manifest
        (qr_for(token, key, secret, now, step_offset=-3), now),              # code_expired
        (qr_for(used, key, secret, now), now),                               # already_used
        (good, now),                                                         # accept
        (qr_for(token, key, secret, now + timedelta(seconds=STEP * 3)),
         now + timedelta(seconds=STEP * 3)),                                 # already_used
        (qr_for(twice, key, secret, now), now),                              # accept leg 0
        (qr_for(twice, key, secret, now), now),                              # replay: code_expired
        (qr_for(twice, key, secret, now + timedelta(seconds=STEP)),
         now + timedelta(seconds=STEP)),                                     # accept leg 1
    ]
    elsewhere = TicketToken(key.key_id, "b-elsewhere", T0, (("adult", 1),),
                            (TokenLeg(0, "qdbus:1001", "qdbus:2002", vf, vu),))
    cases.append((qr_for(elsewhere, key, secret, now), now))                # wrong_station
    return (m, key), cases


def _python(m: Any, cases: list[tuple[str, Any]]) -> tuple[list[tuple], list[tuple]]:
    clock = FrozenClock(T0)
    gate = GateValidator(m, clock)
    out = []
    for qr, at in cases:
        clock.set(at)
        d = gate.validate(qr)
        out.append((d.result, d.code, d.booking, d.leg, d.passengers,
                    d.replaced_by.as_json() if d.replaced_by else None))
    return out, [(t.booking, t.leg, t.step, t.at.isoformat()) for t in gate.taps]


async def test_offline_decisions_match_the_python_validator(client, browser) -> None:  # type: ignore[no-untyped-def]
    (m, key), cases = _cases()
    envelope = seal_manifest(m, key, gate_key(GATE_SECRET, m.gate))
    expected, taps = _python(m, cases)
    assert {c for _, c, *_ in expected} >= {
        "ok", "malformed", "unknown_key", "bad_signature", "not_yet_valid", "validity_over",
        "cancelled", "replaced", "not_in_manifest", "code_expired", "already_used", "wrong_station"}
    base = str(client.make_url("/"))

    def run() -> dict[str, Any]:
        browser.get(base + "#/gate")
        wait_for(lambda: browser.find_elements("id", "gate-validate"), "the gate page")
        return browser.execute_async_script(
            _RUN, json.loads(json.dumps(envelope)), GATE_SECRET,
            [[qr, at.timestamp()] for qr, at in cases])

    got = await asyncio.to_thread(run)
    assert got["ok"], got
    assert [(d["result"], d["code"], d["booking"], d["leg"], d["passengers"], d.get("replaced_by"))
            for d in got["out"]] == expected
    assert [tuple(t) for t in got["taps"]] == taps
    # the gate page shows where to board instead
    assert len(got["shown"]) == 1 and "crh:G-1130" in got["shown"][0], got["shown"]
    assert "2026-11-26T11:30:00+08:00" in got["shown"][0] and "crh:QDN" in got["shown"][0]
    assert taps and all(at.endswith("+08:00") for *_, at in taps)


async def test_a_manifest_for_another_gate_key_is_refused(client, browser) -> None:  # type: ignore[no-untyped-def]
    (m, key), _ = _cases()
    envelope = seal_manifest(m, key, gate_key(GATE_SECRET, m.gate))
    base = str(client.make_url("/"))

    def run(secret: str, env: dict[str, Any]) -> dict[str, Any]:
        browser.get(base + "#/gate")
        wait_for(lambda: browser.find_elements("id", "gate-validate"), "the gate page")
        return browser.execute_async_script(_RUN, env, secret, [])

    wrong_key = await asyncio.to_thread(run, GATE_SECRET + "x", envelope)
    assert not wrong_key["ok"] and "does not decrypt" in wrong_key["error"]
    moved = {**envelope, "station": "crh:JNX"}        # the header is bound by the AAD
    assert "does not decrypt" in (await asyncio.to_thread(run, GATE_SECRET, moved))["error"]
