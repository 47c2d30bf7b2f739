"""The gate endpoints, two trees side by side in alternating rounds: worker + PostgreSQL CPU
per first `GET /v1/bookings/{id}/token`, per `POST /v1/gates/{gate}/validate` accepted and
per the same validation replayed (already used).

Starts both trees' servers as bench_requests.py does (`maas serve --demo --workers 2`, each
seeded by its own seed code; `--pool P` seeds P/3 bookings), waits for the heaps to freeze
again (--settle), then splits the bookings into R rounds: in each round every tree (in turn,
the order swapped every round) issues the first token of that round's bookings, accepts each
QR once and replays it once. Prints each round and the medians, and the ratio new/old.

    git archive main | tar -x -C /tmp/base
    .venv/bin/python benchmarks/bench_gate_rounds.py --against /tmp/base --against-python $PWD/.venv/bin/python
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())
sys.path.insert(0, str(Path(__file__).resolve().parent))
import aiohttp

import bench_requests as br

PHASES = ("token", "validate (accept)", "validate (replay)")


async def rounds(a, runs) -> dict:
    """runs: [(label, url, groups, seeded)] -> label -> phase -> [(worker, PostgreSQL) CPU ms
    per request, one per round]."""
    got: dict = {}
    sessions = {label: aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=64))
                for label, url, _g, _s in runs}
    size = min(len(s["pool"]) for _l, _u, _g, s in runs) // a.rounds
    try:
        for r in range(a.rounds):
            order = runs if r % 2 == 0 else runs[::-1]
            for label, url, groups, seeded in order:
                s = sessions[label]
                tickets = seeded["pool"][r * size:(r + 1) * size]
                toks: list = []

                async def token(i):
                    t = tickets[i]
                    async with s.get(f"/v1/bookings/{t['booking']}/token",
                                     headers={"Authorization": f"Bearer {t['token']}"}) as resp:
                        d = await resp.json()
                        assert resp.status == 200, resp.status
                        toks.append((t, d["qr"]))

                def validate(want):
                    async def go(i):
                        t, qr = toks[i]
                        station = t["legs"][0][1] if not t.get("boards") else t["boards"][0]
                        gid, key = seeded["gates"][station][0]
                        async with s.post(f"/v1/gates/{gid}/validate", json={"qr": qr},
                                          headers={"Authorization": f"Bearer {key}"}) as resp:
                            d = await resp.json()
                            assert resp.status == 200 and d["code"] == want, d
                    return go

                b = argparse.Namespace(**vars(a))
                b.label = f"[{label}] r{r + 1} "
                for name, make in zip(PHASES, (token, validate("ok"), validate("already_used"))):
                    per = await br.phase(b, name, groups, size, a.conc, make)
                    got.setdefault(label, {}).setdefault(name, []).append(
                        (per["workers"], per["postgres"]))
    finally:
        for s in sessions.values():
            await s.close()
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", type=Path, required=True, help="the older tree")
    ap.add_argument("--against-python", help="its interpreter (default DIR/.venv/bin/python)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--pool", type=int, default=1800, help="seeds pool/3 bookings per tree")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--settle", type=float, default=35.0)
    ap.add_argument("--log-level", default="INFO")
    a = ap.parse_args()
    a.spy, a.spy_gil = "", False
    a.out = Path(tempfile.mkdtemp(prefix="gate-rounds-out-"))
    old = a.against.resolve()
    trees = [("old", old, a.against_python or str(old / ".venv" / "bin" / "python")),
             ("new", Path(os.getcwd()), sys.executable)]
    started = []
    try:
        for tag, tree, python in trees:
            started.append((tag, br.start(a, tree, python, tag)))
        if a.settle > 0:
            time.sleep(a.settle)     # the seed thawed the heaps (bench_requests.py --settle)
        runs = [(tag, url, groups, seeded) for tag, (_s, url, seeded, _d, groups) in started]
        got = asyncio.run(rounds(a, runs))
        print("\nmedians over rounds, CPU ms per request (worker + PostgreSQL):")
        for name in PHASES:
            med = {}
            for tag in ("old", "new"):
                med[tag] = (statistics.median(x[0] for x in got[tag][name]),
                            statistics.median(x[1] for x in got[tag][name]))
            ratios = [(n[0] + n[1]) / (o[0] + o[1]) for o, n in zip(got["old"][name], got["new"][name])]
            print(f"{name:20s} old {med['old'][0]:.3f}+{med['old'][1]:.3f}  new {med['new'][0]:.3f}+"
                  f"{med['new'][1]:.3f}  new/old per round " + ", ".join(f"{x:.0%}" for x in ratios)
                  + f"  (median {statistics.median(ratios):.0%})", flush=True)
    finally:
        br.stop_all(started)
        print(f"server logs in {a.out}")


if __name__ == "__main__":
    main()
