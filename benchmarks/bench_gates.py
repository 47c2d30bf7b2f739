"""Gate speed: offline validation per tap, online validations/s and latency, face validation.

    .venv/bin/python benchmarks/bench_gates.py [--workers 1] [--rates 500,1000,1500] [--seconds 8]
                                               [--skip-online]

Offline: the gate-side validator (ticketing.gate.GateValidator) with a 10,000-booking
manifest, timing accepts (Ed25519 verify + TOTP + local state) and refusals, no I/O.

Online: an embedded PostgreSQL and Redis in a temporary folder, `maas serve --workers N` as a
subprocess, bookings seeded straight into the tables (each booking one rail leg boarding at
the benchmark station now), then an OPEN-LOOP load from this process: requests are sent on a
fixed schedule (rate/s) and latency is measured from each request's scheduled send time, so a
slow server cannot hide its queueing (no coordinated omission). Every request is a distinct
booking's current QR code, i.e. the full accept path: auth (cached key), parse, verify,
TOTP, and tap + burned step + "booking and leg still confirmed" in ONE statement (the
booking secrets are warmed per station in the background; a worker that has not warmed yet
reads booking state + secret first: 2 statements). The load generator runs on the same 2
cores as the server and PostgreSQL.

Face: POST validate {"face"} at stations whose gallery holds 100 / 1,000 enrolled passengers
(gallery query + unsealing every template + 1:N match + tap), one request at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from maas.clock import FrozenClock  # noqa: E402
from ticketing.gate import GateValidator  # noqa: E402
from ticketing.keyring import SigningKey, public_bytes  # noqa: E402
from ticketing.manifest import Manifest, ManifestEntry, ManifestLeg  # noqa: E402
from ticketing.tokens import TicketToken, TokenLeg, qr_payload, sign_static  # noqa: E402
from ticketing.totp import leg_codes, leg_secret, new_secret, step_of  # noqa: E402

STATION = "bench:S1"


def cpu_seconds(pids: list[int]) -> dict[str, float]:
    """user+system CPU seconds so far of: the server tree, PostgreSQL, Redis, this process."""
    import psutil

    out = {"server": 0.0, "postgres": 0.0, "redis": 0.0, "loadgen": 0.0}
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        for p in [root, *root.children(recursive=True)]:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                t = p.cpu_times()
                name = p.name()
            except psutil.NoSuchProcess:
                continue
            kind = "postgres" if "postgres" in name else "redis" if "redis" in name else "server"
            out[kind] += t.user + t.system
    me = psutil.Process().cpu_times()
    out["loadgen"] = me.user + me.system
    return out


def service_pids(data: Path) -> list[int]:
    """The embedded postmaster and redis-server started for `data`."""
    import psutil

    pids = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(data) in cmd and ("postgres" in cmd or "redis" in cmd) and "maas" not in cmd.split()[0]:
            pids.append(p.info["pid"])
    return pids


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs), p)) if xs else float("nan")


# --- offline --------------------------------------------------------------------------------


def bench_offline(n: int = 10_000) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    key = SigningKey("bench001", Ed25519PrivateKey.generate())
    vf, vu = now - timedelta(minutes=30), now + timedelta(hours=3)
    tokens, secrets_, entries = [], [], {}
    for i in range(n):
        bid = f"bk_{i:020d}"
        t = TicketToken(key.key_id, bid, now - timedelta(days=1), (("adult", 1),),
                        (TokenLeg(0, "bench:A", STATION, vf - timedelta(hours=2), vu),
                         TokenLeg(1, STATION, "bench:B", vf, vu)))
        s = new_secret()
        tokens.append(sign_static(t, key.private))
        secrets_.append(s)
        entries[bid] = ManifestEntry(bid, {1: leg_secret(s, 1)}, 1, (ManifestLeg(1, vf, vu),))
    m = Manifest("g1", STATION, now.date(), now, now - timedelta(hours=14), now + timedelta(hours=36),
                 15, 1, 6, {key.key_id: public_bytes(key.private)}, entries, {})
    clock = FrozenClock(now)
    gate = GateValidator(m, clock)
    step = step_of(now, 15)
    qrs = [qr_payload(tokens[i], leg_codes(secrets_[i], [0, 1], step)) for i in range(n)]
    ts: list[float] = []
    cpu: list[float] = []
    codes: Counter[str] = Counter()
    for q in qrs:
        c0 = time.thread_time()
        t0 = time.perf_counter()
        d = gate.validate(q)
        ts.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        codes[d.code] += 1
    rej: list[float] = []
    for q in qrs[:2000]:                 # the same again: already_used (full verify path too)
        t0 = time.perf_counter()
        gate.validate(q)
        rej.append(time.perf_counter() - t0)
    print(f"offline validator, manifest of {n} bookings: accepts {dict(codes)}")
    print(f"  accept   per tap: mean {np.mean(ts)*1e3:.3f} ms, p50 {pct(ts,50)*1e3:.3f} ms, "
          f"p99 {pct(ts,99)*1e3:.3f} ms (wall); CPU mean {np.mean(cpu)*1e3:.3f} ms, "
          f"p99 {pct(cpu,99)*1e3:.3f} ms; load average {os.getloadavg()[0]:.2f}")
    print(f"  refusal (already_used) per tap: mean {np.mean(rej)*1e3:.3f} ms, p99 {pct(rej,99)*1e3:.3f} ms")


# --- online ---------------------------------------------------------------------------------


async def seed(pool, dk, n_qr: int, galleries: dict[str, int], dim: int):  # type: ignore[no-untyped-def]
    from ticketing.checkin_store import face_aad, secret_aad
    from ticketing.faces import normalise, to_bytes
    from ticketing.keyring import seal
    from ticketing.keyring_store import load_signing_key

    now = datetime.now(timezone.utc).replace(microsecond=0)
    dep, arr = now + timedelta(minutes=20), now + timedelta(hours=2)
    async with pool.acquire() as conn:
        signer = await load_signing_key(conn, dk)
        acc = "acc_bench"
        await conn.execute("INSERT INTO accounts (id, token_hash) VALUES ($1, $2)", acc,
                           hashlib.sha256(b"bench").digest())

        async def bookings(ids: list[str], accounts: list[str], station: str) -> None:
            await conn.executemany(
                """INSERT INTO bookings (id, account_id, status, itinerary_id, feed_versions,
                       passenger_count, passenger_categories, currency, total_minor, paid_minor,
                       expires_at, created_at, updated_at, confirmed_at)
                   VALUES ($1, $2, 'confirmed', 'it', '{}', 1, '{adult}', 'CNY', 1, 1, $3, $3, $3, $3)""",
                [(b, a, now) for b, a in zip(ids, accounts)])
            await conn.executemany(
                """INSERT INTO booking_legs (booking_id, leg_no, status, feed, agency_id, agency_name,
                       mode, route_id, trip_id, service_date, board_pos, alight_pos, from_stop, to_stop,
                       departure, arrival, passengers, hold_until, unit_minor, price_source, price_minor)
                   VALUES ($1, 0, 'confirmed', 'bench', 'bench:OP', 'op', 'rail', 'bench:r', 'bench:t',
                           $2, 0, 1, $3, 'bench:Z', $4, $5, 1, $4, 1, 'x', 1)""",
                [(b, dep.date(), station, dep, arr) for b in ids])

        ids = [f"bk_{uuid.uuid4().hex[:20]}" for _ in range(n_qr)]
        await bookings(ids, [acc] * n_qr, STATION)
        rows, statics, secrets_ = [], [], []
        from ticketing.checkin_config import CheckinConfig
        vf, vu = CheckinConfig().window("rail", dep, arr)
        for b in ids:
            s = new_secret()
            kid, blob = seal(dk, s, secret_aad(b))
            rows.append((b, kid, blob, now))
            t = TicketToken(signer.key_id, b, now, (("adult", 1),), (TokenLeg(0, STATION, "bench:Z", vf, vu),))
            statics.append(sign_static(t, signer.private))
            secrets_.append(s)
        await conn.executemany(
            "INSERT INTO booking_secrets (booking_id, data_key_id, sealed_secret, issued_at) VALUES ($1,$2,$3,$4)",
            rows)
        faces = {}
        rng = np.random.default_rng(3)
        for station, n in galleries.items():
            accs = [f"acc_{uuid.uuid4().hex[:16]}" for _ in range(n)]
            await conn.executemany("INSERT INTO accounts (id, token_hash) VALUES ($1, $2)",
                                   [(a, hashlib.sha256(a.encode()).digest()) for a in accs])
            await bookings([f"bk_{uuid.uuid4().hex[:20]}" for _ in accs], accs, station)
            vecs = rng.standard_normal((n, dim))
            frows = []
            for a, v in zip(accs, vecs):
                kid, blob = seal(dk, to_bytes(normalise(v, dim)), face_aad(a))
                frows.append((a, dim, kid, blob, now))
            await conn.executemany(
                """INSERT INTO face_templates (account_id, dimension, data_key_id, sealed_template,
                       consent_operators, consented_at, enrolled_at) VALUES ($1,$2,$3,$4,NULL,$5,$5)""",
                frows)
            faces[station] = vecs
    return statics, secrets_, faces


async def open_loop(session, url: str, keys: list[str], payloads, rate: float, seconds: float,  # type: ignore[no-untyped-def]
                    baseline: str | None = None):
    loop = asyncio.get_running_loop()
    n = int(rate * seconds)
    t0 = loop.time() + 0.3
    lat: list[float] = []
    codes: Counter[str] = Counter()
    errors = 0
    done_at = [t0]

    async def one(i: int) -> None:
        nonlocal errors
        sched = t0 + i / rate
        delay = sched - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        gate = i % len(keys)
        try:
            if baseline:
                async with session.get(baseline) as r:
                    await r.read()
                    codes[f"http {r.status}"] += 1
            else:
                async with session.post(url.format(gate=f"g{gate}"), json={"qr": payloads(i)},
                                        headers={"Authorization": f"Bearer {keys[gate]}"}) as r:
                    body = await r.json()
                    codes[body.get("code", f"http {r.status}")] += 1
        except Exception:  # noqa: BLE001
            errors += 1
        end = loop.time()
        lat.append(end - sched)
        done_at[0] = max(done_at[0], end)

    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (done_at[0] - t0), lat, codes, errors


async def bench_service(pool, dk, statics: list[bytes], secrets_: list[bytes], concurrency: int = 16) -> None:  # type: ignore[no-untyped-def]
    """The accept path without HTTP and auth: what a handler calls (parse, verify, checks,
    one tap statement), `concurrency` at once on a pool, closed loop."""
    from ticketing.checkin_config import CheckinConfig
    from ticketing.checkin_store import record_tap
    from ticketing.gate import check_ticket
    from ticketing.keyring_store import load_verification_keys
    from ticketing.tokens import parse_qr, verify

    cfg = CheckinConfig()
    async with pool.acquire() as conn:
        keys = await load_verification_keys(conn)
    lat: list[float] = []
    it = iter(range(len(statics)))
    cpu0 = time.process_time()

    async def worker() -> None:
        for i in it:
            t = time.perf_counter()
            now = datetime.now(timezone.utc)
            sc = parse_qr(qr_payload(statics[i], leg_codes(secrets_[i], [0], step_of(now, 15))))
            token = verify(sc, keys)
            legs, step = check_ticket(sc, token, (STATION,), now, booking_cancelled=False,
                                      cancelled_legs=(), secret_of=lambda j: leg_secret(secrets_[i], j),
                                      step_s=15, skew=1, digits=6)
            async with pool.acquire() as conn:
                tap = await record_tap(conn, booking=token.booking, leg=legs[0].index, gate="svc",
                                       station=STATION, method="qr", step=step, now=now,
                                       require_confirmed=True)
            assert tap is not None
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    dt = time.perf_counter() - t0
    ms = [x * 1e3 for x in lat]
    print(f"\nservice level (no HTTP, no auth; includes making each QR), {concurrency} at once, pool of "
          f"{pool.get_max_size()}: {len(lat)} accepts in {dt:.1f} s = {len(lat)/dt:.0f}/s, p50 {pct(ms,50):.1f} ms, "
          f"p99 {pct(ms,99):.1f} ms, this process CPU {(time.process_time()-cpu0)/len(lat)*1e3:.2f} ms/accept, "
          f"load average {os.getloadavg()[0]:.2f}")


async def bench_online(workers: int, rates: list[float], seconds: float, gates: int, face_n: list[int]) -> None:
    import aiohttp

    from maas import auth
    from maas.db import create_pool, migrate
    from maas.embedded import embedded_services
    from maas.settings import DataKeys

    dim = 128
    service_n = 3000
    total = int(sum(rates) * seconds) + 200 + service_n
    with tempfile.TemporaryDirectory(prefix="maas-bench-gates-") as tmp:
        data = Path(tmp)
        with embedded_services(data, database_url=None, redis_url=None) as urls:
            keys_text = DataKeys.generate_text("bench")
            dk = DataKeys.parse(keys_text)
            pool = await create_pool(urls.database_url, min_size=1, max_size=10)
            async with pool.acquire() as conn:
                await migrate(conn)
                sync = await conn.fetchval("SHOW synchronous_commit")
                fsync = await conn.fetchval("SHOW fsync")
            t = time.perf_counter()
            galleries = {f"bench:F{n}": n for n in face_n}
            statics, secrets_, faces = await seed(pool, dk, total, galleries, dim)
            gate_keys = [(await auth.create_key(pool, "gate", gate=f"g{i}", station=STATION))[1]
                         for i in range(gates)]
            face_keys = {st: (await auth.create_key(pool, "gate", gate=f"f{n}", station=st))[1]
                         for st, n in galleries.items()}
            print(f"seeded {total} QR bookings + face galleries {face_n} in {time.perf_counter()-t:.1f} s "
                  f"(PostgreSQL fsync={fsync}, synchronous_commit={sync})")
            await bench_service(pool, dk, statics[-service_n:], secrets_[-service_n:])
            await pool.close()
            env = {**os.environ, "MAAS_SECRET_KEYS": keys_text, "MAAS_LOG_LEVEL": "WARNING",
                   "MAAS_DB_POOL_MAX": "20"}
            proc = subprocess.Popen(
                [str(ROOT / ".venv/bin/maas"), "serve", "--data-dir", str(data / "srv"),
                 "--database-url", urls.database_url, "--redis-url", urls.redis_url or "",
                 "--port", "0", "--workers", str(workers)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
            try:
                port = None
                deadline = time.monotonic() + 60
                while port is None and time.monotonic() < deadline:
                    line = proc.stdout.readline()  # type: ignore[union-attr]
                    m = re.search(r"listening on http://[^:]+:(\d+)", line or "")
                    if m:
                        port = int(m.group(1))
                    elif proc.poll() is not None:
                        raise RuntimeError("maas serve exited")
                base = f"http://127.0.0.1:{port}"
                url = base + "/v1/gates/{gate}/validate"
                used = [0]

                def payload(i: int) -> str:
                    k = used[0] + i
                    step = step_of(time.time(), 15)
                    return qr_payload(statics[k], leg_codes(secrets_[k], [0], step))

                conn = aiohttp.TCPConnector(limit=256)
                async with aiohttp.ClientSession(connector=conn) as session:
                    # warm-up: caches, connections
                    await open_loop(session, url, gate_keys, payload, 100, 1)
                    used[0] += 100
                    pids = [proc.pid, *service_pids(data)]
                    print(f"\nonline validate, {workers} worker(s), {gates} gates, open loop, {seconds:.0f} s per rate; "
                          f"load average before: {os.getloadavg()[0]:.2f}")
                    print("| offered /s | achieved /s | p50 ms | p90 ms | p99 ms | max ms | codes | errors "
                          "| CPU ms/request: server, postgres, redis, loadgen |")
                    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
                    for rate in rates:
                        c0 = cpu_seconds(pids)
                        achieved, lat, codes, errors = await open_loop(session, url, gate_keys, payload, rate, seconds)
                        c1 = cpu_seconds(pids)
                        n = int(rate * seconds)
                        used[0] += n
                        ms = [x * 1e3 for x in lat]
                        cpu = ", ".join(f"{(c1[k] - c0[k]) / n * 1e3:.2f}" for k in ("server", "postgres", "redis", "loadgen"))
                        print(f"| {rate:.0f} | {achieved:.0f} | {pct(ms,50):.1f} | {pct(ms,90):.1f} | "
                              f"{pct(ms,99):.1f} | {max(ms):.1f} | {dict(codes)} | {errors} | {cpu} |", flush=True)
                        await asyncio.sleep(1.0)
                    # the floor of this box: the same load on GET /healthz (no auth, no DB)
                    rate = max(rates)
                    c0 = cpu_seconds(pids)
                    achieved, lat, codes, errors = await open_loop(
                        session, url, gate_keys, payload, rate, seconds, baseline=base + "/healthz")
                    c1 = cpu_seconds(pids)
                    n = int(rate * seconds)
                    cpu = ", ".join(f"{(c1[k] - c0[k]) / n * 1e3:.2f}" for k in ("server", "postgres", "redis", "loadgen"))
                    ms = [x * 1e3 for x in lat]
                    print(f"| {rate:.0f} GET /healthz (baseline) | {achieved:.0f} | {pct(ms,50):.1f} | "
                          f"{pct(ms,90):.1f} | {pct(ms,99):.1f} | {max(ms):.1f} | {dict(codes)} | {errors} | {cpu} |")
                    print(f"load average after: {os.getloadavg()[0]:.2f}")
                    print("\nface validate (one at a time): gallery query + unseal + 1:N match + tap")
                    print("| gallery | requests | p50 ms | p99 ms | codes |")
                    print("| --- | --- | --- | --- | --- |")
                    rng = np.random.default_rng(9)
                    for st, vecs in faces.items():
                        n = len(vecs)
                        lat, codes = [], Counter()
                        for i in range(min(n, 200)):
                            v = vecs[i] / np.linalg.norm(vecs[i])
                            probe = (v + rng.normal(0, 0.04, dim)).tolist()
                            t = time.perf_counter()
                            async with session.post(f"{base}/v1/gates/f{n}/validate", json={"face": probe},
                                                    headers={"Authorization": f"Bearer {face_keys[st]}"}) as r:
                                codes[(await r.json())["code"]] += 1
                            lat.append((time.perf_counter() - t) * 1e3)
                        print(f"| {n} | {len(lat)} | {pct(lat,50):.1f} | {pct(lat,99):.1f} | {dict(codes)} |")
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rates", default="500,1000,1500")
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--gates", type=int, default=8)
    ap.add_argument("--faces", default="100,1000")
    ap.add_argument("--skip-online", action="store_true")
    ap.add_argument("--skip-offline", action="store_true")
    a = ap.parse_args()
    print(f"{date.today()} on {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    if not a.skip_offline:
        bench_offline()
    if not a.skip_online:
        asyncio.run(bench_online(a.workers, [float(r) for r in a.rates.split(",")], a.seconds, a.gates,
                                 [int(n) for n in a.faces.split(",")]))


if __name__ == "__main__":
    main()
