"""deploy/: the example settings name real settings; the HAProxy example is valid HAProxy."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.debian import ensure_packages

ROOT = Path(__file__).resolve().parent.parent


def test_every_variable_of_the_env_example_is_a_setting():
    table = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))
    used = {line.split("=", 1)[0] for line in (ROOT / "deploy/maas.env").read_text().splitlines()
            if line and not line.startswith("#")}
    assert used and used <= documented, used - documented


def test_haproxy_example_is_valid():
    reason = ensure_packages(("haproxy",), lambda: shutil.which("haproxy") is not None)
    if reason:
        pytest.skip(reason)
    r = subprocess.run(["haproxy", "-c", "-f", str(ROOT / "deploy/haproxy.cfg")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_capacity_model_adds_up():
    """deploy/README.md's capacity table: req/s x (worker, PostgreSQL) ms = cores, and the totals
    are the sums (figures, not adjectives: a changed figure must change its products)."""
    text = (ROOT / "deploy/README.md").read_text()
    rows = re.findall(r"^\| (?:GET|POST) [^|]+\| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| "
                      r"([\d.]+) \| ([\d.]+) \|$", text, re.M)
    assert len(rows) >= 8, rows
    total = re.search(r"^\| \*\*total\*\* \| \| \*\*([\d.]+)\*\* \| \| \| \*\*([\d.]+)\*\* \| "
                      r"\*\*([\d.]+)\*\* \|$", text, re.M)
    assert total, "the total row"
    journeys = float(re.search(r"= ([\d.]+) journeys/s", text).group(1))
    rps_sum = worker_sum = pg_sum = 0.0
    for per, rps, w_ms, pg_ms, w_cores, pg_cores in (tuple(map(float, r)) for r in rows):
        assert abs(rps - per * journeys) <= 0.06 * rps + 0.1, (per, rps)
        assert abs(w_cores - rps * w_ms / 1000) <= 0.011, (rps, w_ms, w_cores)
        assert abs(pg_cores - rps * pg_ms / 1000) <= 0.011, (rps, pg_ms, pg_cores)
        rps_sum, worker_sum, pg_sum = rps_sum + rps, worker_sum + w_cores, pg_sum + pg_cores
    assert abs(float(total.group(1)) - rps_sum) <= 2
    assert abs(float(total.group(2)) - worker_sum) <= 0.03
    assert abs(float(total.group(3)) - pg_sum) <= 0.03
