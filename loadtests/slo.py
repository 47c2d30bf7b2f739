"""Judge a Locust run against the SLOs in loadtests/slo.toml.

Reads Locust's `<prefix>_stats.csv` (one row per request name plus "Aggregated") and a
profile of the SLO file:

    [smoke]
    max_failures = 0                       # unexpected failures allowed over the whole run
    [smoke.endpoints."GET /v1/plan"]       # a Locust request name
    p50 = 100                              # ms; any of p50 p66 p75 p80 p90 p95 p98 p99 p99.9 max
    p95 = 400
    min_requests = 1                       # the scenario must have run (default 1)
    min_rps = 300                          # throughput goal (requests/s over the run)

An endpoint listed in the profile that saw no request fails (unless min_requests = 0);
endpoints not listed are reported but not judged.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EndpointStats", "Check", "read_stats", "load_profile", "evaluate", "PERCENTILES"]

# SLO key -> column of Locust's stats CSV
PERCENTILES = {
    "p50": "50%", "p66": "66%", "p75": "75%", "p80": "80%", "p90": "90%", "p95": "95%",
    "p98": "98%", "p99": "99%", "p99.9": "99.9%", "max": "100%",
}


@dataclass(frozen=True)
class EndpointStats:
    name: str
    method: str
    requests: int
    failures: int
    rps: float
    percentiles: dict[str, float]   # SLO key -> ms (NaN when Locust had no sample)

    def get(self, key: str) -> float:
        return self.percentiles.get(key, float("nan"))


@dataclass(frozen=True)
class Check:
    what: str        # e.g. "GET /v1/plan p95"
    limit: str       # e.g. "<= 100 ms"
    value: str       # measured
    ok: bool


def _num(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "", "N/A") else float("nan")
    except ValueError:
        return float("nan")


def read_stats(path: Path) -> dict[str, EndpointStats]:
    """Rows of a Locust `_stats.csv` by request name ("Aggregated" included)."""
    out: dict[str, EndpointStats] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = row["Name"]
            out[name] = EndpointStats(
                name=name,
                method=row.get("Type", ""),
                requests=int(_num(row["Request Count"]) or 0),
                failures=int(_num(row["Failure Count"]) or 0),
                rps=_num(row["Requests/s"]),
                percentiles={k: _num(row.get(col)) for k, col in PERCENTILES.items()},
            )
    return out


def load_profile(path: Path, profile: str) -> dict[str, Any]:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    if profile not in data:
        raise KeyError(f"{path} has no [{profile}] profile (has: {', '.join(data)})")
    return data[profile]


def evaluate(stats: dict[str, EndpointStats], profile: dict[str, Any]) -> list[Check]:
    """Every check of the profile against the run's stats, in file order."""
    checks: list[Check] = []
    total = stats.get("Aggregated")
    failures = total.failures if total else sum(s.failures for s in stats.values())
    limit = int(profile.get("max_failures", 0))
    checks.append(Check("unexpected failures (all endpoints)", f"<= {limit}", str(failures),
                        failures <= limit))
    for name, slo in profile.get("endpoints", {}).items():
        st = stats.get(name)
        need = int(slo.get("min_requests", 1))
        got = st.requests if st else 0
        checks.append(Check(f"{name} requests", f">= {need}", str(got), got >= need))
        if st is None or st.requests == 0:
            continue
        for key, bound in slo.items():
            if key in PERCENTILES:
                v = st.get(key)
                # NaN (no sample) never passes a latency bound
                checks.append(Check(f"{name} {key}", f"<= {bound} ms", f"{v:g} ms", v <= float(bound)))
            elif key == "min_rps":
                checks.append(Check(f"{name} req/s", f">= {bound}", f"{st.rps:.1f}",
                                    st.rps >= float(bound)))
            elif key != "min_requests":
                raise ValueError(f"unknown SLO key {key!r} for {name!r}")
    return checks
