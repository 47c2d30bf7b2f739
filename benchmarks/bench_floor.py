"""What every request pays, two trees side by side: worker CPU per `GET /healthz` (the HTTP
floor: middleware, access line, metrics, aiohttp) and worker + PostgreSQL CPU per gate
validation of an already used ticket (`validate (replay)`), in alternating rounds; with
`--plan N`, also N `GET /v1/plan` a round as bench_requests.py's plan phase asks them (a
seeded pair at a random minute 07:00-18:59; each round its own queries, the same for both
trees).

Starts both trees' servers as bench_requests.py does (`maas serve --demo --workers 2`, each
seeded by its own seed code), takes a QR code of every seeded ticket and accepts each once,
then runs R rounds; in each round every tree (in turn, the order swapped every round) gets
N requests of each phase. Prints each round and the medians, and the ratio new/old.

    git archive main | tar -x -C /tmp/base
    .venv/bin/python benchmarks/bench_floor.py --against /tmp/base --against-python .venv/bin/python
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.getcwd())
sys.path.insert(0, str(Path(__file__).resolve().parent))
import aiohttp

import bench_requests as br


async def current_codes(url: str, seeded: dict, accept: bool = False) -> list:
    """(gate id, gate key, QR) of every seeded ticket, its code current (a code expires after
    a few TOTP steps: taken anew before every round, outside the measurement); `accept`:
    validate each once, so every later validation is a replay."""
    out = []
    async with aiohttp.ClientSession(url) as s:
        for t in seeded["pool"]:
            async with s.get(f"/v1/bookings/{t['booking']}/token",
                             headers={"Authorization": f"Bearer {t['token']}"}) as r:
                assert r.status == 200, r.status
                qr = (await r.json())["qr"]
            station = t["legs"][0][1] if not t.get("boards") else t["boards"][0]
            gid, key = seeded["gates"][station][0]
            if accept:
                async with s.post(f"/v1/gates/{gid}/validate", json={"qr": qr},
                                  headers={"Authorization": f"Bearer {key}"}) as r:
                    assert r.status == 200, r.status
            out.append((gid, key, qr))
    return out


async def rounds(a, runs) -> dict:
    """runs: [(label, url, groups, seeded)] -> label -> phase -> [(worker, PostgreSQL) CPU ms
    per request, one per round]."""
    got: dict = {}
    sessions = {label: aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=64))
                for label, url, _g, _s in runs}
    for label, url, _g, seeded in runs:
        await current_codes(url, seeded, accept=True)
    try:
        for r in range(a.rounds):
            order = runs if r % 2 == 0 else runs[::-1]
            for label, url, groups, seeded in order:
                s = sessions[label]
                taps = await current_codes(url, seeded)
                rng = random.Random(r)

                async def health(i):
                    async with s.get("/healthz") as resp:
                        await resp.read()

                async def replay(i):
                    gid, key, qr = taps[i % len(taps)]
                    async with s.post(f"/v1/gates/{gid}/validate", json={"qr": qr},
                                      headers={"Authorization": f"Bearer {key}"}) as resp:
                        d = await resp.json()
                        assert d.get("code") == "already_used", d

                async def plan(i):
                    p = rng.choice(seeded["plan_pairs"])
                    m = rng.randint(7 * 60, 19 * 60 - 1)
                    async with s.get("/v1/plan", params={
                            "from": p[0], "to": p[1], "date": seeded["plan_date"],
                            "time": f"{m // 60:02d}:{m % 60:02d}"}) as resp:
                        await resp.read()
                        assert resp.status == 200, resp.status

                b = argparse.Namespace(**vars(a))
                b.label = f"[{label}] r{r + 1} "
                for name, make, n in _phases(a, health, replay, plan):
                    per = await br.phase(b, name, groups, n, a.conc, make)
                    got.setdefault(label, {}).setdefault(name, []).append(
                        (per["workers"], per["postgres"]))
    finally:
        for s in sessions.values():
            await s.close()
    return got


def _phases(a, health, replay, plan):  # type: ignore[no-untyped-def]
    """(name, request maker, requests) of a round's phases."""
    out = [("healthz", health, a.n), ("validate (replay)", replay, a.n // 2)]
    return out + [("plan", plan, a.plan)] if a.plan else out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", type=Path, required=True, help="the older tree")
    ap.add_argument("--against-python", help="its interpreter (default DIR/.venv/bin/python)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--n", type=int, default=2000, help="healthz requests a round (replay: n/2)")
    ap.add_argument("--plan", type=int, default=0, help="GET /v1/plan requests a round")
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--pool", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--log-level", default="INFO")
    a = ap.parse_args()
    a.spy, a.spy_gil = "", False
    a.out = Path(tempfile.mkdtemp(prefix="floor-out-"))
    old = a.against.resolve()
    trees = [("old", old, a.against_python or str(old / ".venv" / "bin" / "python")),
             ("new", Path(os.getcwd()), sys.executable)]
    started = []
    try:
        for tag, tree, python in trees:
            started.append((tag, br.start(a, tree, python, tag)))
        runs = []
        for tag, (_server, url, seeded, _dd, groups) in started:
            runs.append((tag, url, groups, seeded))
        got = asyncio.run(rounds(a, runs))
        print("\nmedians over rounds, CPU ms per request (worker + PostgreSQL):")
        for name in ("healthz", "validate (replay)", *(["plan"] if a.plan else [])):
            med = {}
            for tag in ("old", "new"):
                w = statistics.median(x[0] for x in got[tag][name])
                p = statistics.median(x[1] for x in got[tag][name])
                med[tag] = (w, p)
            ratios = [(n[0] + n[1]) / (o[0] + o[1]) for o, n in zip(got["old"][name], got["new"][name])]
            print(f"{name:20s} old {med['old'][0]:.3f}+{med['old'][1]:.3f}  new {med['new'][0]:.3f}+"
                  f"{med['new'][1]:.3f}  new/old per round " + ", ".join(f"{x:.0%}" for x in ratios)
                  + f"  (median {statistics.median(ratios):.0%})")
    finally:
        br.stop_all(started)
        print(f"server logs in {a.out}")


if __name__ == "__main__":
    main()
