"""`loadtests/run`: one command from a fresh maas to a verdict.

start maas (N workers, fresh embedded data or the given URLs, demo network) -> seed it
(accounts, keys, a pool of confirmed bookings) -> Locust headless on loopback for a bounded
time and user count -> check: unexpected failures, latency SLOs (slo.toml), invariants in
PostgreSQL, accepts seen by the gates against the taps stored -> stop maas (SIGTERM; also
on Ctrl-C or any error). Exit status 0 only if every check passed.

`--target URL` drives a maas that is already running (no server started; its PostgreSQL given
by --database-url). `--distributed N` runs Locust as a master and N workers (started here, or
on other machines with `loadtests/run --worker --master-host HOST`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import psutil

from loadtests.invariants import check_invariants
from loadtests.report import CpuSampler, activation_effect, markdown, read_outcomes, summarise_pyspy
from loadtests.seed import SeedPlan, seed
from loadtests.server import Server, clean_env, server_environment
from loadtests.slo import Check, evaluate, load_profile, read_stats

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Smoke: small and short, for CI. Full: the 2-core benchmark (see BENCHMARKS.md).
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"users": 24, "spawn_rate": 24, "time": 40, "workers": 2, "processes": 1,
              "mix": {"passenger_weight": 3, "passenger_rate": 2.0, "gate_weight": 1, "gate_rate": 1.0,
                      "stops_weight": 3, "plan_weight": 10, "book_weight": 3,
                      "operator_first_s": 8, "operator_every_s": 600, "operator_feed": "smallest"}},
    # sized for the goal: ~130 passengers x 3 iterations/s (~310 plans/s) and ~55 gates x 4
    # check-ins/s (~2.4 validations each: ~530 validations/s), one operator
    "full": {"users": 186, "spawn_rate": 40, "time": 120, "workers": 2, "processes": 2,
             "mix": {"passenger_weight": 26, "passenger_rate": 3.0, "gate_weight": 11, "gate_rate": 4.0,
                     "stops_weight": 3, "plan_weight": 12, "book_weight": 1,
                     "operator_first_s": 45, "operator_every_s": 45}},
}

# Gate admission windows for the load server (MAAS_GATES__WINDOW_MIN): 72 h before
# departure, so tickets pre-booked for tomorrow's trips (and later legs running into the day
# after) admit whenever the run starts. The validation path is the same; only the
# clock-dependent window is widened, so the run does not depend on the time of day.
WIDE_WINDOWS = {m: [4320, 120] for m in ("bus", "tram", "metro", "ferry", "coach", "rail", "air", "other")}

SHANGHAI = ZoneInfo("Asia/Shanghai")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="loadtests/run", description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="short CI run (<= 60 s of load), loose SLOs")
    p.add_argument("--users", type=int, help="concurrent Locust users (passengers + gates + operators)")
    p.add_argument("--spawn-rate", type=float, help="users started per second")
    p.add_argument("--time", type=int, help="seconds of load")
    p.add_argument("--workers", type=int, help="maas worker processes")
    p.add_argument("--processes", type=int, help="Locust processes (load generators)")
    p.add_argument("--pool", type=int, help="confirmed bookings pre-booked for the gates (default: enough)")
    p.add_argument("--out", type=Path, default=HERE / "out", help="output folder (default loadtests/out)")
    p.add_argument("--slo", type=Path, default=HERE / "slo.toml", help="SLO file")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                   help="use this PostgreSQL (default: $DATABASE_URL, else embedded in a fresh folder)")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                   help="use this Redis (default: $REDIS_URL, else embedded)")
    p.add_argument("--log-level", default="INFO", help="maas log level during the run (default INFO)")
    p.add_argument("--profile", type=float, default=0.0, metavar="SECONDS",
                   help="py-spy record one maas worker for SECONDS in the middle of the load")
    p.add_argument("--loadgen-nice", type=int, default=-5, metavar="N",
                   help="nice value of the Locust processes (default -5: the clients, which would run on "
                        "other machines in real life, are served first by this machine's scheduler, so their "
                        "own waiting does not count as the server's latency; 0 to share equally)")
    p.add_argument("--db-nice", type=int, default=-5, metavar="N",
                   help="nice value of the embedded PostgreSQL during the run (default -5: the database is "
                        "on machines of its own in production; here its short bursts go first, so requests "
                        "holding a connection or a seat lock are not held up behind planning; 0 to leave it)")
    p.add_argument("--mix", default="", help="JSON overriding the traffic mix (see PROFILES)")
    p.add_argument("--keep-data", action="store_true", help="keep the embedded data folder")
    p.add_argument("--target", metavar="URL",
                   help="drive this running maas instead of starting one (needs --database-url: its "
                        "PostgreSQL, where the seed creates its keys and the invariants are checked)")
    p.add_argument("--distributed", type=int, default=0, metavar="N",
                   help="Locust as a master and N workers (instead of --processes)")
    p.add_argument("--local-workers", type=int, metavar="K",
                   help="of the N workers, start K here (default N; the others run "
                        "`loadtests/run --worker --master-host HOST` on other machines)")
    p.add_argument("--master-bind", default="127.0.0.1", metavar="HOST",
                   help="address the Locust master listens on for workers (0.0.0.0 for other machines)")
    p.add_argument("--master-port", type=int, default=5557,
                   help="port of the Locust master (0: a free one; default 5557)")
    p.add_argument("--worker", action="store_true",
                   help="only run a Locust worker for a master started elsewhere by loadtests/run")
    p.add_argument("--master-host", default="127.0.0.1", help="the master's address (with --worker)")
    a = p.parse_args(argv)
    if a.target and not a.database_url:
        p.error("--target needs --database-url (or $DATABASE_URL): the target's PostgreSQL, where the "
                "seed reads the active feeds and creates its API keys and the invariants are checked")
    if a.distributed < 0 or (a.local_workers is not None and not 0 <= a.local_workers <= a.distributed):
        p.error("--local-workers K needs --distributed N with 0 <= K <= N")
    if a.local_workers is None:
        a.local_workers = a.distributed
    prof = PROFILES["smoke" if a.smoke else "full"]
    for k in ("users", "spawn_rate", "time", "workers", "processes"):
        if getattr(a, k) is None:
            setattr(a, k, prof[k])
    a.profile_name = "smoke" if a.smoke else "full"
    a.mix_values = {**prof["mix"], **(json.loads(a.mix) if a.mix else {})}
    if a.smoke and a.time > 60:
        p.error("--smoke runs at most 60 s of load")
    if a.distributed:
        a.processes = a.distributed   # the pool is shared out over the workers
    return a


def say(msg: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _user_split(a: argparse.Namespace) -> tuple[int, int]:
    """(passengers, gates) Locust will start: weights over users minus the fixed operators."""
    mix = a.mix_values
    rest = max(0, a.users - int(mix.get("operators", 1)))
    pw, gw = float(mix["passenger_weight"]), float(mix["gate_weight"])
    gates = round(rest * gw / (pw + gw))
    return rest - gates, gates


def _pool_size(a: argparse.Namespace) -> int:
    if a.pool:
        return a.pool
    _, gates = _user_split(a)
    # each gate user checks in at most gate_rate tickets a second
    return max(50, int(gates * float(a.mix_values["gate_rate"]) * a.time * 1.3) + 50)


def _database_url(a: argparse.Namespace, data_dir: Path, stack: list[Any]) -> str:
    if a.database_url:
        return a.database_url
    from maas.embedded import start_postgres

    handle, url = start_postgres(data_dir / "postgres")  # attaches to the server's PostgreSQL
    stack.append(handle)
    return url


def _renice_postgres(data_dir: Path, nice: int) -> int:
    """Set the embedded PostgreSQL's processes (postmaster first: later backends inherit it)
    to `nice`; how many were changed (0 without the privilege or without an embedded one)."""
    if not nice:
        return 0
    done = 0
    try:
        master = psutil.Process(int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0]))
        for p in [master, *master.children(recursive=True)]:
            try:
                p.nice(nice)
                done += 1
            except psutil.Error:
                pass
    except (OSError, ValueError, psutil.Error):
        pass
    return done


def _groups(server: Server | None, data_dir: Path, locust: subprocess.Popen | None,
            local_workers: list[subprocess.Popen] = ()) -> dict[str, list[psutil.Process]]:
    groups: dict[str, list[psutil.Process]] = {}
    if server is None:   # an external target: only the load generator is ours to sample
        if locust is not None:
            groups["locust"] = _tree([locust, *local_workers])
        return groups
    groups["maas workers"] = server.workers()
    pg: list[psutil.Process] = []
    pidfile = data_dir / "postgres" / "postmaster.pid"
    try:
        master = psutil.Process(int(pidfile.read_text().split()[0]))
        pg = [master, *master.children(recursive=True)]
    except (OSError, ValueError, psutil.Error):
        pass
    groups["postgres"] = pg
    redis = []
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if "redis" in (p.info["name"] or "") and str(data_dir) in " ".join(p.info["cmdline"] or []):
                redis.append(p)
        except psutil.Error:
            pass
    groups["redis"] = redis
    if locust is not None:
        groups["locust"] = _tree([locust, *local_workers])
    return groups


def _tree(procs: list[subprocess.Popen]) -> list[psutil.Process]:
    out: list[psutil.Process] = []
    for proc in procs:
        try:
            lp = psutil.Process(proc.pid)
            out += [lp, *lp.children(recursive=True)]
        except psutil.Error:
            pass
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_cmd(a: argparse.Namespace, master_host: str, port: int) -> list[str]:
    nice = ["nice", "-n", str(a.loadgen_nice)] if a.loadgen_nice and shutil.which("nice") else []
    return [*nice, sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--worker",
            "--master-host", master_host, "--master-port", str(port), "--loglevel", "WARNING"]


def _locust_cmd(a: argparse.Namespace, url: str, out: Path) -> list[str]:
    nice = ["nice", "-n", str(a.loadgen_nice)] if a.loadgen_nice and shutil.which("nice") else []
    cmd = [*nice, sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
           "--host", url, "-u", str(a.users), "-r", str(a.spawn_rate), "-t", f"{a.time}s",
           "--stop-timeout", "20", "--csv", str(out / "locust"), "--csv-full-history",
           "--html", str(out / "report.html"), "--only-summary", "--loglevel", "WARNING",
           "--exit-code-on-error", "1", "--web-host", "127.0.0.1"]
    if a.distributed:
        cmd += ["--master", "--expect-workers", str(a.distributed), "--expect-workers-max-wait", "120",
                "--master-bind-host", a.master_bind, "--master-bind-port", str(a.master_port)]
    elif a.processes > 1:
        cmd += ["--processes", str(a.processes), "--master-bind-host", "127.0.0.1"]
    return cmd


def _pyspy(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        say("py-spy is not installed (pip install py-spy); no profile")
        return None
    return subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "100",
                             "--nonblocking", "--format", "raw", "-o", str(out / "pyspy-worker.txt")],
                            stdout=subprocess.DEVNULL, stderr=open(out / "pyspy.log", "w"))


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM (Locust stops its users and writes its reports), then SIGKILL if it hangs.
    Not SIGINT: a runner started in the background passes SIGINT on as ignored."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def _run_locust(a: argparse.Namespace, url: str, out: Path, env: dict[str, str], server: Server | None,
                data_dir: Path, results: dict[str, Any]) -> int:
    if a.distributed:
        env = {**env, "MAAS_LOAD_DISTRIBUTED": "1"}
        if not a.master_port:
            a.master_port = _free_port()
    cmd = _locust_cmd(a, url, out)
    results["locust_command"] = " ".join(cmd)
    log = open(out / "locust.log", "w", encoding="utf-8")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    workers: list[subprocess.Popen] = []
    if a.distributed:   # the workers know only the master: no seed file, no output folder of ours
        wenv = {k: v for k, v in env.items() if k not in ("MAAS_LOAD_SEED", "MAAS_LOAD_OUT")}
        wcmd = _worker_cmd(a, "127.0.0.1" if a.master_bind in ("0.0.0.0", "*", "") else a.master_bind,
                           a.master_port)
        for i in range(a.local_workers):
            wlog = open(out / f"locust-worker{i}.log", "w", encoding="utf-8")
            workers.append(subprocess.Popen(wcmd, env=wenv, stdout=wlog, stderr=subprocess.STDOUT,
                                            start_new_session=True, cwd=tempfile.gettempdir()))
            wlog.close()
        say(f"Locust master on {a.master_bind}:{a.master_port}, {a.local_workers} of "
            f"{a.distributed} workers started here")
    sampler = CpuSampler(lambda: _groups(server, data_dir, proc, workers)).start()
    results["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
    spy = None
    t0 = time.monotonic()
    try:
        deadline = t0 + a.time + 90
        while proc.poll() is None:
            # profile once the users are running, before the operator's first activation
            if a.profile and spy is None and server is not None and time.monotonic() - t0 > min(15.0, a.time / 4):
                workers = server.workers()
                if workers:
                    spy = _pyspy(workers[0].pid, a.profile, out)
                    results["profiled_pid"] = workers[0].pid
            if time.monotonic() > deadline:
                say("Locust did not stop in time; stopping it")
                _stop_group(proc)
            time.sleep(0.5)
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        for w in workers:   # they quit with the master; a worker that does not is stopped
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                _stop_group(w)
        results["cpu"] = sampler.stop()
        results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        results["load_seconds"] = round(time.monotonic() - t0, 1)
        if spy is not None:
            try:
                spy.wait(a.profile + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
            raw = out / "pyspy-worker.txt"
            if raw.exists():
                (out / "pyspy-summary.txt").write_text(summarise_pyspy(raw), encoding="utf-8")
        log.close()
    return proc.returncode


async def _db_checks(db_url: str, settings: Any, gate_ids: set[str], accepted: list[tuple[str, int, str]],
                     clean_client: bool) -> tuple[list[Check], dict[str, Any]]:
    conn = await asyncpg.connect(db_url)
    checks: list[Check] = []
    details: dict[str, Any] = {}
    try:
        caps = settings.bookings.capacity
        for v in await check_invariants(conn, caps, settings.bookings.capacity_default):
            checks.append(Check(f"invariant {v.invariant.name}: {v.invariant.text}", "0 violations",
                                str(v.count), v.count == 0))
            if v.count:
                details[v.invariant.name] = v.rows
        taps = await conn.fetch("SELECT booking_id, leg_no, gate_id FROM gate_taps WHERE gate_id = ANY($1)",
                                sorted(gate_ids))
        stored = {(r["booking_id"], r["leg_no"]) for r in taps}
        seen = [(b, leg) for b, leg, _ in accepted]
        twice = len(seen) - len(set(seen))
        lost = len(set(seen) - stored)
        checks.append(Check("gates: no booking leg answered 'accept' twice", "0", str(twice), twice == 0))
        checks.append(Check("gates: every accept answered is stored as a tap", "0 missing", str(lost), lost == 0))
        if clean_client:   # with no client errors, every stored tap was answered accept
            extra = len(stored - set(seen))
            checks.append(Check("gates: every stored tap was answered 'accept'", "0 extra", str(extra), extra == 0))
        counts = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM bookings) AS bookings,
                      (SELECT count(*) FROM bookings WHERE status = 'confirmed') AS confirmed,
                      (SELECT count(*) FROM bookings WHERE status = 'cancelled') AS cancelled,
                      (SELECT count(*) FROM tickets) AS tickets,
                      (SELECT count(*) FROM gate_taps) AS taps,
                      (SELECT count(*) FROM passenger_taps) AS id_card_taps""")
        details["counts"] = dict(counts)
    finally:
        await conn.close()
    return checks, details


def _server_errors(server: Server) -> list[str]:
    """Log records at level error or worse (tracebacks of 500s) from the server's JSON log."""
    out = []
    try:
        text = server.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        level = ""
        if line.startswith("{"):
            try:
                level = str(json.loads(line).get("level", "")).lower()
            except ValueError:
                pass
        if level in ("error", "critical", "fatal") or line.startswith("Traceback"):
            out.append(line[:3000])
    return out


def _failures(out: Path, top: int = 12) -> list[str]:
    """The most frequent unexpected failures Locust recorded (its failures CSV)."""
    path = out / "locust_failures.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: -int(r.get("Occurrences") or 0))
    return [f"{r['Occurrences']} x {r['Name']}: {r['Error'][:400]}" for r in rows[:top]]


def _seed_phase(a: argparse.Namespace, url: str, db_url: str, out: Path,
                results: dict[str, Any]) -> dict[str, Any]:
    """Seed the running maas (loadtests/seed.py) and write the seed file Locust reads."""
    tomorrow = datetime.now(SHANGHAI).date() + timedelta(days=1)
    pool = _pool_size(a)
    t_seed = time.monotonic()
    say(f"seeding: accounts, keys, confirmed bookings with {pool} legs for the gates to enter (trips of {tomorrow})")
    seeded = asyncio.run(seed(url, db_url, SeedPlan(
        plan_date=tomorrow, pool=pool, pairs=max(120, pool // 40), log=say,
        operator_feed=a.mix_values.get("operator_feed"),
        # legs of one booking are entered >= 16 s apart: enough bookings to rotate through
        min_bookings=min(int(_user_split(a)[1] * float(a.mix_values["gate_rate"]) * 17), pool // 2)), out))
    seeded["mix"] = a.mix_values
    (out / "seed.json").write_text(json.dumps(seeded, ensure_ascii=False), encoding="utf-8")
    results["seed_s"] = round(time.monotonic() - t_seed, 1)
    results["pool"] = len(seeded["pool"])
    results["gate_stations"] = len(seeded["gate_stations"])
    results["seed_stats"] = seeded.get("stats", {})
    say(f"seeded in {results['seed_s']} s; Locust: {a.users} users for {a.time} s on {url}")
    return seeded


def _judge(a: argparse.Namespace, out: Path, seeded: dict[str, Any], db_url: str, settings: Any,
           server: Server | None, results: dict[str, Any]) -> list[Check]:
    """Every check after the load: SLOs, invariants, gates against taps, pool, server log."""
    stats_path = out / "locust_stats.csv"
    if not stats_path.exists():
        raise RuntimeError(f"Locust wrote no statistics; see {out / 'locust.log'}")
    stats = read_stats(stats_path)
    checks = evaluate(stats, load_profile(a.slo, a.profile_name))
    outcomes = read_outcomes(out)
    gate_ids = {g for gs in seeded["gates"].values() for g, _ in gs}
    clean = stats.get("Aggregated") is not None and stats["Aggregated"].failures == 0
    db_checks, details = asyncio.run(_db_checks(db_url, settings, gate_ids, outcomes.accepted, clean))
    checks += db_checks
    if outcomes.counts.get("gate pool exhausted"):
        checks.append(Check("gates: the pre-booked pool lasted the whole run", "0 empty claims",
                            str(outcomes.counts["gate pool exhausted"]), False))
    errors = _server_errors(server) if server is not None else []
    if server is not None:   # an external target's log is its operator's to read
        checks.append(Check("server log: no ERROR lines (500s, crashed tasks)", "0", str(len(errors)), not errors))
    if a.distributed:
        got = len(list(out.glob("outcomes-worker*.json")))
        checks.append(Check("distributed: every Locust worker sent what it saw", str(a.distributed), str(got),
                            got == a.distributed))
    results.update({
        "endpoints": {n: {"requests": s.requests, "failures": s.failures, "rps": s.rps, **s.percentiles}
                      for n, s in stats.items()},
        "outcomes": dict(outcomes.counts), "accepted": len(outcomes.accepted),
        "activations": activation_effect(outcomes.samples.get("plan", []), outcomes.activations),
        "invariant_details": details, "server_errors": errors[:50], "failures": _failures(out),
    })
    return checks


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_worker(a: argparse.Namespace) -> int:
    """`loadtests/run --worker --master-host HOST`: one Locust worker for a master started by
    `loadtests/run --distributed N --master-bind 0.0.0.0` on another machine; it gets the seed
    from the master and sends what it saw back."""
    env = {**clean_env({"MAAS_LOAD_DISTRIBUTED": "1"}),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    say(f"Locust worker for the master at {a.master_host}:{a.master_port}")
    proc = subprocess.Popen(_worker_cmd(a, a.master_host, a.master_port), env=env, start_new_session=True)
    try:
        return proc.wait()
    except BaseException:
        _stop_group(proc)
        raise


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.worker:
        return run_worker(a)
    signal.signal(signal.SIGTERM, _interrupt)   # e.g. a CI timeout: still stop maas cleanly
    out: Path = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("locust*")) + list(out.glob("outcomes-*.json")) + list(out.glob("pyspy*")):
        old.unlink()
    data_dir = Path(tempfile.mkdtemp(prefix="maas-load-", dir="/tmp"))
    server_env = {"MAAS_LOG_LEVEL": a.log_level, "MAAS_GATES__WINDOW_MIN": json.dumps(WIDE_WINDOWS)}
    if a.database_url:
        server_env["DATABASE_URL"] = a.database_url
    if a.redis_url:
        server_env["REDIS_URL"] = a.redis_url
    env = server_environment(server_env)
    os.environ.update(server_env)   # so Settings() here reads what the server reads
    results: dict[str, Any] = {"profile": a.profile_name, "users": a.users, "spawn_rate": a.spawn_rate,
                               "time_s": a.time, "workers": a.workers, "locust_processes": a.processes,
                               "command": " ".join(["loadtests/run", *(argv if argv is not None else sys.argv[1:])]),
                               "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    stack: list[Any] = []
    server = None
    checks: list[Check] = []
    code = 1
    t_start = time.monotonic()
    try:
        if a.target:
            url = a.target.rstrip("/")
            results["target"] = url
            say(f"driving the running maas at {url} (no server started)")
            db_url = a.database_url
        else:
            say(f"starting maas: {a.workers} workers, data in {data_dir}")
            server = Server(["--workers", str(a.workers), "--port", "0", "--host", "127.0.0.1",
                             "--data-dir", str(data_dir), "--demo"], env, out / "server.log")
            url = server.wait_listening(timeout=600)
            results["startup_s"] = round(time.monotonic() - t_start, 1)
            say(f"maas is listening on {url} after {results['startup_s']} s")
            db_url = _database_url(a, data_dir, stack)
            if not a.database_url:
                results["postgres_reniced"] = _renice_postgres(data_dir, a.db_nice)

        from maas.settings import Settings
        settings = Settings(database_url=db_url)
        seeded = _seed_phase(a, url, db_url, out, results)

        lenv = clean_env({"MAAS_LOAD_SEED": str(out / "seed.json"), "MAAS_LOAD_OUT": str(out),
                          "MAAS_LOAD_PROCESSES": str(a.processes)})
        rc = _run_locust(a, url, out, lenv, server, data_dir, results)
        results["locust_exit"] = rc
        say(f"Locust finished (exit {rc}); checking")

        checks += _judge(a, out, seeded, db_url, settings, server, results)
        code = 0 if all(c.ok for c in checks) else 1
    except KeyboardInterrupt:
        say("interrupted")
        code = 130
    except Exception as exc:  # noqa: BLE001 — report it, stop the server, exit non-zero
        say(f"error: {type(exc).__name__}: {exc}")
        results["error"] = f"{type(exc).__name__}: {exc}"
        code = 1
    finally:
        if server is not None:
            say("stopping maas (SIGTERM)")
            rc = server.stop()
            results["server_exit"] = rc
            stopped = any("maas stopped" in line for line in server.stdout)
            checks.append(Check("maas stopped cleanly on SIGTERM", "exit 0", str(rc), rc == 0 and stopped))
            if rc != 0 and code == 0:
                code = 1
        for handle in stack:
            try:
                handle.cleanup()
            except Exception:  # noqa: BLE001
                pass
        if not a.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    results["checks"] = [c.__dict__ for c in checks]
    results["passed"] = code == 0
    (out / "summary.json").write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str),
                                      encoding="utf-8")
    (out / "summary.md").write_text(markdown(results), encoding="utf-8")
    _print_summary(results, checks, out)
    return code


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if v != v else f"{v:.0f}" if v >= 10 else f"{v:.1f}"
    return str(v)


def _print_summary(results: dict[str, Any], checks: list[Check], out: Path) -> None:
    lines = ["", f"== maas load run ({results['profile']}): {results['users']} users, {results['time_s']} s, "
             f"{results['workers']} maas workers, {results['locust_processes']} Locust process(es) =="]
    eps = results.get("endpoints", {})
    if eps:
        lines.append(f"{'endpoint':48} {'reqs':>7} {'fail':>5} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6}")
        for name, e in eps.items():
            lines.append(f"{name[:48]:48} {e['requests']:>7} {e['failures']:>5} {_fmt(e['rps']):>7} "
                         f"{_fmt(e['p50']):>6} {_fmt(e['p95']):>6} {_fmt(e['p99']):>6} {_fmt(e['max']):>6}")
    if results.get("cpu"):
        lines.append("CPU (cores, mean/max): " + ", ".join(
            f"{g} {v['mean_cores']:.2f}/{v['max_cores']:.2f}" for g, v in results["cpu"].items()))
    act = results.get("activations", {})
    if act and act.get("timeline"):
        d, o = act["during"], act["otherwise"]
        lines.append(f"plan latency during feed publish+activate (+10 s): p50 {_fmt(d['p50'])} p95 {_fmt(d['p95'])} "
                     f"p99 {_fmt(d['p99'])} ms (n={d['n']}); otherwise p50 {_fmt(o['p50'])} p95 {_fmt(o['p95'])} "
                     f"p99 {_fmt(o['p99'])} ms (n={o['n']})")
    if results.get("outcomes"):
        lines.append("outcomes: " + ", ".join(f"{k}: {v}" for k, v in sorted(results["outcomes"].items())))
    if results.get("failures"):
        lines.append("unexpected failures (most frequent first; full list in locust_failures.csv):")
        lines += [f"  {f}" for f in results["failures"]]
    if results.get("server_errors"):
        lines.append(f"server errors ({len(results['server_errors'])} shown; full log in server.log):")
        lines += [f"  {e[:500]}" for e in results["server_errors"][:5]]
    for name, rows in results.get("invariant_details", {}).items():
        if name != "counts":
            lines.append(f"invariant {name} violated, e.g.: {rows[:3]}")
    lines.append("checks:")
    for c in checks:
        lines.append(f"  [{'ok' if c.ok else 'FAIL'}] {c.what}: {c.value} ({c.limit})")
    if results.get("error"):
        lines.append(f"error: {results['error']}")
    lines.append(f"{'PASSED' if results['passed'] else 'FAILED'} — CSV, HTML report and logs in {out}")
    text = "\n".join(lines) + "\n"
    (out / "summary.txt").write_text(text, encoding="utf-8")
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main())
