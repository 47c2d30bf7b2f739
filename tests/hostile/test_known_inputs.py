"""Client input that once answered 500 (issue 12): each now gets its 4xx with a stable code,
decided in the shared request parsing (maas/http.py) or the request models."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import bearer
from tests.api.conftest import live  # noqa: F401  (fixture)


def _tap(**over):
    tap = {"tap_id": uuid.uuid4().hex, "booking": str(uuid.uuid4()), "leg": 0,
           "at": "2026-11-26T08:00:00+00:00", "step": 1}
    tap.update(over)
    return tap


async def _problem(r, status: int, code: str) -> dict:
    body = await r.text()
    assert (r.status, r.content_type) == (status, "application/problem+json"), (r.status, body)
    got = await r.json()
    assert got["code"] == code, got
    assert "Traceback" not in body
    return got


@pytest.mark.parametrize("over, field", [({"leg": 2**31}, "taps.0.leg"), ({"step": 2**40}, "taps.0.step"),
                                         ({"leg": 10**30}, "taps.0.leg"), ({"step": -1}, "taps.0.step")])
async def test_taps_with_numbers_beyond_int32(client, make_key, over, field):
    key = await make_key("gate", gate="g1", station="crh:QDN")
    r = await client.post("/v1/gates/g1/taps", json={"taps": [_tap(**over)]}, headers=bearer(key))
    got = await _problem(r, 422, "validation_failed")
    assert [e["field"] for e in got["errors"]] == [field]


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_a_tap_at_the_ends_of_the_calendar(client, make_key, at):
    # converting these to UTC overflowed (500)
    key = await make_key("gate", gate="g1", station="crh:QDN")
    r = await client.post("/v1/gates/g1/taps", json={"taps": [_tap(at=at)]}, headers=bearer(key))
    got = await _problem(r, 422, "validation_failed")
    assert [e["field"] for e in got["errors"]] == ["taps.0.at"]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
async def test_a_manifest_for_the_ends_of_the_calendar(client, make_key, day):
    # the manifest window (the day, widened by hours) overflowed (500)
    key = await make_key("gate", gate="g1", station="crh:QDN")
    r = await client.get("/v1/gates/g1/manifest", params={"date": day}, headers=bearer(key))
    got = await _problem(r, 400, "invalid_parameter")
    assert [e["field"] for e in got["errors"]] == ["date"]


async def test_a_nul_or_a_lone_surrogate_in_any_string(client, make_key, make_account):
    key = await make_key("gate", gate="g1", station="crh:QDN")
    r = await client.post("/v1/gates/g1/taps", json={"taps": [_tap(booking="a\x00b")]}, headers=bearer(key))
    got = await _problem(r, 422, "validation_failed")
    assert got["errors"][0]["field"] == "taps.0.booking"
    r = await client.post("/v1/gates/g1/validate", data='{"qr": "\\ud800x"}', headers={
        **bearer(key), "Content-Type": "application/json"})
    await _problem(r, 422, "validation_failed")
    r = await client.post("/v1/gates/g1/validate", data='{"q\\u0000r": "x"}', headers={
        **bearer(key), "Content-Type": "application/json"})
    await _problem(r, 422, "validation_failed")
    _, tok = await make_account()
    for path in ("/v1/bookings/%00", "/v1/bookings/a%00/confirm"):
        r = await client.request("GET" if path.count("/") == 3 else "POST", path, headers=bearer(tok))
        await _problem(r, 404, "not_found")
    r = await client.get("/v1/stops?q=%00a")
    got = await _problem(r, 400, "invalid_parameter")
    assert got["errors"][0]["field"] == "q"


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
async def test_json_nested_deep(client, make_account, depth):
    _, tok = await make_account()
    body = '{"itinerary_id": ' + "[" * depth + "]" * depth + "}"
    r = await client.post("/v1/bookings", data=body, headers={
        **bearer(tok), "Idempotency-Key": f"k{depth}", "Content-Type": "application/json"})
    got = await _problem(r, 400, "json_too_deep")
    assert got["max_depth"] == 32


async def test_json_nan_is_not_json(client, make_key):
    key = await make_key("gate", gate="g1", station="crh:QDN")
    r = await client.post("/v1/gates/g1/validate", data='{"face": [NaN, Infinity]}', headers={
        **bearer(key), "Content-Type": "application/json"})
    await _problem(r, 400, "malformed_json")


@pytest.mark.parametrize("walk", ["1e20", "inf", "nan", "1e308", "-1"])
async def test_plan_with_a_walk_beyond_reason(live, walk):
    r = await live.get("/v1/plan", params={"from": "bus:B1", "to": "rail:R4", "date": "2026-11-26",
                                           "time": "08:00", "max_walk_m": walk})
    got = await _problem(r, 400, "invalid_parameter")
    assert got["errors"][0]["field"] == "max_walk_m"


async def test_cancel_leg_beyond_int32(client, make_account):
    _, tok = await make_account()
    r = await client.post(f"/v1/bookings/{uuid.uuid4()}/legs/{2**31}/cancel", headers=bearer(tok))
    got = await _problem(r, 400, "invalid_parameter")
    assert got["errors"][0]["field"] == "leg"
    r = await client.post(f"/v1/bookings/{uuid.uuid4()}/legs/x/cancel", headers=bearer(tok))
    await _problem(r, 400, "invalid_parameter")
    r = await client.post(f"/v1/bookings/{uuid.uuid4()}/legs/3/cancel", headers=bearer(tok))
    await _problem(r, 404, "booking_not_found")
