"""Shared fixtures: real PostgreSQL and Redis (embedded), a fresh database per test.

One embedded PostgreSQL and one Redis per test session. The schema is migrated once into
a template database; each test gets its own copy (CREATE DATABASE ... TEMPLATE), so tests
never see each other's rows and never mock our storage.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import threading
import uuid
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest

from maas import auth
from maas.app import create_app
from maas.appkeys import DB, REDIS
from maas.clock import Clock, SystemClock
from maas.db import migrate
from maas.embedded import (
    postgres_running, redis_socket_alive, start_postgres, start_redis, stop_redis,
    stop_stale_postgres, stop_stale_redis,
)
from maas.settings import DataKeys, Settings


def pytest_configure(config: pytest.Config) -> None:
    """One seed per run for the generated tests (tests/routing: test ids carry it), chosen
    here so that pytest-xdist's workers, which inherit the environment, collect the same ids."""
    if not os.environ.get("MAAS_TEST_SEED"):
        os.environ["MAAS_TEST_SEED"] = str(int.from_bytes(os.urandom(4), "big"))
    if threading.current_thread() is threading.main_thread():
        # a killed run (CI's timeout, a terminal closed) ends like Ctrl-C: pytest tears the
        # session down, so the embedded PostgreSQL and Redis stop instead of leaking
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


ROOT_PREFIX = "maas-t-"


def own_tmp_dir(prefix: str) -> Iterator[Path]:
    """Yield a folder of our own under /tmp, removed afterwards (for fixtures). Not pytest's:
    pytest resets /tmp/pytest-of-<user> to 0700 at every session start (and prunes old
    sessions), which locks the embedded PostgreSQL (run as its own user when we are root) out
    of its data folder mid-test."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sweep_stale_roots(parent: Path = Path("/tmp")) -> list[Path]:
    """Stop the servers of earlier test sessions that were killed before their teardown (no
    live process holds them) and remove their folders; a running session's are left alone."""
    removed = []
    for root in sorted(parent.glob(ROOT_PREFIX + "*")):
        try:
            if root.stat().st_uid != os.getuid() or not (root / "pg" / "PG_VERSION").exists():
                continue          # not ours, or a session still initialising its server
            stop_stale_postgres(root / "pg")
            stop_stale_redis(root / "redis")
            holders = root / "pg" / ".handle_pids.json"
            if holders.exists() and holders.read_text().strip() not in ("", "[]"):
                continue          # a live session holds it
            if postgres_running(root / "pg") or redis_socket_alive(root / "redis" / "redis.sock"):
                continue
            shutil.rmtree(root, ignore_errors=True)
            removed.append(root)
        except OSError:
            continue
    return removed


TEMPLATE = "maas_template"


class Services:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pg, self.admin_url = start_postgres(root / "pg")
        self.redis_proc, self.redis_url = start_redis(root / "redis")
        self.base = self.admin_url.rsplit("/", 1)[0]
        asyncio.run(self._make_template())

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_url)

    async def _make_template(self) -> None:
        conn = await self._admin()
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()
        tconn = await asyncpg.connect(self.db_url(TEMPLATE))
        try:
            await migrate(tconn)
        finally:
            await tconn.close()

    def db_url(self, name: str) -> str:
        # admin_url looks like postgresql://postgres:@/maas?host=/path
        head, _, tail = self.admin_url.partition("/maas")
        return f"{head}/{name}{tail}"

    async def create_db(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        conn = await self._admin()
        try:
            await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        finally:
            await conn.close()
        return name

    async def drop_db(self, name: str) -> None:
        conn = await self._admin()
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()

    def close(self) -> None:
        stop_redis(self.redis_proc)
        self.pg.cleanup()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    sweep_stale_roots()
    root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir="/tmp"))
    svc = Services(root)
    try:
        yield svc
    finally:
        svc.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def database_url(services: Services) -> AsyncIterator[str]:
    name = await services.create_db()
    try:
        yield services.db_url(name)
    finally:
        await services.drop_db(name)


@pytest.fixture
def aiohttp_client(database_url, aiohttp_client):  # type: ignore[no-untyped-def]
    """pytest-aiohttp's, set up after the test database (so torn down before it): every app a
    test starts is closed before its database is dropped, whatever order the test names its
    fixtures in (`(aiohttp_client, settings)` dropped it first; the app's pool then kept
    retrying its connection floor against a database that was gone)."""
    return aiohttp_client


@pytest.fixture
def redis_url(services: Services) -> str:
    return services.redis_url


@pytest.fixture
def clock() -> Clock:
    """Override in a test module (e.g. with FrozenClock) to step time."""
    return SystemClock()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        secret_keys=DataKeys.generate_text("test1"),
        log_level="INFO",
    )


@pytest.fixture
def app(settings: Settings, clock: Clock):  # type: ignore[no-untyped-def]
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app, aiohttp_client):  # type: ignore[no-untyped-def]
    c = await aiohttp_client(app)
    await app[REDIS].flushdb()
    return c


@pytest.fixture
def db(client, app) -> asyncpg.Pool:  # type: ignore[no-untyped-def]
    return app[DB]


@pytest.fixture
def redis(client, app):  # type: ignore[no-untyped-def]
    return app[REDIS]


@pytest.fixture
def make_key(client, app) -> Callable[..., Awaitable[str]]:  # type: ignore[no-untyped-def]
    async def make(role: str, operator: str | None = None, gate: str | None = None,
                   station: str | None = None) -> str:
        _, secret = await auth.create_key(app[DB], role, operator=operator, gate=gate, station=station)
        return secret

    return make


@pytest.fixture
def make_account(client, app) -> Callable[[], Awaitable[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    async def make() -> tuple[str, str]:
        return await auth.create_account(app[DB])

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
