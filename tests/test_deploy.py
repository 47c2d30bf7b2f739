"""deploy/: the example settings name real settings; the HAProxy example is valid HAProxy."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_variable_of_the_env_example_is_a_setting():
    table = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))
    used = {line.split("=", 1)[0] for line in (ROOT / "deploy/maas.env").read_text().splitlines()
            if line and not line.startswith("#")}
    assert used and used <= documented, used - documented


def test_haproxy_example_is_valid():
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    r = subprocess.run(["haproxy", "-c", "-f", str(ROOT / "deploy/haproxy.cfg")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
