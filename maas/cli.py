"""The `maas` command: serve, migrate, keys, and each area's commands (maas/commands/)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import asyncpg
import redis.asyncio as aioredis

from maas import __version__, auth
from maas.db import create_pool, migrate
from maas.embedded import embedded_services
from maas.settings import Settings

__all__ = ["main", "settings_from_args", "backends", "COMMAND_MODULES"]

# Areas that add subcommands: each module has `register(subparsers, add_common)`.
COMMAND_MODULES = ("feeds", "gate")


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
    """A migrated pool (and Redis client) on the configured or embedded servers."""
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


def _run(coro_fn: Callable[[], Any]) -> int:
    try:
        result = asyncio.run(coro_fn())
    except Exception as exc:  # domain errors: a clear message, no traceback
        code = getattr(exc, "code", None)
        if code and hasattr(exc, "status"):
            print(f"maas: {code}: {getattr(exc, 'detail', exc)}", file=sys.stderr)
            return 2
        raise
    return int(result or 0)


# --- commands ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from maas.serve import run_serve

    return run_serve(settings_from_args(args), demo=args.demo)


def cmd_db_migrate(args: argparse.Namespace) -> int:
    async def run() -> int:
        settings = settings_from_args(args)
        with embedded_services(
            settings.data_dir, database_url=settings.database_url, redis_url=None, need_redis=False
        ) as urls:
            pool = await create_pool(urls.database_url or "", min_size=1, max_size=1)
            try:
                async with pool.acquire() as conn:
                    applied = await migrate(conn)
            finally:
                await pool.close()
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
        return 0

    return _run(run)


def cmd_keys_create(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with backends(settings_from_args(args)) as (pool, _):
            key_id, secret = await auth.create_key(
                pool, args.role, operator=args.operator, gate=args.gate, station=args.station, name=args.name
            )
        print(f"created {args.role} key {key_id}", file=sys.stderr)
        print(secret)
        return 0

    return _run(run)


def cmd_keys_list(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with backends(settings_from_args(args)) as (pool, _):
            for row in await auth.list_keys(pool):
                row = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
                print(json.dumps(row))
        return 0

    return _run(run)


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with backends(settings_from_args(args), need_redis=True) as (pool, redis):
            await auth.revoke_key(pool, args.key_id, redis)
        print(f"revoked {args.key_id}")
        return 0

    return _run(run)


def cmd_keys_rotate_signing(args: argparse.Namespace) -> int:
    async def run() -> int:
        from ticketing.keyring import rotate_signing_key

        settings = settings_from_args(args)
        async with backends(settings) as (pool, _):
            async with pool.acquire() as conn:
                kid = await rotate_signing_key(conn, settings)
        print(f"new ticket signing key {kid}; earlier keys still verify tickets already issued")
        return 0

    return _run(run)


def cmd_keys_rotate_data(args: argparse.Namespace) -> int:
    async def run() -> int:
        from maas.api.bookings import rotate_personal_data
        from maas.api.checkin import rotate_checkin_data
        from ticketing.idcard_store import index_passengers

        settings = settings_from_args(args)
        async with backends(settings) as (pool, _):
            n = await rotate_personal_data(pool, settings)
            m = await rotate_checkin_data(pool, settings)
            ids = await index_passengers(pool, settings.data_keys())
        print(f"re-encrypted {n} passenger record(s) and {m} check-in secret(s) (TOTP secrets, "
              f"face templates, signing keys) under data key {settings.data_keys().active}; "
              f"{ids} ID index(es) (re)computed")
        return 0

    return _run(run)


def settings_markdown() -> str:
    from maas.settings import settings_table

    lines = ["| environment variable | default | meaning |", "|---|---|---|"]
    for env, default, text in settings_table():
        lines.append(f"| `{env}` | `{default}` | {text} |")
    return "\n".join(lines) + "\n"


def cmd_settings(args: argparse.Namespace) -> int:
    table = settings_markdown()
    if not args.update_readme:
        print(table, end="")
        return 0
    path = Path(args.update_readme)
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition("<!-- settings:begin -->\n")
    _, _, tail = rest.partition("<!-- settings:end -->")
    path.write_text(head + "<!-- settings:begin -->\n" + table + "<!-- settings:end -->" + tail, encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maas", description=__doc__)
    parser.add_argument("--version", action="version", version=f"maas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP service")
    add_common(p)
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8080; 0 = any free port)")
    p.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
    p.add_argument("--demo", action="store_true", help="load and activate the Shandong demo feeds")
    p.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("migrate", help="apply pending schema migrations")
    add_common(p)
    p.set_defaults(func=cmd_db_migrate)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    p = keys.add_parser("create", help="create a key; prints it alone on the last line")
    add_common(p)
    p.add_argument("--role", required=True, choices=auth.ROLES)
    p.add_argument("--operator", help="operator id (operator keys)")
    p.add_argument("--gate", help="gate id (gate keys)")
    p.add_argument("--station", help="FEED:STOP_ID of the gate's station (gate keys)")
    p.add_argument("--name", help="a label")
    p.set_defaults(func=cmd_keys_create)
    p = keys.add_parser("list", help="list keys (never their secrets)")
    add_common(p)
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("revoke", help="revoke a key by id")
    add_common(p)
    p.add_argument("key_id")
    p.set_defaults(func=cmd_keys_revoke)
    p = keys.add_parser("rotate-signing", help="new ticket signing key; old ones keep verifying")
    add_common(p)
    p.set_defaults(func=cmd_keys_rotate_signing)
    p = keys.add_parser(
        "rotate-data",
        help="re-encrypt personal data under the active data key (after MAAS_SECRET_KEYS gets a new first key)",
    )
    add_common(p)
    p.set_defaults(func=cmd_keys_rotate_data)

    p = sub.add_parser("settings", help="print every setting with its default (Markdown)")
    p.add_argument("--update-readme", metavar="README", help="rewrite the settings table in this file")
    p.set_defaults(func=cmd_settings)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"maas.commands.{name}")
        except ModuleNotFoundError:
            continue
        module.register(sub, add_common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
