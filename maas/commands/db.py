"""`maas db ...`: database maintenance.

    maas db migrate          apply pending schema migrations (also done at start-up)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from maas.commands.common import run, settings_from_args
from maas.db import create_pool, migrate
from maas.embedded import embedded_services

__all__ = ["register"]


def register(subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    db = subparsers.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True)
    p = db.add_parser("migrate", help="apply pending schema migrations")
    add_common(p)
    p.set_defaults(func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    async def main() -> int:
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

    return run(main)
