"""The README walkthrough, run literally: every ```sh walkthrough block of README.md, in
order, in one bash session against a fresh `maas serve --demo` (free port, its own data
folder). Every command must succeed and every curl get a 2xx (the session's curl fails on
4xx/5xx); each `# -> "field": "value"` comment must appear in the output, in order. So the
README cannot drift: a step someone adds is run too."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.debian import ensure_packages

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```sh walkthrough\n(.*?)^```", re.S | re.M)
EXPECT = re.compile(r'#\s*->\s*("[a-z_]+":\s*"[^"]*")')
README_URL = "http://127.0.0.1:8080"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the walkthrough runs in bash")


def walkthrough() -> str:
    blocks = BLOCK.findall(README.read_text())
    assert blocks, "README.md has no ```sh walkthrough block"
    return "\n".join(blocks)


def expectations(script: str) -> list[tuple[str, str]]:
    return [tuple(json.loads("{" + m + "}").items())[0] for m in EXPECT.findall(script)]  # type: ignore[misc]


def test_the_walkthrough_parses():
    script = walkthrough()
    assert README_URL in script  # the test points it at its own server by this URL
    want = expectations(script)
    assert ("result", "accept") in want and ("status", "accepted") in want


def _wrapper(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_the_readme_walkthrough_works_literally(tmp_path: Path):
    """At any hour: the walkthrough boards the next train from Jinan West, and the demo runs
    night trains on that line (tests/feeds/test_demo.py checks two leave within the rail gate's
    window at every hour)."""
    reason = ensure_packages(("curl",), lambda: shutil.which("curl") is not None)
    if reason:
        pytest.skip(f"the walkthrough needs curl: {reason}")
    script = walkthrough()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAAS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    data = tmp_path / "data"
    env["MAAS_DATA_DIR"] = str(data)   # as a user's default folder: the commands find it unasked
    # `maas`, `python` and `python3` as in the README's activated venv: this interpreter
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _wrapper(bin_dir, "maas", f'exec "{sys.executable}" -m maas.cli "$@"')
    for name in ("python", "python3"):
        _wrapper(bin_dir, name, f'exec "{sys.executable}" "$@"')
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    log = tmp_path / "serve.err"
    with log.open("w") as err:
        serve = subprocess.Popen([sys.executable, "-m", "maas.cli", "serve", "--demo", "--port", "0"],
                                 env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        line = serve.stdout.readline()  # type: ignore[union-attr]  # once every worker is ready
        assert "listening on http://" in line and f"data folder {data}" in line, \
            (line, log.read_text()[-3000:])
        url = line.split("listening on ", 1)[1].split()[0]
        work = tmp_path / "clone"
        work.mkdir()
        session = ("set -eo pipefail\n"
                   'curl() { command curl --fail-with-body --max-time 120 "$@"; echo; }\n'
                   + script.replace(README_URL, url))
        run = subprocess.run(["bash", "-c", session], cwd=work, env=env, capture_output=True,
                             text=True, timeout=600)
        out = run.stdout
        assert run.returncode == 0, f"walkthrough failed (exit {run.returncode}):\n{out[-3000:]}\n{run.stderr[-3000:]}"
        pos = 0
        for field, value in expectations(script):
            m = re.compile(rf'"{field}"\s*:\s*"{re.escape(value)}"').search(out, pos)
            assert m, f'expected "{field}": "{value}" after offset {pos} of:\n{out[pos:pos + 3000]}'
            pos = m.end()
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.communicate()
