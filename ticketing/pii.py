"""Personal data at rest: AES-256-GCM with a keyring of data-encryption keys.

A ciphertext is `nonce (12 bytes) || AES-GCM(plaintext)`; the key id is stored beside it
(a column), so the active key can rotate while old rows stay readable; `reencrypt` moves
a value to the active key. The associated data binds a ciphertext to its row and field
(booking id, passenger number, field name): a ciphertext copied into another row or
column fails to decrypt instead of showing someone else's data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ticketing.errors import DecryptionFailed, UnknownKey

__all__ = ["Keyring", "pii_aad"]

_NONCE = 12


def pii_aad(booking_id: str, passenger_no: int, field: str) -> bytes:
    """Associated data for one encrypted passenger field."""
    return f"maas/pii/v1|{booking_id}|{passenger_no}|{field}".encode()


@dataclass(frozen=True)
class Keyring:
    keys: Mapping[str, bytes]  # key id -> 32-byte key
    active: str                # key id new ciphertexts use

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise UnknownKey(f"active key id {self.active!r} is not in the keyring")
        for kid, key in self.keys.items():
            if len(key) != 32:
                raise ValueError(f"data-encryption key {kid!r} must be 32 bytes")

    def encrypt(self, plaintext: str, aad: bytes) -> tuple[str, bytes]:
        """-> (key id, nonce || ciphertext) under the active key."""
        nonce = os.urandom(_NONCE)
        ct = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext.encode(), aad)
        return self.active, nonce + ct

    def decrypt(self, key_id: str, blob: bytes, aad: bytes) -> str:
        key = self.keys.get(key_id)
        if key is None:
            raise UnknownKey(f"data-encryption key {key_id!r} is not configured", key_id=key_id)
        try:
            return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad).decode()
        except InvalidTag:
            raise DecryptionFailed("ciphertext does not authenticate", key_id=key_id) from None

    def reencrypt(self, key_id: str, blob: bytes, aad: bytes) -> tuple[str, bytes]:
        """Move a ciphertext to the active key (no-op copy if it already uses it)."""
        if key_id == self.active:
            return key_id, blob
        return self.encrypt(self.decrypt(key_id, blob, aad), aad)
