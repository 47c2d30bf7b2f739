"""Signing keys of journey tokens and manifests, and sealing of stored secrets (pure).

Ed25519 signing keys live in PostgreSQL (`signing_keys`, 0300_gates.sql; the SQL and the
per-process `KeyCache` are in keyring_store.py): the public key in clear, the private key
sealed with AES-256-GCM under a data-at-rest key from settings (its id stored beside it, so
data keys rotate too). Exactly one key signs (`active`); every key not retired verifies, so
`maas keys rotate-signing` never invalidates tickets already issued. Gates learn the
verification keys from their manifest.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Mapping, Protocol

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
    "signing_key_aad",
]

NONCE = 12


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


def signing_key_aad(kid: str) -> bytes:
    """What a sealed private signing key is bound to: its key id."""
    return b"maas.signing-key:" + kid.encode()
