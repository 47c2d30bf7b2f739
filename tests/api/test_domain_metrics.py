"""Domain metrics in /metrics, driven through the real app: a plan, holds, a confirm, a hold
expired by the sweeper, gate accept and reject, a feed version and its activation."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from maas.appkeys import BOOKINGS, SETTINGS
from maas.domain_metrics import DomainMetrics
from maas.clock import FrozenClock
from ticketing.tokens import parse_qr
from tests.conftest import bearer

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = (DATA / "real" / "highdesert-point-2017.zip").read_bytes()
UNDEFINED_STOP = (DATA / "broken" / "undefined-stop.zip").read_bytes()


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 28, 8, tzinfo=timezone.utc))


async def scrape(client) -> dict[tuple[str, frozenset], float]:  # type: ignore[no-untyped-def]
    r = await client.get("/metrics")
    assert r.status == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(await r.text()) for s in fam.samples}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def hold(client, tok: str, itinerary: str) -> str:  # type: ignore[no-untyped-def]
    r = await client.post("/v1/bookings", json={
        "itinerary_id": itinerary, "passengers": [{"name": "张三", "id_number": "11010519491231002X"}]},
        headers={**bearer(tok), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


async def test_bookings_plan_and_gate_decisions_are_counted(live, app, make_account, make_key, clock):
    client = live
    before = await scrape(client)
    assert value(before, "maas_bookings_total", action="hold", outcome="held") is None
    r = await client.get("/v1/plan", params={"from": "bus:B1", "to": "rail:R4",
                                             "date": "2026-12-01", "time": "06:30"})
    assert r.status == 200
    it = (await r.json())["itineraries"][0]
    _, tok = await make_account()
    bid = await hold(client, tok, it["id"])
    r = await client.post(f"/v1/bookings/{bid}/confirm", json={"payment_ref": "pay"}, headers=bearer(tok))
    assert r.status == 200, await r.text()
    r = await client.post("/v1/bookings/bk-nope/confirm", json={"payment_ref": "pay"}, headers=bearer(tok))
    assert r.status == 404
    missing = (await r.json())["code"]
    # a second hold left to expire: the sweeper writes it expired
    await hold(client, tok, it["id"])
    clock.advance(app[SETTINGS].bookings.hold_ttl_s + 60)
    assert await app[BOOKINGS].sweep() == 1

    r = await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))
    token = parse_qr((await r.json())["qr"]).token
    leg = token.legs[0]
    key = await make_key("gate", gate="g-0", station=leg.board)
    r = await client.post("/v1/gates/g-0/validate", json={"qr": (await r.json())["qr"]}, headers=bearer(key))
    assert (await r.json())["code"] == "not_yet_valid"          # too early
    clock.set(leg.valid_from + timedelta(minutes=1))
    r = await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))
    r = await client.post("/v1/gates/g-0/validate", json={"qr": (await r.json())["qr"]}, headers=bearer(key))
    assert (await r.json())["result"] == "accept"
    # an offline tap uploaded without its proof of the scan: refused
    r = await client.post("/v1/gates/g-0/taps", headers=bearer(key), json={"taps": [{
        "tap_id": str(uuid.uuid4()), "booking": bid, "leg": leg.index, "at": clock.now().isoformat()}]})
    assert r.status == 200 and (await r.json())["refused"] == 1, await r.text()

    m = await scrape(client)
    assert value(m, "maas_plan_duration_seconds_count", kind="point") == 1
    assert value(m, "maas_bookings_total", action="hold", outcome="held") == 2
    assert value(m, "maas_bookings_total", action="confirm", outcome="confirmed") == 1
    assert value(m, "maas_bookings_total", action="confirm", outcome=missing) == 1
    assert value(m, "maas_bookings_total", action="expire", outcome="expired") == 1
    assert value(m, "maas_holds_expired_total") == 1
    assert value(m, "maas_gate_decisions_total", mode="online", via="qr", result="reject",
                 code="not_yet_valid") == 1
    assert value(m, "maas_gate_decisions_total", mode="online", via="qr", result="accept",
                 code="ok") == 1
    assert value(m, "maas_gate_decisions_total", mode="offline", via="tap", result="reject",
                 code="proof_required") == 1
    # the HTTP counters are still there beside them
    assert value(m, "maas_http_requests_total", method="GET", route="/v1/plan", status="200") == 1


async def test_feed_versions_and_activations_are_counted(client, make_key):
    key = await make_key("operator", operator="op1")
    r = await client.post("/v1/feeds", params={"feed": "point"}, data=SMALL,
                          headers={**bearer(key), "Content-Type": "application/zip"})
    assert r.status == 201, await r.text()
    version = (await r.json())["version"]
    for _ in range(2):                        # the second activation is a no-op: not counted
        r = await client.post(f"/v1/feeds/{version}/activate", headers=bearer(key))
        assert r.status == 200, await r.text()
    r = await client.post("/v1/feeds", params={"feed": "demo"}, data=UNDEFINED_STOP,
                          headers={**bearer(key), "Content-Type": "application/zip"})
    assert r.status == 422
    m = await scrape(client)
    assert value(m, "maas_feed_versions_total", status="accepted") == 1
    assert value(m, "maas_feed_versions_total", status="rejected") == 1
    assert value(m, "maas_feed_activations_total", feed="point") == 1
    assert value(m, "maas_feed_activations_total", feed="other") is None


def test_the_grafana_dashboard_has_a_panel_per_domain_metric():
    registry = CollectorRegistry()
    DomainMetrics(registry)
    names = {fam.name for fam in registry.collect()} | {"maas_realtime_lag_seconds"}
    dash = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    for name in names:
        assert any(name in e for e in exprs), f"no panel for {name}"
