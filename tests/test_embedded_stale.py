"""Killed runs do not leak embedded servers: a start on a data folder stops the servers a
killed process left there (maas/embedded.py `stop_stale_postgres`, `stop_stale_redis`), and a
test run ended by SIGTERM tears its session down (tests/conftest.py), stopping its own.

Each test starts real servers in its own folder under /tmp and stops them; every wait is
bounded."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from maas.embedded import postgres_running, redis_socket_alive, start_postgres, start_redis, stop_redis
from tests.conftest import own_tmp_dir, sweep_stale_roots
from tests.polling import eventually_sync

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
START_S = 180.0       # a start on a busy 2-core machine
PROBE_ENV = "MAAS_TEST_SIGTERM_PROBE"

STARTER = """
import signal, sys
from pathlib import Path
from maas.embedded import start_postgres, start_redis
root = Path(sys.argv[1])
pg, _ = start_postgres(root / "pg")
proc, _ = start_redis(root / "redis")
print(pg.get_pid(), proc.pid, flush=True)
signal.pause()           # until the test kills it
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def root() -> Iterator[Path]:
    """Our own folder under /tmp (tests/conftest.py `own_tmp_dir`)."""
    yield from own_tmp_dir("maas-s-")


def _first_line(proc: subprocess.Popen) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
    if not sel.select(START_S):
        proc.kill()
        raise AssertionError(f"the starter did not start within {START_S:g} s")
    return proc.stdout.readline()  # type: ignore[union-attr]


def test_a_start_stops_the_servers_a_killed_process_left_in_its_folder(root: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", STARTER, str(root)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        pg_pid, redis_pid = map(int, _first_line(child).split())
    finally:
        child.kill()
        child.wait(60)
        child.stdout.close()  # type: ignore[union-attr]
    assert alive(pg_pid) and alive(redis_pid)           # what a killed run leaves behind
    pg, _ = start_postgres(root / "pg")
    proc = None
    try:
        assert not alive(pg_pid) and pg.get_pid() != pg_pid   # type: ignore[attr-defined]
        proc, _ = start_redis(root / "redis")
        assert proc is not None and not alive(redis_pid)      # started anew, not attached
        assert redis_socket_alive(root / "redis" / "redis.sock")
    finally:
        stop_redis(proc)
        pg.cleanup()  # type: ignore[attr-defined]
    assert not postgres_running(root / "pg") and not redis_socket_alive(root / "redis" / "redis.sock")


def test_a_session_start_sweeps_the_servers_of_killed_sessions_only(root: Path) -> None:
    killed, running = root / "maas-t-killed", root / "maas-t-running"
    pids = {}
    children = []
    try:
        for folder in (killed, running):
            child = subprocess.Popen([sys.executable, "-c", STARTER, str(folder)], cwd=REPO,
                                     stdout=subprocess.PIPE, text=True)
            children.append(child)
            pids[folder] = tuple(map(int, _first_line(child).split()))
        children[0].kill()
        children[0].wait(60)
        assert sweep_stale_roots(root) == [killed]
        assert not killed.exists() and not any(alive(p) for p in pids[killed])
        assert running.exists() and all(alive(p) for p in pids[running])
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()                # (the sweep below stops its servers)
            child.wait(60)
            child.stdout.close()  # type: ignore[union-attr]
        sweep_stale_roots(root)
    assert not any(alive(p) for p in pids.get(running, ()))


@pytest.mark.skipif(not os.environ.get(PROBE_ENV),
                    reason="the inner run of test_a_test_run_ended_by_sigterm_stops_its_servers")
def test_sigterm_probe(services) -> None:  # type: ignore[no-untyped-def]
    Path(os.environ[PROBE_ENV]).write_text(
        f"{services.pg.get_pid()} {services.redis_proc.pid} {services.root}\n")
    eventually_sync(lambda: False, timeout=280, message="the outer test to end this run")


def test_a_test_run_ended_by_sigterm_stops_its_servers(tmp_path: Path) -> None:
    said = tmp_path / "probe"
    log = open(tmp_path / "inner.log", "w")
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"{Path(__file__).relative_to(REPO)}::test_sigterm_probe",
         "-q", "-p", "no:cacheprovider"],
        cwd=REPO, env={**os.environ, PROBE_ENV: str(said)}, stdout=log, stderr=subprocess.STDOUT)
    try:
        got = eventually_sync(lambda: said.exists() and said.read_text().endswith("\n")
                              and said.read_text().split(), START_S, message="the inner run's servers")
        pg_pid, redis_pid, inner_root = int(got[0]), int(got[1]), Path(got[2])
        assert alive(pg_pid) and alive(redis_pid)
        inner.send_signal(signal.SIGTERM)
        inner.wait(120)
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait()
        log.close()
    text = (tmp_path / "inner.log").read_text()
    assert not alive(pg_pid) and not alive(redis_pid), text[-3000:]
    assert not inner_root.exists(), text[-3000:]
