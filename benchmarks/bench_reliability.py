"""Recovery figures of a real `maas serve` (embedded servers, 2 workers, the demo rail feed):

  * worker restart: kill -9 one worker; the supervisor's own "back after" time (exit seen ->
    the new worker ready), and whether requests kept being answered meanwhile;
  * PostgreSQL: kill -9 the embedded postmaster (and, separately, a fast `pg_ctl stop`); time
    until POST /v1/accounts answers 201 again (503 database_unavailable meanwhile);
  * SIGTERM under load (8 clients planning/searching): time until the process has exited.

    .venv/bin/python benchmarks/bench_reliability.py [--rounds 3]

Figures go to docs/RELIABILITY.md by hand, with this command and the machine's load.
It reuses the fault tests' process helper (tests/faults/served.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feeds.demo import write_demo_feeds  # noqa: E402
from tests.faults.served import Served, clean_env, eventually, maas  # noqa: E402


def status_of(url: str, method: str = "GET", **kw) -> int:  # type: ignore[no-untyped-def]
    async def go() -> int:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
                async with s.request(method, url, **kw) as r:
                    await r.read()
                    return r.status
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return 0
    return asyncio.run(go())


def worker_restart(srv: Served) -> tuple[float, int, int]:
    """(supervisor's back-after seconds, requests answered 200 while it was down, others)."""
    victim = srv.worker_pids()[0]
    seen = srv.said().count("is back")
    answered, failed = 0, 0
    os.kill(victim, signal.SIGKILL)
    while srv.said().count("is back") == seen:
        if status_of(srv.url + "/v1/stops", params={"q": "济南"}) == 200:
            answered += 1
        else:
            failed += 1
    back = re.findall(r"is back \(pid \d+\), ([0-9.]+) s after it died", srv.said())
    return float(back[-1]), answered, failed


def postgres_recovery(srv: Served, how: str) -> float:
    t0 = time.monotonic()
    if how == "kill":
        os.kill(srv.postmaster_pid() or 0, signal.SIGKILL)
    else:
        import pgserver

        from maas.embedded import start_postgres
        pg, _ = start_postgres(srv.data_dir / "postgres")
        pgserver.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pg.pgdata, user=pg.system_user)
    saw_503 = eventually(lambda: status_of(srv.url + "/v1/accounts", method="POST") == 503, 30,
                         "503 while PostgreSQL is down", every=0.02)
    eventually(lambda: status_of(srv.url + "/v1/accounts", method="POST") == 201, 120,
               "201 again", every=0.05)
    assert saw_503
    return time.monotonic() - t0


def sigterm_under_load(srv: Served) -> float:
    stop = threading.Event()
    tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)  # where the rail runs
    params = {"from": "rail:beijingnan", "to": "rail:jinanxi", "date": tomorrow.isoformat(),
              "time": "06:00"}

    async def load() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
            async def one(i: int) -> None:
                while not stop.is_set():
                    try:
                        path = "/v1/plan" if i % 2 else "/v1/stops"
                        async with s.get(srv.url + path, params=params if i % 2 else {"q": "南"}) as r:
                            await r.read()
                    except aiohttp.ClientConnectorError:
                        return
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        pass
            await asyncio.gather(*(one(i) for i in range(8)))

    t = threading.Thread(target=lambda: asyncio.run(load()))
    t.start()
    time.sleep(2.0)   # a benchmark: let the load run before the signal
    took = srv.terminate()
    stop.set()
    t.join()
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="maas-rel-", dir="/tmp"))
    try:
        written = write_demo_feeds(root / "feeds", start_date=date.today() - timedelta(days=1),
                                   days=5, scale=0.05)
        rail = next(p for n, _, p in written if n == "china-railway")
        data = root / "data"
        env = clean_env()
        r = maas("feeds", "import", str(rail), "--feed", "rail", "--operator", "cr", "--activate",
                 "--data-dir", str(data), env=env)
        assert r.returncode == 0, r.stderr
        restarts, answered, failed, pg_kill, pg_stop, stops = [], 0, 0, [], [], []
        srv = Served(data, workers=2, env=env)
        try:
            for _ in range(args.rounds):
                back, ok, bad = worker_restart(srv)
                restarts.append(back)
                answered += ok
                failed += bad
            for _ in range(args.rounds):
                pg_kill.append(postgres_recovery(srv, "kill"))
                pg_stop.append(postgres_recovery(srv, "stop"))
        finally:
            srv.close()
        for _ in range(args.rounds):
            srv = Served(data, workers=2, env=env)
            try:
                stops.append(sigterm_under_load(srv))
            finally:
                srv.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def fmt(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})"

    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"worker restart after kill -9 (exit seen -> new worker ready): {fmt(restarts)}; "
          f"requests meanwhile: {answered} answered 200, {failed} not")
    print(f"PostgreSQL kill -9 -> bookings/accounts answer again: {fmt(pg_kill)}")
    print(f"PostgreSQL fast stop -> answer again: {fmt(pg_stop)}")
    print(f"SIGTERM under load -> process exited: {fmt(stops)}")


if __name__ == "__main__":
    main()
