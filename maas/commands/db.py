"""`maas db ...`: database maintenance.

    maas db migrate          apply pending schema migrations (also done at start-up)
    MAAS_BACKUP_PASSPHRASE=... maas db backup PATH      database + sealed data keys in one file
    MAAS_BACKUP_PASSPHRASE=... maas db restore PATH [--force]

maas/backup.py says what a backup holds and why the data keys travel in it, sealed. Both work on
the embedded database of --data-dir, or on DATABASE_URL / --database-url. Exit codes: 0 done,
2 refused (`maas: <code>: <detail>`, nothing changed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from maas.commands.common import run, settings_from_args
from maas.db import create_pool, migrate
from maas.embedded import embedded_services
from maas.settings import Settings

__all__ = ["register", "register_backup"]


def register(subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    db = subparsers.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True)
    p = db.add_parser("migrate", help="apply pending schema migrations")
    add_common(p)
    p.set_defaults(func=cmd_migrate)
    register_backup(db, add_common)


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[tuple[str, Any]]:
    """(URL, one-connection pool) of the database: the embedded one of data_dir (started for
    the while) or database_url; no Redis."""
    with embedded_services(settings.data_dir, database_url=settings.database_url,
                           redis_url=None, need_redis=False) as urls:
        url = urls.database_url or ""
        pool = await create_pool(url, min_size=1, max_size=1)
        try:
            yield url, pool
        finally:
            await pool.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with _database(settings_from_args(args)) as (_, pool):
            async with pool.acquire() as conn:
                applied = await migrate(conn)
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
        return 0

    return run(main)


PASSPHRASE_ENV = "MAAS_BACKUP_PASSPHRASE"


def register_backup(db: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `backup` and `restore` to the `maas db` subcommands."""
    p = db.add_parser("backup", help="write the database and its sealed data keys to one file")
    add_common(p)
    p.add_argument("path", type=Path, help="backup file to write (replaced atomically)")
    p.add_argument("--passphrase-file", type=Path,
                   help=f"file whose first line seals the data keys (default: ${PASSPHRASE_ENV})")
    p.set_defaults(func=cmd_backup)
    p = db.add_parser("restore", help="replace the database by a backup and adopt its data keys")
    add_common(p)
    p.add_argument("path", type=Path, help="backup file written by `maas db backup`")
    p.add_argument("--passphrase-file", type=Path,
                   help=f"file whose first line opens the data keys (default: ${PASSPHRASE_ENV})")
    p.add_argument("--force", action="store_true", help="replace a database that holds data")
    p.set_defaults(func=cmd_restore)


def _passphrase(args: argparse.Namespace) -> str:
    from maas.backup import PassphraseMissing

    if args.passphrase_file is not None:
        text = args.passphrase_file.read_text(encoding="utf-8").splitlines()
        phrase = text[0] if text else ""
    else:
        phrase = os.environ.get(PASSPHRASE_ENV, "")
    if not phrase:
        raise PassphraseMissing(
            f"a backup carries the data keys sealed under a passphrase: set {PASSPHRASE_ENV} or "
            f"pass --passphrase-file (keep the passphrase apart from the backups)")
    return phrase


def cmd_backup(args: argparse.Namespace) -> int:
    from maas import backup, backup_store

    async def main() -> int:
        settings = settings_from_args(args)
        phrase = _passphrase(args)
        embedded = not settings.database_url
        pg_dump = backup.pg_tool("pg_dump", embedded=embedded)
        async with _database(settings) as (url, pool):
            async with pool.acquire() as conn:
                migrations = await backup_store.applied_migrations(conn)
            now = backup.utcnow()
            sealed = backup.seal_keys(settings.data_keys(), phrase)
            with tempfile.TemporaryDirectory(prefix="maas-backup-") as tmp:
                out = Path(tmp) / "database.dump"
                backup.dump(pg_dump, url, out)
                manifest = backup.write_backup(args.path, out, sealed, migrations, now)
        print(f"backed up the database ({manifest['dump']['bytes']} bytes, {len(migrations)} migrations) "
              f"and data key(s) {', '.join(sealed['ids'])} (sealed) to {args.path}")
        return 0

    return run(main)


def cmd_restore(args: argparse.Namespace) -> int:
    from maas import backup, backup_store

    async def main() -> int:
        settings = settings_from_args(args)
        phrase = _passphrase(args)
        embedded = not settings.database_url
        tools = {t: backup.pg_tool(t, embedded=embedded) for t in ("pg_restore", "psql")}
        with tempfile.TemporaryDirectory(prefix="maas-restore-") as tmp:
            got = backup.read_backup(args.path, Path(tmp))
            keys = backup.unseal_keys(got.manifest["data_keys"], phrase)   # refuses early
            script = Path(tmp) / "restore.sql"
            backup.restore_sql(tools["pg_restore"], got.dump_path, script)
            async with _database(settings) as (url, pool):
                async with pool.acquire() as conn:
                    holding = await backup_store.tables_with_rows(conn)
                if holding and not args.force:
                    raise backup.DatabaseNotEmpty(
                        f"the database holds data ({', '.join(holding[:6])}"
                        f"{', ...' if len(holding) > 6 else ''}); a restore replaces all of it: "
                        f"pass --force to do so")
                backup.check_keys(settings, keys)
                backup.run_restore(tools["psql"], url, backup_store.RESET_SQL, script)
                said = backup.adopt_keys(settings, keys, backup.utcnow())
                async with pool.acquire() as conn:
                    applied = await migrate(conn)    # a backup from an older maas
        print(f"restored the backup of {got.manifest['created_at']} "
              f"(data key(s) {', '.join(sorted(keys.keys))}); {said}"
              + (f"; then applied {', '.join(applied)}" if applied else ""))
        print("restart `maas serve` so every worker reads the restored data and keys", file=sys.stderr)
        return 0

    return run(main)
