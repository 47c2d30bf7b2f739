"""Activation on a real `maas serve --workers 2`: POST /v1/feeds/{version}/activate answers once
every worker of the instance serves the version, so plans right after it, on fresh connections
(SO_REUSEPORT spreads them over both workers), all see it; a rollback likewise.

To make the test sensitive, every worker swaps in what it hears of by NOTIFY NOTIFY_DELAY_S
late (the test hook maas.live.NOTIFY_DELAY_ENV, as a worker with a slow rebuild): only the
worker answering the activation serves the new version at once. An activation that answered
without waiting for every worker would let some of the PLANS plans right after it (fresh
connections: SO_REUSEPORT spreads them over both workers) reach the other worker, still on the
old version, and the test would fail.

The server runs on a free port with its own data folder (tests/faults/served.py) and is stopped
at the end; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from maas.live import NOTIFY_DELAY_ENV
from tests.conftest import own_tmp_dir
from tests.faults.served import Served, clean_env, maas
from tests.town import town_zip

pytestmark = pytest.mark.slow

DAY = date.today() + timedelta(days=1)
PLANS = 40
NOTIFY_DELAY_S = 8     # under feeds.activation_wait_s (30): the activation still answers 200


@pytest.fixture
def root() -> Iterator[Path]:
    """Our own folder under /tmp (tests/conftest.py `own_tmp_dir`)."""
    yield from own_tmp_dir("maas-a-")


def _import(root: Path, data: Path, env: dict[str, str], version: int, *extra: str) -> str:
    days = date.today() - timedelta(days=2), date.today() + timedelta(days=30)
    r = maas("feeds", "import", str(town_zip(root, version, *days)), "--feed", "town", "--operator", "town-bus",
             *extra, "--data-dir", str(data), env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])["version"]


async def _origins(url: str) -> set[str]:
    """The first leg's origin name of PLANS plans, each on a fresh connection."""
    async def one() -> str:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            async with s.get(url + "/v1/plan", params={"from": "town:C", "to": "town:H",
                                                       "date": DAY.isoformat(), "time": "07:00"}) as r:
                body = await r.json()
                assert r.status == 200, body
                return body["itineraries"][0]["legs"][0]["from"]["name"]
    return set(await asyncio.gather(*(one() for _ in range(PLANS))))


async def _activate(url: str, key: str, version: str) -> dict:
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{url}/v1/feeds/{version}/activate",
                          headers={"Authorization": f"Bearer {key}"}) as r:
            body = await r.json()
            assert r.status == 200, body
            return body


def test_activate_then_plan_on_any_worker_sees_it(root: Path) -> None:
    data = root / "data"
    env = clean_env()
    r = maas("db", "migrate", "--data-dir", str(data), env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    v1 = _import(root, data, env, 1, "--activate")
    v2 = _import(root, data, env, 2)
    r = maas("keys", "create", "--role", "admin", "--data-dir", str(data), env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    key = r.stdout.strip().splitlines()[-1]
    srv = Served(data, workers=2, env={**env, NOTIFY_DELAY_ENV: str(NOTIFY_DELAY_S)})
    try:
        assert len(srv.worker_pids()) == 2

        async def scenario() -> None:
            assert await _origins(srv.url) == {"Central 1"}
            got = await _activate(srv.url, key, v2)
            assert got["served_by_all_workers"] is True and got["previous"] == v1
            assert await _origins(srv.url) == {"Central 2"}
            got = await _activate(srv.url, key, v1)        # the rollback
            assert got["served_by_all_workers"] is True and got["previous"] == v2
            assert await _origins(srv.url) == {"Central 1"}
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{srv.url}{got['status_url']}",
                                 headers={"Authorization": f"Bearer {key}"}) as r:
                    status = await r.json()
                    assert r.status == 200, status
            assert status["served_by_all_workers"] is True
            assert len(status["workers"]) == 2 and set(status["workers"].values()) == {v1}

        asyncio.run(scenario())
    finally:
        srv.close()
