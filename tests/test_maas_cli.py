"""The `maas` command as a user runs it: serve (workers, embedded servers), keys, migrations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import asyncpg
import pytest

from maas import auth
from maas.embedded import redis_socket_alive
from tests.polling import eventually_sync

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(extra)
    return env


def maas(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "maas.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Served:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maas.cli", "serve", "--port", "0", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline()  # blocks until every worker is ready
        assert "listening on http://" in line, line
        self.url = line.split("listening on ", 1)[1].split()[0]

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        return self.proc.returncode, out


async def test_keys_create_list_revoke(database_url):
    env = _env(DATABASE_URL=database_url)
    r = maas("keys", "create", "--role", "operator", "--operator", "op-new-7", "--new-operator", env=env)
    assert r.returncode == 0, r.stderr
    secret = r.stdout.strip().splitlines()[-1]
    assert secret.startswith("mk_")
    conn = await asyncpg.connect(database_url)
    row = await conn.fetchrow("SELECT id, role, operator_id FROM api_keys WHERE secret_hash = $1", auth.hash_secret(secret))
    assert (row["role"], row["operator_id"]) == ("operator", "op-new-7")
    listed = maas("keys", "list", env=env)
    assert row["id"] in listed.stdout and secret not in listed.stdout
    r = maas("keys", "revoke", row["id"], "--redis-url", "unix:///tmp/maas-none.sock", env=env)
    assert r.returncode == 0, r.stderr
    assert await conn.fetchval("SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = $1", row["id"])
    await conn.close()


def test_keys_bad_arguments_exit_non_zero(database_url):
    env = _env(DATABASE_URL=database_url)
    r = maas("keys", "create", "--role", "gate", "--gate", "g1", env=env)
    assert r.returncode != 0 and "station" in r.stderr and "Traceback" not in r.stderr
    r = maas("keys", "create", "--role", "root", env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_keys_create_checks_operator_and_station(database_url):
    env = _env(DATABASE_URL=database_url)
    r = maas("keys", "create", "--role", "operator", "--operator", "op-nobody", env=env)
    assert r.returncode == 2 and "unknown_operator" in r.stderr and "op-nobody" in r.stderr
    assert "--new-operator" in r.stderr and "Traceback" not in r.stderr
    r = maas("keys", "create", "--role", "gate", "--gate", "g-7", "--station", "nofeed:JNX", env=env)
    assert r.returncode == 2 and "unknown_station" in r.stderr and "active feeds" in r.stderr


def test_commands_refuse_a_data_folder_without_a_database(tmp_path: Path):
    empty = tmp_path / "typo"
    r = maas("keys", "create", "--role", "admin", "--data-dir", str(empty), env=_env())
    assert r.returncode == 2 and "no_database" in r.stderr and str(empty) in r.stderr
    assert not empty.exists()  # nothing created
    r = maas("keys", "list", env=_env(MAAS_DATA_DIR=str(empty)))
    assert r.returncode == 2 and "no_database" in r.stderr


def test_db_migrate_is_idempotent(database_url):
    env = _env(DATABASE_URL=database_url)
    r = maas("db", "migrate", env=env)
    assert r.returncode == 0 and "up to date" in r.stdout


def test_serve_with_workers_on_given_urls(database_url, redis_url):
    served = Served(["--workers", "2"], _env(DATABASE_URL=database_url, REDIS_URL=redis_url))
    try:
        status, body = _get(served.url + "/readyz")
        assert status == 200, body
        for _ in range(20):  # both workers answer on the one port
            _get(served.url + "/healthz")
        status, body = _get(served.url + "/metrics")
        assert status == 200 and b"maas_http_requests_total" in body
        assert b"maas_holds_expired_total" in body   # the domain metrics, in every worker
    finally:
        code, out = served.stop()
    assert code == 0 and "maas stopped" in out


def test_serve_embedded_on_a_fresh_data_dir(tmp_path: Path):
    data = Path("/tmp") / f"maas-e-{os.getpid()}"
    env = _env()
    served = Served(["--data-dir", str(data)], env)
    try:
        status, body = _get(served.url + "/readyz")
        assert status == 200, body
        # a second command works against the running service's data
        r = maas("keys", "create", "--role", "admin", "--data-dir", str(data), env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().splitlines()[-1].startswith("mk_")
    finally:
        code, out = served.stop()
        assert code == 0
    # clean shutdown: embedded Redis gone, PostgreSQL stopped
    eventually_sync(lambda: not redis_socket_alive(data / "redis" / "redis.sock"),
                    message="embedded Redis stopped")
    eventually_sync(lambda: not (data / "postgres" / "postmaster.pid").exists(),
                    message="embedded PostgreSQL stopped")
    subprocess.run(["rm", "-rf", str(data)])


async def test_rotate_signing_key_keeps_old_keys_verifying(database_url):
    env = _env(DATABASE_URL=database_url, MAAS_SECRET_KEYS="k1:" + "A" * 43)
    first = maas("keys", "rotate-signing", env=env)
    second = maas("keys", "rotate-signing", env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    kid1 = first.stdout.split()[4].rstrip(";")
    kid2 = second.stdout.split()[4].rstrip(";")
    assert kid1 != kid2
    conn = await asyncpg.connect(database_url)
    rows = {r["key_id"]: r for r in await conn.fetch("SELECT key_id, active, retired_at FROM signing_keys")}
    await conn.close()
    assert rows[kid2]["active"] and not rows[kid1]["active"]
    assert rows[kid1]["retired_at"] is None  # the old key still verifies tickets it signed


def test_rotate_data_runs_on_an_empty_database(database_url):
    env = _env(DATABASE_URL=database_url, MAAS_SECRET_KEYS="k2:" + "B" * 43 + ",k1:" + "A" * 43)
    r = maas("keys", "rotate-data", env=env)
    assert r.returncode == 0, r.stderr
    assert "re-encrypted 0 passenger record(s)" in r.stdout and "under data key k2" in r.stdout


def test_serve_scale_is_checked_before_anything_starts(tmp_path: Path):
    env = _env(MAAS_DATA_DIR=str(tmp_path))
    alone = maas("serve", "--scale", "10", env=env)
    assert alone.returncode != 0 and "--scale needs --demo" in alone.stderr
    for bad in ("0", "-1", "lots"):
        r = maas("serve", "--demo", "--scale", bad, env=env)
        assert r.returncode == 2 and "--scale" in r.stderr
    assert not (tmp_path / "pg").exists() and not list(tmp_path.iterdir())
