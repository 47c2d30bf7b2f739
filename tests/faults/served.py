"""A real `maas serve` in a subprocess, and what the fault tests do to it.

Each instance runs on a free port with the data folder it is given; its stderr (the
supervisor's `maas: ...` lines and the JSON logs) goes to a file next to that folder.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import psutil

from tests.polling import eventually_sync

T = TypeVar("T")

START_S = 180.0   # a start on a busy 2-core machine (spawn + imports + PostgreSQL) is slow


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAAS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(extra)
    return env


def eventually(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout`
    (tests/polling.py's eventually_sync, in this module's argument order)."""
    return eventually_sync(probe, timeout, every, what)


def maas(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maas.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _level(line: str) -> str | None:
    """A JSON log line's level (None for the supervisor's own lines and anything else)."""
    try:
        return json.loads(line).get("level") if line.startswith("{") else None
    except ValueError:
        return None


class Served:
    def __init__(self, data_dir: Path, *args: str, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"serve-{os.getpid()}-{time.monotonic_ns()}.err"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maas.cli", "serve", "--port", "0", "--workers", str(workers),
             "--data-dir", str(data_dir), *args],
            env=env if env is not None else clean_env(), stdout=subprocess.PIPE, stderr=self._log, text=True,
        )
        line = self._first_line()
        assert "listening on http://" in line, (line, self.log_path.read_text()[-3000:])
        self.url = line.split("listening on ", 1)[1].split()[0]

    def _first_line(self) -> str:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        if not sel.select(START_S):
            self.proc.kill()
            raise AssertionError(f"maas serve did not start within {START_S:g} s")
        return self.proc.stdout.readline()  # type: ignore[union-attr]

    # --- what runs under it ----------------------------------------------------------------

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []

    def worker_pids(self) -> list[int]:
        out = []
        for p in self.children():
            try:
                if "spawn_main" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p.pid)
            except psutil.NoSuchProcess:
                pass
        return sorted(out)

    def redis_pid(self) -> int | None:
        for p in self.children():
            try:
                if "redis-server" in p.name() and p.status() != psutil.STATUS_ZOMBIE:
                    return p.pid
            except psutil.NoSuchProcess:
                pass
        return None

    def zombies(self) -> list[int]:
        out = []
        for p in self.children():
            try:
                if p.status() == psutil.STATUS_ZOMBIE:
                    out.append(p.pid)
            except psutil.NoSuchProcess:
                pass
        return out

    def postmaster_pid(self) -> int | None:
        pidfile = self.data_dir / "postgres" / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        return pid if psutil.pid_exists(pid) else None

    def errors(self) -> str:
        """The logged errors (with their tracebacks) so far: what a failed assertion shows."""
        return "\n".join(l for l in self.log_path.read_text().splitlines()
                         if _level(l) == "error")[-6000:]

    def said(self) -> str:
        """The supervisor's own lines (`maas: ...`) so far."""
        return "\n".join(l for l in self.log_path.read_text().splitlines() if l.startswith("maas: "))

    # --- stopping ------------------------------------------------------------------------------

    def terminate(self) -> float:
        """SIGTERM; returns the seconds until the process exited (bounded wait)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        took = time.monotonic() - t0
        self.close()
        return took

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def embedded_db_url(data_dir: Path) -> str:
    """The URL of the embedded PostgreSQL of `data_dir` (its socket directory, database maas)."""
    lines = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
    return f"postgresql://postgres:@/maas?host={lines[4]}"
