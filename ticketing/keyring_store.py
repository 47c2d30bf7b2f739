"""SQL of the signing keys (`signing_keys`, maas/migrations/0300_gates.sql), and the
per-process `KeyCache` over them.

Exactly one key signs (`active`); every key not retired verifies. The private key is sealed
under a data-at-rest key (ticketing/keyring.py). Rotation and the first key of a fresh
database are serialised by one transaction-level advisory lock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ticketing.keyring import (DataKeyring, SigningKey, load_public, new_key_id, public_bytes,
                               seal, signing_key_aad, unseal)

__all__ = ["rotate_signing_key", "load_verification_keys", "load_signing_key", "KeyCache"]

_ROTATE_LOCK = 0x6D616173_0300   # pg_advisory_xact_lock key: one rotation at a time


def _data_keys(settings: Any) -> DataKeyring:
    dk = settings.data_keys
    return dk() if callable(dk) else dk


async def _insert_active(conn: Any, data_keys: DataKeyring) -> str:
    kid = new_key_id()
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes_raw()
    dek, blob = seal(data_keys, raw, signing_key_aad(kid))
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
    raw = unseal(data_keys, row["data_key_id"], row["sealed_private"], signing_key_aad(row["key_id"]))
    return SigningKey(row["key_id"], Ed25519PrivateKey.from_private_bytes(raw))


class KeyCache:
    """Per-process cache of the verification keys and the active signing key.

    Keys never change once created, so caching is safe; the TTL only bounds how long a
    process takes to notice a rotation made elsewhere. A token naming a key id we do not
    know triggers one reload (at most once a second, so junk key ids cannot flood the DB).
    One load at a time: requests that find the cache cold while a load runs wait for it
    (a stale signing key keeps signing while it is re-read)."""

    def __init__(self, data_keys: DataKeyring, ttl_s: float, monotonic: Any = None) -> None:
        self.data_keys = data_keys
        self.ttl_s = ttl_s
        self._mono = monotonic or time.monotonic
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._keys_at = float("-inf")
        self._signer: SigningKey | None = None
        self._signer_at = float("-inf")
        self._own_for: tuple[SigningKey, Ed25519PublicKey] | None = None   # own_key's memo
        self._own: tuple[Ed25519PrivateKey, Ed25519PublicKey] | None = None
        # a load in flight: the requests that find the cache cold meanwhile wait for it instead
        # of each reading the same rows (a worker's first tokens and scans arrive together)
        self._keys_loading: asyncio.Future[None] | None = None
        self._signer_loading: asyncio.Future[None] | None = None

    def cached_verification_keys(self, want: str | None = None) -> dict[str, Ed25519PublicKey] | None:
        """The keys without touching the database, or None when `verification_keys` would
        reload them (so a caller takes a connection only then)."""
        return None if self._reload_due(want) else self._keys

    def own_key(self) -> tuple[Ed25519PrivateKey, Ed25519PublicKey] | None:
        """The active signing key, if this process has loaded it (no reload), with the
        verification key object held for its id when that is its public key: tickets signed
        here verify by signing again (tokens.VerifiedTickets)."""
        signer = self._signer
        held = self._keys.get(signer.key_id) if signer is not None else None
        if signer is None or held is None:
            return None
        memo = self._own_for
        if memo is None or memo[0] is not signer or memo[1] is not held:
            same = public_bytes(held) == public_bytes(signer.private)
            self._own_for, self._own = (signer, held), ((signer.private, held) if same else None)
        return self._own

    def cached_key(self, key_id: str) -> Ed25519PublicKey | None:
        """The verification key object now held for `key_id` (no reload)."""
        return self._keys.get(key_id)

    def _reload_due(self, want: str | None) -> bool:
        now = self._mono()
        stale = now - self._keys_at > self.ttl_s
        missing = want is not None and want not in self._keys and now - self._keys_at > 1.0
        return stale or missing

    async def verification_keys(self, conn: Any, want: str | None = None) -> dict[str, Ed25519PublicKey]:
        while self._reload_due(want):
            loading = self._keys_loading
            if loading is not None:     # another request is reading them: wait for its answer
                await asyncio.shield(loading)
                continue
            self._keys_loading = asyncio.get_running_loop().create_future()
            try:
                now = self._mono()
                keys = await load_verification_keys(conn)
                if self._signer is not None:
                    keys[self._signer.key_id] = self._signer.private.public_key()
                self._keys = self._same_objects(keys)
                self._keys_at = now
            finally:
                self._done(self._keys_loading)
                self._keys_loading = None
            break
        return self._keys

    async def verification_keys_from(self, pool: Any, want: str | None = None
                                     ) -> dict[str, Ed25519PublicKey]:
        """`verification_keys`, taking a connection of `pool` only to read them: a request that
        finds another's load in flight waits for it holding none. (Each waiter held a pooled
        connection: a worker's first scans after the TTL arrive together, and the pool opened
        new connections for them, each with its start-up and warm-up, maas/db.py.)"""
        while True:
            keys = self.cached_verification_keys(want)
            if keys is not None:
                return keys
            loading = self._keys_loading
            if loading is None:
                async with pool.acquire() as conn:
                    return await self.verification_keys(conn, want)
            await asyncio.shield(loading)

    def cached_signer(self) -> SigningKey | None:
        """The signing key without touching the database, or None when `signer` would
        (re)load it (so a caller takes a connection only then)."""
        held = self._signer
        if held is not None and (self._mono() - self._signer_at <= self.ttl_s
                                 or self._signer_loading is not None):
            return held
        return None

    async def signer(self, conn: Any) -> SigningKey:
        while True:
            now = self._mono()
            held = self._signer
            if held is not None and now - self._signer_at <= self.ttl_s:
                return held
            loading = self._signer_loading
            if loading is not None:
                if held is not None:    # being re-read: the held key signs meanwhile
                    return held
                await asyncio.shield(loading)
                continue
            self._signer_loading = asyncio.get_running_loop().create_future()
            try:
                self._signer = await load_signing_key(conn, self.data_keys)
                self._signer_at = now
                # what we sign with, we verify, even before the next reload of all keys
                self._keys = self._same_objects(
                    {**self._keys, self._signer.key_id: self._signer.private.public_key()})
            finally:
                self._done(self._signer_loading)
                self._signer_loading = None
            return self._signer

    async def signer_from(self, pool: Any) -> SigningKey:
        """`signer`, taking a connection of `pool` only to read the key (see
        `verification_keys_from`: a worker's first tokens arrive together)."""
        while True:
            held = self.cached_signer()
            if held is not None:
                return held
            loading = self._signer_loading
            if loading is None:
                async with pool.acquire() as conn:
                    return await self.signer(conn)
            await asyncio.shield(loading)

    @staticmethod
    def _done(loading: asyncio.Future[None] | None) -> None:
        """Wake the requests waiting for a load; each then looks again (and loads itself if
        this one failed or was cancelled)."""
        if loading is not None and not loading.done():
            loading.set_result(None)

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
