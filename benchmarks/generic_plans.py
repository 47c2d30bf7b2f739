"""Every parameterised statement the request paths run, planned custom and generic: the check
behind `db_generic_plans` (PostgreSQL's plan_cache_mode = force_generic_plan on the workers'
pooled connections).

Starts `maas serve --demo` on a fresh embedded data folder, seeds it as bench_requests.py does,
turns PostgreSQL's statement log on (log_min_duration_statement = 0), runs bench_requests'
phases (plan, stops, token, validate accept and replay, hold, confirm, cancel) with a few
requests each, then PREPAREs each distinct statement of the log and EXPLAINs one logged
execution of it with a custom plan and with the generic plan, and prints where they differ
(and the plpgsql functions, whose own statements follow the session's mode unless they set it);
then the PostgreSQL CPU of a new connection's first executions of them, both modes (--fresh):

    .venv/bin/python benchmarks/generic_plans.py [--n 60] [--pool 300]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.getcwd())
sys.path.insert(0, str(Path(__file__).resolve().parent))
import asyncpg  # noqa: E402

import bench_requests as br  # noqa: E402

_ENTRY = re.compile(r"^\S+ \S+ \S+ \[\d+\] LOG:  duration: [\d.]+ ms  (?:bind|execute) [^:]*: (.*)$")
_PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def statements(log: str) -> dict[str, list[str]]:
    """Distinct SQL of the log's bind/execute lines -> the parameters of its first execution."""
    out: dict[str, list[str]] = {}
    lines = log.splitlines()
    i = 0
    while i < len(lines):
        m = _ENTRY.match(lines[i])
        i += 1
        if not m:
            continue
        sql = [m.group(1)]
        while i < len(lines) and lines[i].startswith("\t"):
            sql.append(lines[i][1:])
            i += 1
        params: list[str] = []
        if i < len(lines) and "detail:  parameters:" in lines[i].lower():
            params = [v for _n, v in sorted(((int(n), v) for n, v in _PARAM.findall(lines[i])))]
        text = "\n".join(sql)
        if "$1" in text and text not in out and params:
            out[text] = params
    return out


def shape(plan: str) -> str:
    """A plan's nodes and relations, without the constants a custom plan folds in."""
    keep = []
    for line in plan.splitlines():
        line = line.strip().lstrip("-> ").strip()
        if line.startswith(("Filter:", "Index Cond:", "Recheck Cond:", "Output:", "Sort Key:",
                            "Join Filter:", "Hash Cond:", "Merge Cond:", "One-Time Filter:")):
            continue
        keep.append(re.sub(r"\$\d+|'[^']*'(::\w+)?", "?", line))
    return "\n".join(keep)


async def auto_choice(conn: asyncpg.Connection, n: int, sql: str, args: str) -> str:
    """Under plan_cache_mode = auto, the plans PostgreSQL made over 8 executions of the
    statement (each undone): after five custom plans it keeps the generic one, unless it judges
    that dearer than planning anew at every execution."""
    await conn.execute("SET plan_cache_mode = auto")
    await conn.execute(f"PREPARE a{n} AS {sql}")
    await _executions(conn, f"a{n}", args, 8)
    row = await conn.fetchrow("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                              "WHERE name = $1", f"a{n}")
    await conn.execute(f"DEALLOCATE a{n}")
    return f"{row['custom_plans']} custom plans, {row['generic_plans']} generic"


async def explain_all(db_url: str, stmts: dict[str, list[str]]) -> int:
    conn = await asyncpg.connect(db_url)
    differ = 0
    try:
        for n, (sql, params) in enumerate(stmts.items()):
            await conn.execute(f"PREPARE s{n} AS {sql}")
            args = ", ".join(params)
            plans = {}
            for mode in ("force_custom_plan", "force_generic_plan"):
                await conn.execute(f"SET plan_cache_mode = {mode}")
                rows = await conn.fetch(f"EXPLAIN (COSTS OFF) EXECUTE s{n}({args})")
                plans[mode] = "\n".join(r[0] for r in rows)
            same = shape(plans["force_custom_plan"]) == shape(plans["force_generic_plan"])
            differ += not same
            head = " ".join(sql.split())[:150]
            print(f"\n{'same' if same else 'DIFFERS'}: {head}")
            print(f"  PostgreSQL's default (auto), 8 executions: {await auto_choice(conn, n, sql, args)}")
            if not same:
                for mode, p in plans.items():
                    print(f"  -- {mode}\n    " + p.replace("\n", "\n    "))
            else:
                print("    " + plans["force_generic_plan"].replace("\n", "\n    "))
        rows = await conn.fetch(
            "SELECT p.proname, p.proconfig FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
            "JOIN pg_namespace s ON s.oid = p.pronamespace "
            "WHERE l.lanname = 'plpgsql' AND s.nspname = 'public' ORDER BY 1")
        print("\nplpgsql functions (their statements: the session's plan_cache_mode unless set):")
        for r in rows:
            print(f"  {r['proname']:34s} {r['proconfig'] or '(session mode)'}")
    finally:
        await conn.close()
    return differ


def _backend_cpu_s(pid: int) -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


async def _executions(conn: asyncpg.Connection, name: str, args: str, times: int) -> float:
    """`EXECUTE name(args)` `times` times in one transaction, each undone (a savepoint each,
    errors ignored), then rolled back; the backend's CPU seconds meanwhile."""
    pid = conn.get_server_pid()
    await conn.execute("BEGIN")
    t0 = _backend_cpu_s(pid)
    try:
        for _ in range(times):
            await conn.execute("SAVEPOINT p")
            try:
                await conn.execute(f"EXECUTE {name}({args})")
            except asyncpg.PostgresError:
                pass
            await conn.execute("ROLLBACK TO SAVEPOINT p")
    finally:
        t1 = _backend_cpu_s(pid)
        await conn.execute("ROLLBACK")
    return t1 - t0


async def _run(conn: asyncpg.Connection, n: int, params: list[str], times: int) -> float:
    """Statement n `times` times with its logged parameters, each execution undone; the
    backend's CPU seconds meanwhile."""
    return await _executions(conn, f"w{n}", ", ".join(params), times)


async def fresh_connections(db_url: str, stmts: dict[str, list[str]], rounds: int) -> None:
    """PostgreSQL CPU of a new pooled connection's first executions, PostgreSQL's default
    against force_generic_plan, alternating: connect as the pool does, let asyncpg prepare
    each statement (its type introspection included), then per statement 8 executions (the
    warm-up) and 8 more (warm); the backend's CPU from /proc schedstat."""
    from maas.db import GENERIC_PLANS, _init_connection
    modes = ("auto", "force_generic_plan")
    got = {m: collections.defaultdict(list) for m in modes}
    for r in range(rounds):
        for generic in ((False, True) if r % 2 == 0 else (True, False)):
            conn = await asyncpg.connect(db_url, server_settings=GENERIC_PLANS if generic else None)
            row = got[modes[generic]]
            try:
                await _init_connection(conn)
                pid = conn.get_server_pid()
                t0 = _backend_cpu_s(pid)
                for n, sql in enumerate(stmts):
                    await conn.prepare(sql)
                    await conn.execute(f"PREPARE w{n} AS {sql}")
                row["prepare"].append(_backend_cpu_s(pid) - t0)
                for n, params in enumerate(stmts.values()):
                    row[n, 1].append(await _run(conn, n, params, 8))
                    row[n, 2].append(await _run(conn, n, params, 8))
            finally:
                await conn.close()
    ms = lambda xs: statistics.median(xs) * 1000   # noqa: E731
    print(f"\na new connection: backend CPU ms, median of {rounds} (auto / force_generic_plan)")
    print(f"  asyncpg's prepare of all (parse, type introspection): "
          f"{ms(got['auto']['prepare']):.2f} / {ms(got['force_generic_plan']['prepare']):.2f}")
    tot = {m: [0.0, 0.0] for m in modes}
    for n, sql in enumerate(stmts):
        a1, a2, g1, g2 = (ms(got[m][n, k]) for m in modes for k in (1, 2))
        tot["auto"][0] += a1; tot["auto"][1] += a2
        tot["force_generic_plan"][0] += g1; tot["force_generic_plan"][1] += g2
        print(f"  executions 1-8: {a1:6.2f} / {g1:6.2f}   9-16: {a2:6.2f} / {g2:6.2f}   "
              + " ".join(sql.split())[:70])
    print(f"  all statements, executions 1-8: {tot['auto'][0]:.2f} / {tot['force_generic_plan'][0]:.2f}"
          f"   9-16: {tot['auto'][1]:.2f} / {tot['force_generic_plan'][1]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--pool", type=int, default=300)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--conc", type=int, default=4)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--keep-log", type=Path, help="copy PostgreSQL's statement log here")
    ap.add_argument("--fresh", type=int, default=10,
                    help="rounds of the new-connection warm-up measurement (0: none)")
    cli = ap.parse_args()
    a = argparse.Namespace(workers=cli.workers, n=cli.n, conc=cli.conc, pool=cli.pool,
                           log_level="WARNING", spy="", spy_gil=False, book=True, book_only=False,
                           passes=cli.passes, label="",
                           out=Path(tempfile.mkdtemp(prefix="generic-plans-")))
    server, url, seeded, data_dir, groups = br.start(a, Path(os.getcwd()), sys.executable, "new")
    from maas.embedded import start_postgres
    handle, db_url = start_postgres(data_dir / "postgres")
    try:
        async def set_log(value: str) -> None:
            conn = await asyncpg.connect(db_url)
            try:
                await conn.execute(f"ALTER SYSTEM SET log_min_duration_statement = {value}")
                await conn.execute("SELECT pg_reload_conf()")
            finally:
                await conn.close()
        asyncio.run(set_log("0"))
        asyncio.run(br.main_async(a, url, seeded, groups))
        asyncio.run(set_log("DEFAULT"))
        log = (data_dir / "postgres" / "log").read_text(errors="replace")
        if cli.keep_log:
            cli.keep_log.write_text(log)
        stmts = statements(log)
        print(f"\n{len(stmts)} distinct parameterised statements in the log")
        differ = asyncio.run(explain_all(db_url, stmts))
        print(f"\n{differ} of {len(stmts)} statements plan differently generic than custom")
        if cli.fresh:   # asyncpg's own introspection statements: its prepare runs them
            ours = {k: v for k, v in stmts.items()
                    if "typeinfo_tree" not in k and not k.startswith("SELECT set_config('jit'")}
            asyncio.run(fresh_connections(db_url, ours, cli.fresh))
    finally:
        handle.cleanup()
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(a.out, ignore_errors=True)


if __name__ == "__main__":
    main()
