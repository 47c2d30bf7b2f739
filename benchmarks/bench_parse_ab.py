"""Replays with and without the worker's parsed-ticket cache, in one process, alternating.

The test app (real embedded PostgreSQL and Redis, as tests/conftest.py starts them) and its
client in one thread: 100 confirmed bookings, a token and an accept each, then 40 blocks of
their 100 replays, every other block with the cache swapped for plain `parse_qr`; thread CPU
per request (client + server) per block, medians and least of each way. Run with pytest:

    .venv/bin/python -m pytest benchmarks/bench_parse_ab.py -q -s -p no:cacheprovider
"""
from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest

from maas.api.checkin import checkin_state
from maas.clock import FrozenClock
from tests.api.checkin_fixtures import T0, insert_booking
from tests.conftest import (aiohttp_client, app, client, database_url, db, make_account,  # noqa: F401
                            make_key, redis_url, services, settings)
from tests.conftest import bearer
from ticketing.tokens import parse_qr

BLOCKS, BOOKINGS = 40, 100


@pytest.fixture
def clock():
    return FrozenClock(T0 + timedelta(hours=1, minutes=35))   # the rail leg admits


class _Plain:
    """`ParsedTickets` without the cache: what every scan cost before."""

    @staticmethod
    def parse(qr: str):
        return parse_qr(qr)

    def add(self, *args) -> None:
        pass


async def test_replays_with_and_without_the_cache(client, app, db, make_key, make_account):  # noqa: F811
    acc, tok = await make_account()
    gate = bearer(await make_key("gate", gate="rail-1", station="crh:QDN"))
    qrs = []
    for _ in range(BOOKINGS):
        bid = await insert_booking(db, acc, categories=("adult", "child"))
        r = await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))
        qrs.append((await r.json())["qr"])

    async def validate(qr: str) -> str:
        r = await client.post("/v1/gates/rail-1/validate", json={"qr": qr}, headers=gate)
        assert r.status == 200
        return (await r.json())["code"]

    assert {await validate(q) for q in qrs} == {"ok"}
    svc = checkin_state(app)
    cached = svc.parsed
    got: dict[str, list[float]] = {"cache": [], "parse_qr": []}
    for block in range(BLOCKS):
        for way in ("cache", "parse_qr") if block % 2 else ("parse_qr", "cache"):
            svc.parsed = cached if way == "cache" else _Plain()
            t0 = time.thread_time()
            codes = {await validate(q) for q in qrs}
            got[way].append((time.thread_time() - t0) / len(qrs) * 1e6)
            assert codes == {"already_used"}
    svc.parsed = cached
    for way, v in got.items():
        print(f"replay, {way:8s}: median {statistics.median(v):6.1f} us, least {min(v):6.1f} us "
              f"per request (client + server, thread CPU, {BLOCKS // 2} blocks of {len(qrs)})")


def test_parse_costs():
    """Per scan, thread CPU, least of 5 x 20,000: parse_qr, a cache hit (added by the signer
    or by an earlier scan) and a miss (a full parse and the entry)."""
    import uuid

    from tests.api.checkin_fixtures import journey, signer
    from ticketing.tokens import ParsedTickets, sign_static, signed_ticket

    key = signer()
    token = journey(str(uuid.uuid4()), key_id=key.key_id)
    signed = signed_ticket(sign_static(token, key.private))
    qr = signed.qr([123456, 654321, 111111])
    by_signer, by_scan, empty = ParsedTickets(), ParsedTickets(), ParsedTickets()
    by_signer.add(signed, token)
    by_scan.parse(qr)

    def miss():
        empty._d.clear()
        empty._heads.clear()
        return empty.parse(qr)

    for name, f in (("parse_qr", lambda: parse_qr(qr)), ("hit, signed here", lambda: by_signer.parse(qr)),
                    ("hit, scanned before", lambda: by_scan.parse(qr)), ("miss", miss)):
        assert f() == parse_qr(qr)
        best = float("inf")
        for _ in range(5):
            t0 = time.thread_time()
            for _ in range(20_000):
                f()
            best = min(best, (time.thread_time() - t0) / 20_000)
        print(f"{name:20s} {best * 1e6:6.2f} us per scan ({len(qr)}-character QR, 3 legs)")
