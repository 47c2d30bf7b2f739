"""What every `maas` command module shares: the data options, settings from flags, a
migrated pool on the configured or embedded servers, and running a coroutine with domain
errors printed as `maas: <code>: <detail>` (exit 2)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from maas.db import create_pool, migrate
from maas.embedded import embedded_services
from maas.settings import Settings

__all__ = ["add_common", "settings_from_args", "backends", "run", "NoDatabase"]


class NoDatabase(Exception):
    """A command pointed at a data folder that holds no database (a typo, or the wrong user's
    folder): refused rather than creating an empty one whose keys the server would not know."""

    code, status = "no_database", 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def add_common(p: argparse.ArgumentParser) -> None:
    """The options every data-touching command takes (same data as `maas serve`)."""
    p.add_argument("--data-dir", type=Path, help="data folder of the embedded servers")
    p.add_argument("--database-url", help="PostgreSQL URL (default: $DATABASE_URL or embedded)")
    p.add_argument("--redis-url", help="Redis URL (default: $REDIS_URL or embedded)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by whatever flags the command was given."""
    overrides: dict[str, Any] = {}
    for flag in ("data_dir", "database_url", "redis_url", "host", "port", "workers"):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[flag] = value
    return Settings(**overrides)


@contextlib.asynccontextmanager
async def backends(
    settings: Settings, *, need_redis: bool = False
) -> AsyncIterator[tuple[asyncpg.Pool, aioredis.Redis | None]]:
    """A migrated pool (and Redis client) on the configured or embedded servers. An embedded
    database must exist already (`maas serve` creates it): NoDatabase otherwise."""
    if not settings.database_url and not (settings.data_dir / "postgres" / "PG_VERSION").exists():
        raise NoDatabase(
            f"no maas database in the data folder {settings.data_dir} (`maas serve` creates one "
            f"and prints its folder); pass that folder as --data-dir, or --database-url")
    with embedded_services(
        settings.data_dir,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        need_redis=need_redis,
    ) as urls:
        pool = await create_pool(urls.database_url or "", min_size=1, max_size=4)
        redis = aioredis.Redis.from_url(urls.redis_url) if urls.redis_url else None
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            yield pool, redis
        finally:
            if redis is not None:
                await redis.aclose()
            await pool.close()


def run(coro_fn: Callable[[], Any]) -> int:
    """asyncio.run(coro_fn()) as an exit code; a domain error is one line on stderr, exit 2."""
    try:
        result = asyncio.run(coro_fn())

    except Exception as exc:  # domain errors: a clear message, no traceback
        code = getattr(exc, "code", None)
        if code and hasattr(exc, "status"):
            print(f"maas: {code}: {getattr(exc, 'detail', exc)}", file=sys.stderr)
            return 2
        raise
    return int(result or 0)
