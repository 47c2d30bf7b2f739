"""Base45 (RFC 9285): binary as the characters of a QR code's alphanumeric mode.

A QR code stores alphanumeric text at 5.5 bits per character, so base45 carries 16 bits in
3 characters (97% of the byte capacity) where base64 in byte mode carries 75%.
"""

from __future__ import annotations

import numpy as np

__all__ = ["b45encode", "b45decode", "b45decode_short"]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}


_ALPHABET_BYTES = np.frombuffer(_ALPHABET.encode("ascii"), dtype=np.uint8)


def _triples() -> np.ndarray:
    """The three characters of every 16-bit value, as one (65536, 3) table (192 KiB)."""
    v = np.arange(1 << 16)
    out = np.empty((1 << 16, 3), dtype=np.uint8)
    out[:, 0] = _ALPHABET_BYTES[v % 45]
    out[:, 1] = _ALPHABET_BYTES[v // 45 % 45]
    out[:, 2] = _ALPHABET_BYTES[v // 2025]
    return out


_TRIPLES = _triples()


def b45encode(data: bytes) -> str:
    """Every whole byte pair at once through the table (a token's ~125 pairs: ~4 us, where
    numpy arithmetic per call took ~10-15 us and a Python loop ~50 us)."""
    pairs = len(data) // 2
    text = _TRIPLES[np.frombuffer(data, dtype=">u2", count=pairs)].tobytes().decode("ascii")
    if len(data) % 2:
        d1, c1 = divmod(data[-1], 45)
        text += _ALPHABET[c1] + _ALPHABET[d1]
    return text


def _b45encode_loop(data: bytes) -> str:
    """The RFC's loop (the reference the table is tested against)."""
    out: list[str] = []
    a = _ALPHABET
    for i in range(0, len(data) - 1, 2):
        n = (data[i] << 8) | data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out.append(a[c] + a[d] + a[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out.append(a[c] + a[d])
    return "".join(out)


_TABLE = bytes(_VALUE.get(chr(i), 255) for i in range(256))
_WEIGHTS = np.array([1, 45, 45 * 45], dtype=np.uint32)


def _values(text: str) -> tuple[bytes, int]:
    """The alphabet values of `text` and how many are left over after whole triples (0 or 2);
    ValueError on a character outside the alphabet or a length no bytes encode to."""
    try:
        vals = text.encode("ascii").translate(_TABLE)
    except UnicodeEncodeError:
        raise ValueError("not base45: non-ASCII") from None
    if 255 in vals:
        raise ValueError(f"not base45: {text[vals.index(255)]!r}")
    rest = len(vals) % 3
    if rest == 1:
        raise ValueError("base45 length")
    return vals, rest


def _last_byte(vals: bytes) -> bytes:
    """The byte of a trailing pair of values."""
    last = vals[-2] + vals[-1] * 45
    if last > 0xFF:
        raise ValueError("base45 value out of range")
    return bytes([last])


def b45decode(text: str) -> bytes:
    """Raises ValueError on a character outside the alphabet or a value out of range."""
    vals, rest = _values(text)
    # whole triples at once (a gate decodes ~110 per scan; a Python loop was ~40 us of it)
    triples = np.frombuffer(vals, dtype=np.uint8, count=len(vals) - rest).reshape(-1, 3)
    n = triples @ _WEIGHTS
    if n.size and np.bitwise_or.reduce(n) > 0xFFFF:   # some value above 16 bits
        raise ValueError("base45 value out of range")
    out = n.astype(">u2").tobytes()
    return out + _last_byte(vals) if rest == 2 else out


def b45decode_short(text: str) -> bytes:
    """`b45decode` without numpy, for a few characters (a QR's codes: ~15, where numpy's
    set-up per call is most of b45decode's ~5 us); raises ValueError as it does."""
    vals, rest = _values(text)
    out = bytearray()
    for i in range(0, len(vals) - rest, 3):
        n = vals[i] + vals[i + 1] * 45 + vals[i + 2] * 2025
        if n > 0xFFFF:
            raise ValueError("base45 value out of range")
        out += n.to_bytes(2, "big")
    if rest == 2:
        out += _last_byte(vals)
    return bytes(out)
