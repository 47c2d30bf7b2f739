"""Disaster backup: one file with the whole database and the data keys that decrypt it.

    maas db backup PATH                  (passphrase: MAAS_BACKUP_PASSPHRASE or --passphrase-file)
    maas db restore PATH [--force]

A backup is a tar file:
  * `database.dump`: pg_dump's custom format of the maas database (schema, rows, the
    migration record);
  * `manifest.json`: format, time, maas version, the dump's SHA-256, and the data keys
    (`MAAS_SECRET_KEYS` or data_dir/secret_keys) sealed under the operator's passphrase
    (scrypt n=2^15 r=8 p=1 -> AES-256-GCM).

Why the keys travel inside, sealed: passenger names and ID numbers, TOTP secrets, face
templates and ticket signing keys are stored encrypted under the data keys. A dump without
them restores rows nobody can read; keys kept "somewhere else" are exactly what is lost in
the disaster the backup is for. In clear next to the dump they would undo the encryption
at rest for anyone who gets the file, so they are sealed under a passphrase that maas
never stores: the operator keeps it (a password manager, a sealed envelope) apart from the
backups.

A restore replaces the whole database (`DROP SCHEMA public CASCADE`, then the dump, in one
psql transaction: it all lands or nothing changes), after checking, before touching
anything, that the file is a maas backup, its dump is intact and the passphrase opens its
keys. A database that holds any row is refused without `--force`. The keys: with
MAAS_SECRET_KEYS set, it must already hold every key of the backup (the operator manages
it); otherwise data_dir/secret_keys becomes the backup's key set (a different previous file
is kept as secret_keys.replaced-<time>). Restart `maas serve` afterwards: workers cache keys.

pg_dump, pg_restore and psql: the ones shipped inside pgserver for the embedded database;
for a DATABASE_URL the ones on PATH (their major version must be at least the server's).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from maas import __version__
from maas.errors import MaasError
from maas.settings import DataKeys, Settings

__all__ = ["BackupError", "Backup", "pg_tool", "seal_keys", "unseal_keys", "dump", "write_backup",
           "read_backup", "restore_sql", "keys_text", "check_keys", "adopt_keys", "FORMAT"]

FORMAT = "maas-backup/1"
_AAD = b"maas-backup/1 data keys"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class BackupError(MaasError):
    code, status, title = "backup_failed", 400, "Backup or restore refused"


class PassphraseMissing(BackupError):
    code = "backup_passphrase_missing"


class PgToolMissing(BackupError):
    code = "pg_tool_missing"


class NotABackup(BackupError):
    code = "not_a_backup"


class WrongPassphrase(BackupError):
    code = "wrong_passphrase"


class DatabaseNotEmpty(BackupError):
    code, status = "database_not_empty", 409


class DataKeysMissing(BackupError):
    code, status = "data_keys_missing", 409


class PgCommandFailed(BackupError):
    code, status = "pg_command_failed", 500


# --- the PostgreSQL client programs ----------------------------------------------------------


def pg_tool(name: str, *, embedded: bool) -> str:
    """pgserver's own binary for the embedded database (same version as its server); the
    one on PATH for a DATABASE_URL."""
    if embedded:
        from maas.embedded import _pgserver

        _pgserver()
        from pgserver._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)
    found = shutil.which(name)
    if found is None:
        raise PgToolMissing(
            f"{name} is not on PATH: install the PostgreSQL client programs (the server's major "
            f"version or newer) to back up or restore a DATABASE_URL")
    return found


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess:
    got = subprocess.run(args, capture_output=True, **kw)
    if got.returncode != 0:
        err = got.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise PgCommandFailed(f"{Path(args[0]).name} failed: " + " | ".join(err))
    return got


# --- the data keys, sealed ---------------------------------------------------------------------


def keys_text(keys: DataKeys) -> str:
    """`kid:base64url,...`, the active key first (the MAAS_SECRET_KEYS form)."""
    order = [keys.active] + sorted(k for k in keys.keys if k != keys.active)
    return ",".join(f"{k}:{base64.urlsafe_b64encode(keys.keys[k]).decode().rstrip('=')}" for k in order)


def _kek(passphrase: str, salt: bytes) -> bytes:
    return hashlib.scrypt(passphrase.encode(), salt=salt, dklen=32, maxmem=64 * 2**20, **_SCRYPT)


def seal_keys(keys: DataKeys, passphrase: str) -> dict[str, Any]:
    salt, nonce = os.urandom(16), os.urandom(12)
    ct = AESGCM(_kek(passphrase, salt)).encrypt(nonce, keys_text(keys).encode(), _AAD)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {"ids": sorted(keys.keys), "active": keys.active, "kdf": "scrypt", **_SCRYPT,
            "cipher": "AES-256-GCM", "salt": b64(salt), "nonce": b64(nonce), "sealed": b64(ct)}


def unseal_keys(sealed: dict[str, Any], passphrase: str) -> DataKeys:
    try:
        salt, nonce, ct = (base64.b64decode(sealed[k]) for k in ("salt", "nonce", "sealed"))
        text = AESGCM(_kek(passphrase, salt)).decrypt(nonce, ct, _AAD).decode()
    except InvalidTag:
        raise WrongPassphrase("the passphrase does not open this backup's data keys") from None
    except (KeyError, ValueError) as exc:
        raise NotABackup(f"the backup's sealed keys are malformed ({exc})") from None
    return DataKeys.parse(text)


def check_keys(settings: Settings, keys: DataKeys) -> None:
    """Before a restore touches anything: MAAS_SECRET_KEYS, if set, must hold the backup's keys."""
    if settings.secret_keys:
        adopt_keys(settings, keys, utcnow())


def adopt_keys(settings: Settings, keys: DataKeys, now: datetime) -> str:
    """Make the restored data readable: see the module doc. Returns what was done."""
    if settings.secret_keys:
        have = DataKeys.parse(settings.secret_keys)
        missing = sorted(k for k, v in keys.keys.items() if have.keys.get(k) != v)
        if missing:
            raise DataKeysMissing(
                f"MAAS_SECRET_KEYS lacks the backup's data key(s) {', '.join(missing)} (or holds "
                f"different ones under those ids): add them, or unset it to restore into "
                f"data_dir/secret_keys")
        return "MAAS_SECRET_KEYS already holds the backup's data keys"
    path = settings.data_dir / "secret_keys"
    text = keys_text(keys) + "\n"
    if path.exists():
        old = DataKeys.parse(path.read_text())
        if old.keys == keys.keys and old.active == keys.active:
            return f"{path} already holds the backup's data keys"
        kept = path.with_name(f"secret_keys.replaced-{now.strftime('%Y%m%dT%H%M%SZ')}")
        os.replace(path, kept)
        done = f"{path} replaced by the backup's data keys (the previous file is {kept})"
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        done = f"{path} written with the backup's data keys"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return done


# --- the file ----------------------------------------------------------------------------------


@dataclass
class Backup:
    manifest: dict[str, Any]
    dump_path: Path   # extracted into a temporary folder the caller removes


def dump(pg_dump: str, url: str, out: Path) -> None:
    _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--file", str(out),
          "--dbname", url])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_backup(path: Path, dump_path: Path, sealed: dict[str, Any], migrations: list[str],
                 now: datetime) -> dict[str, Any]:
    """Write the tar next to `path` and rename it into place (never a half-written backup)."""
    manifest = {
        "format": FORMAT, "created_at": now.isoformat(), "maas_version": __version__,
        "migrations": migrations, "dump": {"file": "database.dump", "bytes": dump_path.stat().st_size,
                                           "sha256": _sha256(dump_path)},
        "data_keys": sealed,
    }
    tmp = path.with_name(path.name + ".partial")
    with tarfile.open(tmp, "w") as tar:
        data = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
        tar.addfile(info, io.BytesIO(data))
        tar.add(dump_path, arcname="database.dump")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return manifest


def read_backup(path: Path, into: Path) -> Backup:
    """Open and check a backup: a maas backup whose dump matches its checksum."""
    try:
        with tarfile.open(path, "r") as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
            if manifest.get("format") != FORMAT:
                raise NotABackup(f"{path} is not a {FORMAT} file (format {manifest.get('format')!r})")
            member = tar.getmember("database.dump")
            with tar.extractfile(member) as src, open(into / "database.dump", "wb") as dst:  # type: ignore[union-attr]
                shutil.copyfileobj(src, dst)
    except (tarfile.TarError, KeyError, ValueError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise NotABackup(f"{path}: no such file") from None
        raise NotABackup(f"{path} is not a maas backup ({type(exc).__name__}: {exc})") from None
    got = _sha256(into / "database.dump")
    if got != manifest["dump"]["sha256"]:
        raise NotABackup(f"{path}: the database dump is damaged (checksum mismatch)")
    return Backup(manifest, into / "database.dump")


def restore_sql(pg_restore: str, dump_path: Path, out: Path) -> None:
    """The dump as one SQL script (psql then runs it in a single transaction)."""
    _run([pg_restore, "--no-owner", "--no-privileges", "--file", str(out), str(dump_path)])


def run_restore(psql: str, url: str, reset_sql: str, script: Path) -> None:
    """`reset_sql` then `script`, in one transaction: everything or nothing."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as head:
        head.write(reset_sql)
    try:
        _run([psql, "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction",
              "--dbname", url, "--file", head.name, "--file", str(script)],
             stdin=subprocess.DEVNULL)
    finally:
        os.unlink(head.name)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
