"""Signing keys of journey tokens and manifests, and sealing of stored secrets.

Ed25519 signing keys live in PostgreSQL (`signing_keys`, 0300_gates.sql): the public key in
clear, the private key sealed with AES-256-GCM under a data-at-rest key from settings (its
id stored beside it, so data keys rotate too). Exactly one key signs (`active`); every key
not retired verifies, so `maas keys rotate-signing` never invalidates tickets already
issued. Gates learn the verification keys from their manifest.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "DataKeyring",
    "SigningKey",
    "new_key_id",
    "public_bytes",
    "load_public",
    "seal",
    "unseal",
    "rotate_signing_key",
    "load_verification_keys",
    "load_signing_key",
    "KeyCache",
]

NONCE = 12
_ROTATE_LOCK = 0x6D616173_0300   # pg_advisory_xact_lock key: one rotation at a time


class DataKeyring(Protocol):
    """What we need of maas.settings.DataKeys: key id -> 32 bytes, and the active id."""

    keys: Mapping[str, bytes]
    active: str


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey


def new_key_id() -> str:
    return secrets.token_hex(4)


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_public(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes(raw))


def seal(keys: DataKeyring, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
    """(data key id, nonce | ciphertext) under the active data key."""
    nonce = os.urandom(NONCE)
    return keys.active, nonce + AESGCM(keys.keys[keys.active]).encrypt(nonce, plaintext, aad)


def unseal(keys: DataKeyring, key_id: str, blob: bytes, aad: bytes) -> bytes:
    """Raises KeyError for an unknown data key, ValueError when the blob does not authenticate."""
    blob = bytes(blob)
    try:
        return AESGCM(keys.keys[key_id]).decrypt(blob[:NONCE], blob[NONCE:], aad)
    except InvalidTag:
        raise ValueError("sealed data does not authenticate") from None


def _aad(kid: str) -> bytes:
    return b"maas.signing-key:" + kid.encode()


def _data_keys(settings: Any) -> DataKeyring:
    dk = settings.data_keys
    return dk() if callable(dk) else dk


async def _insert_active(conn: Any, data_keys: DataKeyring) -> str:
    kid = new_key_id()
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes_raw()
    dek, blob = seal(data_keys, raw, _aad(kid))
    await conn.execute("UPDATE signing_keys SET active = false WHERE active")
    await conn.execute(
        "INSERT INTO signing_keys (key_id, public_key, sealed_private, data_key_id, active)"
        " VALUES ($1, $2, $3, $4, true)",
        kid, public_bytes(private), blob, dek,
    )
    return kid


async def rotate_signing_key(conn: Any, settings: Any) -> str:
    """Make a new Ed25519 signing key the active one; older keys keep verifying. Returns its id."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _ROTATE_LOCK)
        return await _insert_active(conn, _data_keys(settings))


async def load_verification_keys(conn: Any) -> dict[str, Ed25519PublicKey]:
    rows = await conn.fetch("SELECT key_id, public_key FROM signing_keys WHERE retired_at IS NULL")
    return {r["key_id"]: load_public(r["public_key"]) for r in rows}


async def load_signing_key(conn: Any, data_keys: DataKeyring) -> SigningKey:
    """The active signing key; the first call on a fresh database creates one."""
    row = await conn.fetchrow(
        "SELECT key_id, sealed_private, data_key_id FROM signing_keys WHERE active")
    if row is None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _ROTATE_LOCK)
            row = await conn.fetchrow(
                "SELECT key_id, sealed_private, data_key_id FROM signing_keys WHERE active")
            if row is None:
                await _insert_active(conn, data_keys)
                row = await conn.fetchrow(
                    "SELECT key_id, sealed_private, data_key_id FROM signing_keys WHERE active")
    raw = unseal(data_keys, row["data_key_id"], row["sealed_private"], _aad(row["key_id"]))
    return SigningKey(row["key_id"], Ed25519PrivateKey.from_private_bytes(raw))


class KeyCache:
    """Per-process cache of the verification keys and the active signing key.

    Keys never change once created, so caching is safe; the TTL only bounds how long a
    process takes to notice a rotation made elsewhere. A token naming a key id we do not
    know triggers one reload (at most once a second, so junk key ids cannot flood the DB)."""

    def __init__(self, data_keys: DataKeyring, ttl_s: float, monotonic: Any = None) -> None:
        import time

        self.data_keys = data_keys
        self.ttl_s = ttl_s
        self._mono = monotonic or time.monotonic
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._keys_at = float("-inf")
        self._signer: SigningKey | None = None
        self._signer_at = float("-inf")

    def cached_verification_keys(self, want: str | None = None) -> dict[str, Ed25519PublicKey] | None:
        """The keys without touching the database, or None when `verification_keys` would
        reload them (so a caller takes a connection only then)."""
        return None if self._reload_due(want) else self._keys

    def cached_key(self, key_id: str) -> Ed25519PublicKey | None:
        """The verification key object now held for `key_id` (no reload)."""
        return self._keys.get(key_id)

    def _reload_due(self, want: str | None) -> bool:
        now = self._mono()
        stale = now - self._keys_at > self.ttl_s
        missing = want is not None and want not in self._keys and now - self._keys_at > 1.0
        return stale or missing

    async def verification_keys(self, conn: Any, want: str | None = None) -> dict[str, Ed25519PublicKey]:
        if self._reload_due(want):
            now = self._mono()
            keys = await load_verification_keys(conn)
            if self._signer is not None:
                keys[self._signer.key_id] = self._signer.private.public_key()
            self._keys = self._same_objects(keys)
            self._keys_at = now
        return self._keys

    async def signer(self, conn: Any) -> SigningKey:
        now = self._mono()
        if self._signer is None or now - self._signer_at > self.ttl_s:
            self._signer = await load_signing_key(conn, self.data_keys)
            self._signer_at = now
            # what we sign with, we verify, even before the next reload of all keys
            self._keys = self._same_objects(
                {**self._keys, self._signer.key_id: self._signer.private.public_key()})
        return self._signer

    def _same_objects(self, keys: dict[str, Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
        """`keys`, keeping the object already held for a key id whose key is unchanged, so what
        is remembered per key object (tokens.VerifiedTickets) outlives a reload."""
        out = {}
        for kid, key in keys.items():
            held = self._keys.get(kid)
            out[kid] = held if held is not None and public_bytes(held) == public_bytes(key) else key
        return out

    def forget(self) -> None:
        self._keys_at = self._signer_at = float("-inf")

    def __repr__(self) -> str:
        return f"KeyCache(keys={sorted(self._keys)})"
