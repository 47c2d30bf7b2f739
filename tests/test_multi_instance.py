"""Several `maas serve` instances over one real PostgreSQL and one real Redis, HAProxy in front.

Not the embedded servers: the Debian packages' PostgreSQL (run as the `postgres` user),
redis-server and haproxy, installed with apt-get when missing and root (skipped with the
reason when that fails). Everything on loopback, free ports, bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.debian import ensure_packages
from tests.polling import eventually_sync

pytestmark = pytest.mark.slow

PG_BIN = Path("/usr/lib/postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(PG_BIN.glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _install() -> str | None:
    """None when PostgreSQL, redis-server and haproxy are there (installed now if needed)."""
    return ensure_packages(
        ("postgresql", "redis-server", "haproxy"),
        lambda: bool(_pg_bin() and shutil.which("redis-server") and shutil.which("haproxy")),
        timeout_s=600)


def _http(method: str, url: str, body: bytes | dict | None = None, headers: dict | None = None,
          timeout: float = 30) -> tuple[int, dict]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    hdrs = dict(headers or {})
    if isinstance(body, dict):
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    except (urllib.error.URLError, OSError) as e:   # refused, reset, timed out: status 0
        return 0, {"error": str(e)}
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, {"raw": raw[:200].decode(errors="replace")}


def _next_event(resp, wanted) -> dict:
    """Read an open Server-Sent Events response until an event (its fields) is `wanted`."""
    cur: dict[str, str] = {}
    while True:
        raw = resp.readline()
        assert raw, "the event stream ended"
        line = raw.decode().rstrip("\n")
        if line == "":
            if wanted(cur):
                return cur
            cur = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            cur[name] = value


class Stack:
    """PostgreSQL + Redis + two maas instances + HAProxy; stop() ends what was started."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.pg_dir = root / "pg"
        self.groups: list[int] = []   # process groups of the maas instances

    def start_postgres(self) -> str:
        bin_ = _pg_bin()
        assert bin_ is not None
        self.pg_dir.mkdir()
        shutil.chown(self.root, "postgres")
        shutil.chown(self.pg_dir, "postgres")
        run = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*run, str(bin_ / "initdb"), "-D", str(self.pg_dir / "data"), "-U", "maas",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        port = _free_port()
        self.pg = subprocess.Popen(
            [*run, str(bin_ / "postgres"), "-D", str(self.pg_dir / "data"), "-p", str(port),
             "-h", "127.0.0.1", "-k", str(self.pg_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(self.pg)
        url = f"postgresql://maas@127.0.0.1:{port}/postgres"

        def up() -> bool:
            return subprocess.run([str(bin_ / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                  capture_output=True).returncode == 0
        eventually_sync(up, timeout=60, message="PostgreSQL accepts connections")
        return url

    def start_redis(self) -> str:
        port = _free_port()
        self.procs.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        eventually_sync(up, timeout=30, message="Redis accepts connections")
        return f"redis://127.0.0.1:{port}/0"

    def start_maas(self, name: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
        data = self.root / name
        proc = subprocess.Popen(
            [sys.executable, "-m", "maas.cli", "serve", "--port", "0", "--data-dir", str(data)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True)   # its own process group: the supervisor and its workers
        self.procs.append(proc)
        self.groups.append(proc.pid)
        line = proc.stdout.readline()
        assert "listening on http://" in line, line
        return proc, line.split("listening on ", 1)[1].split()[0]

    def start_haproxy(self, backends: list[str]) -> str:
        port = _free_port()
        servers = "\n".join(f"    server m{i} {u.removeprefix('http://')} check"
                            for i, u in enumerate(backends))
        cfg = self.root / "haproxy.cfg"
        cfg.write_text(f"""global
    maxconn 1000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend maas_in
    bind 127.0.0.1:{port}
    default_backend maas
backend maas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 300ms fall 2 rise 2
{servers}
""")
        self.procs.append(subprocess.Popen(["haproxy", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for g in self.groups:   # workers and analysers too, also of an instance killed -9
            with contextlib.suppress(ProcessLookupError):
                os.killpg(g, signal.SIGTERM)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
            if p.stdout is not None:
                p.stdout.close()


@pytest.fixture
def stack():
    reason = _install()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="maas-multi-"))
    s = Stack(root)
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAAS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(extra)
    return env


def test_two_instances_behind_haproxy(stack: Stack, tmp_path: Path):
    from feeds.demo import write_demo_feeds

    db, redis = stack.start_postgres(), stack.start_redis()
    keys = subprocess.run([sys.executable, "-m", "maas.cli", "db", "migrate"],
                          env=_env(DATABASE_URL=db), capture_output=True, text=True, timeout=120)
    assert keys.returncode == 0, keys.stderr
    # gates admit 72 h before departure: the ticket of tomorrow's trip enters now
    wide = json.dumps({m: [4320, 120] for m in ("bus", "tram", "metro", "ferry", "coach", "rail",
                                                   "air", "other")})
    env = _env(DATABASE_URL=db, REDIS_URL=redis, MAAS_SECRET_KEYS="k1:" + "A" * 43,
               MAAS_WORKERS="1", MAAS_SHUTDOWN_TIMEOUT_S="5", MAAS_GATES__WINDOW_MIN=wide,
               MAAS_PROTECTION__POLL_S="3600")     # an idle event stream is read hourly
    proc_a, a = stack.start_maas("a", env)
    _proc_b, b = stack.start_maas("b", env)
    lb = stack.start_haproxy([a, b])
    eventually_sync(lambda: _http("GET", lb + "/healthz")[0] == 200, timeout=30,
                    message="HAProxy forwards")

    # a feed activated through A is planned by B within seconds
    op = subprocess.run([sys.executable, "-m", "maas.cli", "keys", "create", "--role", "operator",
                         "--operator", "jinan-bus", "--new-operator"], env=env, capture_output=True, text=True,
                        timeout=60)
    assert op.returncode == 0, op.stderr
    op_key = op.stdout.strip().splitlines()[-1]
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    written = write_demo_feeds(tmp_path, start_date=today - timedelta(days=1), days=4, scale=0.05)
    path = next(p for name, _op, p in written if name == "jinan-bus")
    status, body = _http("POST", a + "/v1/feeds?feed=jinan-bus", path.read_bytes(),
                         {"Authorization": f"Bearer {op_key}", "Content-Type": "application/zip"},
                         timeout=120)
    assert status in (200, 201), body
    status, act = _http("POST", f"{a}/v1/feeds/{body['version']}/activate",
                        headers={"Authorization": f"Bearer {op_key}"}, timeout=60)
    assert status == 200, act
    with zipfile.ZipFile(path) as z:
        rows = z.read("stop_times.txt").decode().splitlines()
    head = rows[0].split(",")
    first_trip = [r.split(",") for r in rows[1:] if r.split(",")[head.index("trip_id")]
                  == rows[1].split(",")[head.index("trip_id")]]
    stops = [r[head.index("stop_id")] for r in first_trip]
    day = today + timedelta(days=1)
    params = (f"from=jinan-bus:{stops[0]}&to=jinan-bus:{stops[-1]}&date={day.isoformat()}"
              f"&time=06:00")

    def planned_by_b() -> bool:
        status, found = _http("GET", f"{b}/v1/plan?{params}")
        return status == 200 and bool(found.get("itineraries"))
    eventually_sync(planned_by_b, timeout=60, message="B plans on the feed activated through A")
    _status, plan = _http("GET", f"{b}/v1/plan?{params}")
    itinerary = plan["itineraries"][0]["id"]

    # a booking held through A confirms through B
    _s, account = _http("POST", a + "/v1/accounts")
    user = {"Authorization": f"Bearer {account['token']}"}
    passenger = {"name": "张三", "id_number": "11010519491231002X"}
    status, held = _http("POST", a + "/v1/bookings", {"itinerary_id": itinerary,
                         "passengers": [passenger]}, {**user, "Idempotency-Key": str(uuid.uuid4())})
    assert status == 201, held
    status, confirmed = _http("POST", f"{b}/v1/bookings/{held['id']}/confirm",
                              {"payment_ref": "multi-1"}, user)
    assert status == 200 and confirmed["status"] == "confirmed", confirmed

    # a ticket accepted at a gate through A is already_used through B
    board = next(leg for leg in plan["itineraries"][0]["legs"] if leg.get("mode") != "walk")["from"]
    station = board["id"] if isinstance(board, dict) else board
    gate = subprocess.run([sys.executable, "-m", "maas.cli", "keys", "create", "--role", "gate",
                           "--gate", "multi-gate", "--station", station], env=env, capture_output=True,
                          text=True, timeout=60)
    assert gate.returncode == 0, gate.stderr
    gate_auth = {"Authorization": f"Bearer {gate.stdout.strip().splitlines()[-1]}"}
    status, token = _http("GET", f"{a}/v1/bookings/{held['id']}/token", headers=user)
    assert status == 200 and token.get("qr"), token
    status, first = _http("POST", a + "/v1/gates/multi-gate/validate", {"qr": token["qr"]}, gate_auth)
    assert status == 200 and first["result"] == "accept", first
    status, again = _http("POST", b + "/v1/gates/multi-gate/validate", {"qr": token["qr"]}, gate_auth)
    assert status == 200 and again["result"] != "accept" and again.get("code") == "already_used", again

    # a reader of B's event stream is woken by a cancel written through A (only the wake-up,
    # NOTIFY maas_events, can bring it before the hourly read: the socket times out in 30 s)
    status, other = _http("POST", a + "/v1/bookings", {"itinerary_id": itinerary,
                          "passengers": [passenger]}, {**user, "Idempotency-Key": str(uuid.uuid4())})
    assert status == 201, other
    status, _paid = _http("POST", f"{a}/v1/bookings/{other['id']}/confirm",
                          {"payment_ref": "multi-2"}, user)
    assert status == 200, _paid
    with urllib.request.urlopen(urllib.request.Request(b + "/v1/events", headers=user),
                                timeout=30) as events:
        _next_event(events, lambda e: e.get("event") == "confirmed" and other["id"] in e["data"])
        status, cancelled = _http("POST", f"{a}/v1/bookings/{other['id']}/cancel", {}, user)
        assert status == 200 and cancelled["status"] == "cancelled", cancelled
        _next_event(events, lambda e: e.get("event") == "cancelled" and other["id"] in e["data"])

    # kill -9 instance A under load through the balancer: traffic moves to B, nothing lost
    done: list[str] = []
    failed: list[tuple[int, dict]] = []
    stop_load = threading.Event()

    def load() -> None:
        while not stop_load.is_set():
            status, h = _http("POST", lb + "/v1/bookings", {"itinerary_id": itinerary,
                              "passengers": [passenger]},
                              {**user, "Idempotency-Key": str(uuid.uuid4())}, timeout=10)
            if status != 201:
                failed.append((status, h))
                continue
            status, c = _http("POST", f"{lb}/v1/bookings/{h['id']}/confirm",
                              {"payment_ref": f"load-{h['id']}"}, user, timeout=10)
            if status == 200:
                done.append(h["id"])
            else:
                failed.append((status, c))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        eventually_sync(lambda: len(done) >= 5, timeout=60, message="load confirms bookings")
        os.killpg(proc_a.pid, signal.SIGKILL)   # the whole instance: supervisor and workers
        before = len(done)
        eventually_sync(lambda: len(done) >= before + 10, timeout=60,
                        message="B carries the traffic after A was killed")
        failed_after = len(failed)
        after = len(done)
        eventually_sync(lambda: len(done) >= after + 5, timeout=60, message="steady on B")
        assert len(failed) == failed_after, failed[failed_after:]   # no failure once moved
    finally:
        stop_load.set()
        for t in threads:
            t.join(timeout=30)
    assert proc_a.wait(timeout=10) == -signal.SIGKILL
    # every booking confirmed under load is confirmed in PostgreSQL (read back through B)
    for booking in [held["id"], *done]:
        status, got = _http("GET", f"{b}/v1/bookings/{booking}", headers=user)
        assert status == 200 and got["status"] == "confirmed", got
    assert asyncio.run(_violations(db)) == {}


async def _violations(db: str) -> dict[str, int]:
    import asyncpg

    from loadtests.invariants import check_invariants
    from maas.settings import Settings

    caps = Settings().bookings
    conn = await asyncpg.connect(db)
    try:
        found = await check_invariants(conn, caps.capacity, caps.capacity_default)
    finally:
        await conn.close()
    assert found   # the checks ran
    return {v.invariant.name: v.count for v in found if v.count}
