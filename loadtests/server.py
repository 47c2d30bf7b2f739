"""Start `maas serve` for a load run and stop it cleanly whatever happens.

The server runs in its own session, so a Ctrl-C in the terminal reaches the runner only;
the runner then stops Locust and the server itself (SIGTERM, which stops the workers and
the embedded databases), after the invariants have been read.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

__all__ = ["Server", "ServerError", "clean_env", "server_environment"]


class ServerError(RuntimeError):
    pass


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without any MAAS_*/DATABASE_URL/REDIS_URL of the caller, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAAS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(extra)
    return env


# Chosen by the runner for every run, whatever the caller's environment says.
_RUN_OWNED = ("DATABASE_URL", "REDIS_URL", "MAAS_DATABASE_URL", "MAAS_REDIS_URL", "MAAS_DATA_DIR",
              "MAAS_HOST", "MAAS_PORT", "MAAS_WORKERS")


def server_environment(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment (MAAS_* settings pass through) minus what the run decides."""
    env = {k: v for k, v in os.environ.items() if k not in _RUN_OWNED}
    env.update(extra)
    return env


class Server:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path,
                 python: str | None = None, cwd: Path | None = None) -> None:
        """`python -m maas.cli serve ARGS`; another tree's interpreter and folder run its code
        (benchmarks/bench_requests.py --against)."""
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [python or sys.executable, "-m", "maas.cli", "serve", *args],
            env=env, stdout=subprocess.PIPE, stderr=self._log, text=True,
            start_new_session=True, cwd=cwd,
        )
        self.url = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_listening(self, timeout: float) -> str:
        """Block until 'maas listening on http://HOST:PORT (N workers)'; return the URL."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerError(f"maas did not report listening within {timeout:.0f} s; see {self.log_path}")
            try:
                line = self._lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is None:
                raise ServerError(f"maas serve exited with {self.proc.wait()} before listening; "
                                  f"see {self.log_path}")
            if "listening on http://" in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                return self.url

    def workers(self) -> list[psutil.Process]:
        """The worker processes: children of `maas serve` started by multiprocessing (spawn)."""
        try:
            parent = psutil.Process(self.proc.pid)
            return [c for c in parent.children(recursive=False)
                    if "spawn_main" in " ".join(c.cmdline())]
        except psutil.Error:
            return []

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; SIGKILL the whole session if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        time.sleep(0.2)  # let the pump read "maas stopped"
        self._log.close()
        return self.proc.returncode
