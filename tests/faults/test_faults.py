"""Fault injection on a real `maas serve` (embedded PostgreSQL and Redis, 2 workers):
kill -9 a worker mid-booking, kill PostgreSQL, kill Redis, stop an external PostgreSQL and
start it again, SIGTERM under load, a crash loop. Each scenario asserts what a client sees
(answers, 503 codes, no 5xx otherwise) and what PostgreSQL holds afterwards (the booking
invariants of loadtests/invariants.py), and that the supervisor restored what it runs.

Bounded: every wait is a poll with a deadline; the servers are started on free ports with
their own data folders and stopped at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import asyncpg
import psutil
import pytest
import redis

from feeds.demo import write_demo_feeds
from tests import polling
from tests.conftest import own_tmp_dir
from tests.faults.served import Served, clean_env, embedded_db_url, eventually, maas

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # loadtests/ is not installed
from loadtests.invariants import check_invariants  # noqa: E402

pytestmark = pytest.mark.slow

SEATS = 5                                   # rail seats per trip: the storm sells out
CAPACITY_ENV = {"MAAS_BOOKINGS__CAPACITY": '{"rail": %d}' % SEATS}
PASSENGER = {"name": "张三", "id_number": "11010519491231002X"}
RECOVER_S = 60.0                            # deadline of every "comes back" poll (busy CI machine)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rail_zip(root: Path) -> Path:
    """The demo's China Railway feed (a few Beijing-Shanghai and Jinan-Qingdao trains daily)."""
    out = _short_dir(root, "feeds")
    written = write_demo_feeds(out, start_date=date.today() - timedelta(days=1), days=5, scale=0.05)
    return next(path for name, _, path in written if name == "china-railway")


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    """Our own folder under /tmp (tests/conftest.py `own_tmp_dir`)."""
    yield from own_tmp_dir("maas-f-")


def _short_dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def served(root: Path, rail_zip: Path):  # type: ignore[no-untyped-def]
    """2 workers on embedded servers with the rail feed active; the scenarios below share it
    and each leaves it whole again (that is what they test)."""
    data = _short_dir(root, "emb") / "data"
    env = clean_env(**CAPACITY_ENV)
    r = maas("db", "migrate", "--data-dir", str(data), env=env)   # creates the database (feeds import would refuse)
    assert r.returncode == 0, r.stderr[-2000:]
    r = maas("feeds", "import", str(rail_zip), "--feed", "rail", "--operator", "cr",
             "--activate", "--data-dir", str(data), env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    srv = Served(data, workers=2, env=env)
    try:
        yield srv
    finally:
        srv.close()


def _plan_params() -> dict[str, str]:
    # tomorrow where the rail runs: tomorrow by the machine's UTC date at 06:00 in Shanghai
    # (8 h ahead) has already departed between 22:00 and 24:00 UTC
    tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    return {"from": "rail:beijingnan", "to": "rail:jinanxi", "date": tomorrow.isoformat(),
            "time": "06:00"}


async def _itinerary(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url + "/v1/plan", params=_plan_params()) as r:
        body = await r.json()
        assert r.status == 200, body
    return body["itineraries"][0]["id"]


async def _account(session: aiohttp.ClientSession, url: str) -> str:
    async with session.post(url + "/v1/accounts") as r:
        assert r.status == 201, await r.text()
        return (await r.json())["token"]


async def _retrying(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    """A client that resends (with the same Idempotency-Key) when its connection breaks, as a
    real client does; returns the first HTTP answer."""
    for _ in range(200):
        try:
            async with session.request(method, url, **kw) as r:
                return r.status, await r.json(content_type=None)
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError):
            await asyncio.sleep(0.05)   # back off before resending, not a synchronisation
    raise AssertionError(f"{method} {url}: no answer after 200 attempts")


# --- kill -9 a worker mid-booking ----------------------------------------------------------------


async def test_worker_killed_mid_booking_comes_back_and_no_seat_is_oversold(served: Served) -> None:
    url = served.url
    conn = aiohttp.TCPConnector(force_close=True)   # a new connection per request: spread over workers
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=30)) as s:
        itinerary = await _itinerary(s, url)
        token = await _account(s, url)
        auth = {"Authorization": f"Bearer {token}"}
        outcomes: list[tuple[int, Any]] = []
        probes: list[int] = []

        async def book() -> None:
            for _ in range(4):
                headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
                got = await _retrying(s, "POST", url + "/v1/bookings", headers=headers,
                                      json={"itinerary_id": itinerary, "passengers": [PASSENGER]})
                if got[0] == 201:
                    bid = got[1]["id"]
                    await _retrying(s, "POST", f"{url}/v1/bookings/{bid}/confirm", headers=auth,
                                    json={"payment_ref": "pay"})
                outcomes.append(got)

        async def probe() -> None:   # a gate's view: the service answers throughout
            while len(outcomes) < 16:
                probes.append((await _retrying(s, "GET", url + "/v1/stops", params={"q": "济南"}))[0])

        before = served.worker_pids()
        assert len(before) == 2
        tasks = [asyncio.create_task(book()) for _ in range(4)] + [asyncio.create_task(probe())]
        await polling.eventually(lambda: outcomes)    # mid-booking: the first answers are in
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        await asyncio.gather(*tasks)

    # every request got an answer: booked, or sold out; nothing else (no 5xx)
    statuses = sorted({st for st, _ in outcomes})
    assert set(statuses) <= {201, 409}, outcomes
    assert sum(1 for st, _ in outcomes if st == 201) == SEATS
    assert all(body["code"] == "sold_out" for st, body in outcomes if st == 409), outcomes
    assert set(probes) == {200}, probes
    # the dead worker is reaped and replaced; the supervisor said so
    eventually(lambda: len(served.worker_pids()) == 2 and victim not in served.worker_pids(),
               RECOVER_S, "the killed worker restarted")
    eventually(lambda: "is back" in served.said(), RECOVER_S, "the supervisor reports the worker back")
    assert f"pid {victim}) killed by SIGKILL" in served.said()
    assert served.zombies() == []
    # PostgreSQL: exactly the answered bookings, every invariant holds
    db = await asyncpg.connect(embedded_db_url(served.data_dir))
    try:
        booked = {body["id"] for st, body in outcomes if st == 201}
        rows = await db.fetch("SELECT id, status FROM bookings")
        assert {r["id"] for r in rows} == booked             # none lost, none twice (retries replayed)
        assert {r["status"] for r in rows} == {"confirmed"}
        violations = await check_invariants(db, {"rail": SEATS}, 100)
        assert [v.invariant.name for v in violations if v.count] == [], violations
    finally:
        await db.close()


# --- the embedded servers die --------------------------------------------------------------------


def _get(url: str, **kw: Any) -> tuple[int, Any, Any]:
    async def go() -> tuple[int, Any, Any]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as s:
            async with s.request(kw.pop("method", "GET"), url, **kw) as r:
                return r.status, await r.json(content_type=None), r.headers
    return asyncio.run(go())


def test_redis_killed_service_keeps_answering_and_the_cache_comes_back(served: Served) -> None:
    status, body, _ = _get(served.url + "/v1/accounts", method="POST")
    token = body["token"]
    auth = {"Authorization": f"Bearer {token}"}
    old = served.redis_pid()
    assert old is not None
    os.kill(old, signal.SIGKILL)
    # answers without Redis (keys are checked in PostgreSQL meanwhile)
    for _ in range(5):
        status, body, _ = _get(served.url + "/v1/bookings", headers=auth)
        assert status == 200, body
        assert _get(served.url + "/v1/plan", params=_plan_params())[0] == 200
    # reaped and restarted by the supervisor
    new = eventually(lambda: served.redis_pid() not in (None, old) and served.redis_pid(),
                     RECOVER_S, "redis restarted")
    assert not psutil.pid_exists(old) or psutil.Process(old).status() != psutil.STATUS_ZOMBIE
    eventually(lambda: "embedded redis restarted" in served.said(), RECOVER_S, "the supervisor says so")
    sock = served.data_dir / "redis" / "redis.sock"
    client = redis.Redis(unix_socket_path=str(sock))
    try:
        def cached() -> bool:   # a new key's principal lands in the new Redis again
            status, body, _ = _get(served.url + "/v1/bookings", headers=auth)
            assert status == 200, body
            return bool(client.keys("maas:auth:*"))
        eventually(cached, RECOVER_S, "the auth cache is written to the restarted Redis")
    finally:
        client.close()
    assert new == served.redis_pid()
    eventually(lambda: _get(served.url + "/readyz")[0] == 200, RECOVER_S, "/readyz ok")


def test_embedded_postgres_killed_is_restarted_and_bookings_recover(served: Served) -> None:
    old = served.postmaster_pid()
    assert old is not None
    os.kill(old, signal.SIGKILL)
    # meanwhile: 503 database_unavailable or already recovered, never a 500
    # (backends of the killed postmaster may still answer for a moment, so "recovered" means a
    # new postmaster and a write that succeeds)
    def recovered() -> bool:
        status, body, headers = _get(served.url + "/v1/accounts", method="POST")
        assert status in (201, 503), (status, body, served.errors())
        if status == 503:
            assert body["code"] == "database_unavailable" and headers["Retry-After"], body
        return status == 201 and served.postmaster_pid() not in (None, old)
    eventually(recovered, RECOVER_S, "PostgreSQL restarted and accounts can be created again")
    eventually(lambda: "embedded postgres restarted" in served.said(), RECOVER_S, "the supervisor says so")
    eventually(lambda: _get(served.url + "/readyz")[0] == 200, RECOVER_S, "/readyz ok")


# --- an external PostgreSQL stopped, then started again -----------------------------------------


@pytest.fixture(scope="module")
def external_pg(root: Path):  # type: ignore[no-untyped-def]
    """A PostgreSQL maas does not manage (given as DATABASE_URL): the test stops and starts it."""
    from maas.embedded import start_postgres

    pg, url = start_postgres(_short_dir(root, "ext") / "pg")
    try:
        yield pg, url
    finally:
        pg.cleanup()  # type: ignore[attr-defined]


def _pg_ctl(pg: Any, *args: str) -> None:
    import pgserver

    pgserver.pg_ctl(list(args), pgdata=pg.pgdata, user=pg.system_user, timeout=60)


def test_postgres_outage_is_503_with_retry_after_and_plan_keeps_working(
        external_pg: Any, rail_zip: Path, root: Path) -> None:
    pg, url = external_pg
    tmp_path = _short_dir(root, "outage")
    env = clean_env(DATABASE_URL=url)
    r = maas("feeds", "import", str(rail_zip), "--feed", "rail", "--operator", "cr", "--activate",
             "--data-dir", str(tmp_path / "d"), env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    srv = Served(tmp_path / "d", workers=1, env=env)
    try:
        status, body, _ = _get(srv.url + "/v1/accounts", method="POST")
        assert status == 201, body
        auth = {"Authorization": f"Bearer {body['token']}"}
        assert _get(srv.url + "/v1/bookings", headers=auth)[0] == 200
        _pg_ctl(pg, "-w", "stop", "-m", "fast")

        def outage() -> tuple[int, Any, Any] | None:
            got = _get(srv.url + "/v1/accounts", method="POST")
            assert got[0] in (201, 503), got[:2]
            return got if got[0] == 503 else None
        status, body, headers = eventually(outage, RECOVER_S, "503 while PostgreSQL is down")
        assert body["code"] == "database_unavailable" and headers["Content-Type"].startswith(
            "application/problem+json") and int(headers["Retry-After"]) > 0, body
        status, body, _ = _get(srv.url + "/v1/bookings", headers=auth)
        assert status == 503 and body["code"] == "database_unavailable", body
        # what needs no database keeps working: plan and stops from the loaded timetable
        status, body, _ = _get(srv.url + "/v1/plan", params=_plan_params())
        assert status == 200 and body["itineraries"], body
        assert _get(srv.url + "/v1/stops", params={"q": "济南"})[0] == 200
        status, body, _ = _get(srv.url + "/readyz")
        assert status == 503 and body["checks"]["postgres"] != "ok" and body["checks"]["redis"] == "ok"
        # PostgreSQL returns: everything recovers by itself
        with pg._lock:
            pg.ensure_postgres_running()
        eventually(lambda: _get(srv.url + "/v1/accounts", method="POST")[0] == 201, RECOVER_S,
                   "accounts again once PostgreSQL is back")
        assert _get(srv.url + "/v1/bookings", headers=auth)[0] == 200
        eventually(lambda: _get(srv.url + "/readyz")[0] == 200, RECOVER_S, "/readyz ok")
        assert "worker" not in srv.said()          # no worker died over it
    finally:
        srv.close()


# --- SIGTERM under load ----------------------------------------------------------------------


def _held_request(url: str, token: str) -> socket.socket:
    """A booking request whose handler is running and waiting for its body: the headers are
    sent with `Expect: 100-continue`, and aiohttp answers 100 only once it dispatches the
    request to the handler. The body is sent later."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall((f"POST /v1/bookings HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                  f"Idempotency-Key: {uuid.uuid4()}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n").encode())
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(4096)
        assert chunk, got
        got += chunk
    assert got.startswith(b"HTTP/1.1 100"), got
    return sock


def _finish(sock: socket.socket) -> bytes:
    with sock:
        sock.sendall(b"{}")
        got = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk


def test_sigterm_under_load_drains_in_flight_requests_and_stops_in_time(root: Path) -> None:
    data = _short_dir(root, "sigterm") / "d"
    env = clean_env()
    srv = Served(data, workers=2, env=env)
    try:
        token = _get(srv.url + "/v1/accounts", method="POST")[1]["token"]
        held = [_held_request(srv.url, token) for _ in range(4)]
        results: list[Any] = []

        async def load(stop: asyncio.Event) -> None:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
                async def one() -> None:
                    while not stop.is_set():
                        try:
                            async with s.get(srv.url + "/v1/stops", params={"q": "a"}) as r:
                                await r.read()
                                results.append(r.status)
                        except aiohttp.ClientConnectionError as exc:
                            results.append(type(exc).__name__)
                            if isinstance(exc, aiohttp.ClientConnectorError):
                                return          # refused: the port is closed, we are done
                await asyncio.gather(*(one() for _ in range(8)))

        async def scenario() -> tuple[float, list[bytes]]:
            stop = asyncio.Event()
            loader = asyncio.create_task(load(stop))
            await polling.eventually(lambda: len(results) >= 20)
            loop = asyncio.get_running_loop()
            took = loop.run_in_executor(None, srv.terminate)
            answers = await asyncio.gather(*(loop.run_in_executor(None, _finish, s) for s in held))
            seconds = await took
            stop.set()
            await loader
            return seconds, answers

        seconds, answers = asyncio.run(scenario())
    finally:
        srv.close()
    # the requests in flight at SIGTERM were answered (their body arrived after it)
    for a in answers:
        assert a.startswith(b"HTTP/1.1 422") and b"validation_failed" in a, a[:300]
    # the load got answers, then a closed port; never a 5xx, never a half-written response
    assert 200 in results and not [r for r in results if isinstance(r, int) and r >= 500], results
    assert srv.proc.returncode == 0
    # bounded (the default shutdown_timeout_s is 5; this margin is for a loaded CI machine)
    assert seconds < 5.0 + 10.0, (seconds, srv.log_path.read_text()[-5000:])
    print(f"SIGTERM under load: stopped in {seconds:.2f} s")
    assert not (data / "postgres" / "postmaster.pid").exists()
    assert "killed" not in srv.said()


# --- a crash loop --------------------------------------------------------------------------------


def test_a_crash_loop_gives_up_loudly_and_stops_everything(root: Path) -> None:
    data = _short_dir(root, "loop") / "d"
    srv = Served(data, workers=1, env=clean_env(MAAS_WORKER_CRASH_LIMIT="2"))
    try:
        first = srv.worker_pids()
        redis_pid = srv.redis_pid()
        os.kill(first[0], signal.SIGKILL)
        second = eventually(lambda: [p for p in srv.worker_pids() if p != first[0]], RECOVER_S,
                            "the worker restarted once")
        eventually(lambda: "is back" in srv.said(), RECOVER_S, "the restarted worker is ready")
        os.kill(second[0], signal.SIGKILL)
        srv.proc.wait(timeout=RECOVER_S)
        assert srv.proc.returncode == 1
        assert "crash loop: 2 worker crashes within 60 s" in srv.said()
        assert redis_pid is not None and not psutil.pid_exists(redis_pid)
        assert not (data / "postgres" / "postmaster.pid").exists()
    finally:
        srv.close()


# --- the supervisor alone killed -----------------------------------------------------------------


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _refused(url: str) -> bool:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError:
        return True
    return False


def test_workers_stop_when_the_supervisor_is_killed(root: Path) -> None:
    """kill -9 of `maas serve` alone (it cannot stop its workers): the workers notice
    (PR_SET_PDEATHSIG on Linux, else their parent-pid watch), drain and exit, so nothing keeps
    serving the port unsupervised."""
    data = _short_dir(root, "orphans") / "d"
    srv = Served(data, workers=2, env=clean_env())
    workers = srv.worker_pids()
    left = [p for p in (srv.redis_pid(), srv.postmaster_pid()) if p is not None]
    try:
        assert len(workers) == 2 and not _refused(srv.url)
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=RECOVER_S)
        eventually(lambda: not any(_running(p) for p in workers), RECOVER_S,
                   "the workers of the killed supervisor exited")
        assert _refused(srv.url)
    finally:
        # nothing stops the embedded servers of a killed supervisor either: stop ours here
        for pid in workers + left:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        srv.close()
