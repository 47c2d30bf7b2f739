"""A numpy reader for the plain CSV of a big stop_times.txt: no Python object per row.

It handles the common shape only — no quote character anywhere, every line with the
header's number of fields, no spaces around ids, well-formed times — and says None for
anything else, so the caller falls back to pandas (which handles quoting and leniency).

Fields are located from the byte positions of commas and newlines. Times and integers are
parsed digit by digit across all rows at once. Ids are factorized by two independent
64-bit polynomial hashes of their bytes: pandas' hash table groups rows by the first, the
second must then agree inside every group (else: None, fall back), and only the distinct
ids are ever decoded into strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Fields", "split_fields", "factorize", "times", "integers"]

_COMMA, _NL, _CR, _QUOTE, _SPACE, _COLON, _ZERO = 44, 10, 13, 34, 32, 58, 48
_P1, _P2 = np.uint64(1_000_003), np.uint64(0x9E3779B97F4A7C15)


class Fields:
    """Where every field of a CSV body lies: `field(k)` -> (starts, ends) byte offsets."""

    def __init__(self, buf: np.ndarray, names: list[str], line_start: np.ndarray,
                 line_end: np.ndarray, commas: np.ndarray) -> None:
        self.buf, self.names = buf, names
        self._ls, self._le, self._c = line_start, line_end, commas   # commas: (rows, cols-1)

    def __len__(self) -> int:
        return len(self._ls)

    def field(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        last = len(self.names) - 1
        start = self._ls if k == 0 else self._c[:, k - 1] + 1
        end = self._le if k == last else self._c[:, k]
        return np.ascontiguousarray(start), np.ascontiguousarray(end)


def split_fields(data: bytes) -> Fields | None:
    """The fields of a quote-free CSV with the header's field count on every line, or None."""
    if b'"' in data:
        return None
    padded = data + bytes(8)                            # room for the last 8-byte word
    buf = np.frombuffer(padded, dtype=np.uint8)[: len(data)]
    head = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    nl = np.flatnonzero(buf == _NL)
    if len(nl) == 0:
        return None
    try:
        names = [h.strip() for h in data[head:nl[0]].decode("utf-8").rstrip("\r").split(",")]
    except UnicodeDecodeError:
        return None
    ncols = len(names)
    line_start = np.concatenate([[nl[0] + 1], nl[:-1] + 1])
    line_end = nl.copy()
    if nl[-1] + 1 < len(buf):                          # last line without a newline
        line_start = np.append(line_start, nl[-1] + 1)
        line_end = np.append(line_end, len(buf))
    cr = (line_end > line_start) & (buf[np.maximum(line_end - 1, 0)] == _CR)
    line_end = line_end - cr
    keep = line_end > line_start                       # blank lines
    line_start, line_end = line_start[keep], line_end[keep]
    n = len(line_start)
    if n == 0:
        return None
    commas = np.flatnonzero(buf[line_start[0]:] == _COMMA) + line_start[0]
    if len(commas) != n * (ncols - 1):
        return None
    c = commas.reshape(n, ncols - 1)
    if ncols > 1 and not ((c[:, 0] >= line_start).all() and (c[:, -1] < line_end).all()):
        return None                       # commas total right, but not ncols-1 on every line
    return Fields(buf, names, line_start, line_end, c)


def _max_len(s: np.ndarray, e: np.ndarray) -> int:
    return int((e - s).max()) if len(s) else 0


def _raw(buf: np.ndarray) -> bytes:
    """The bytes object under `buf` (with split_fields' 8 spare bytes)."""
    base = buf.base
    while base is not None and not isinstance(base, bytes):
        base = base.base
    return base if isinstance(base, bytes) else buf.tobytes() + bytes(8)


def _words(buf: np.ndarray) -> np.ndarray:
    """A uint64 view whose element p is the 8 bytes (little-endian) starting at byte p: one
    gather reads 8 bytes of every field. `buf` must end with 8 spare bytes."""
    raw = _raw(buf)
    return np.ndarray(shape=(len(raw) - 7,), dtype="<u8", buffer=raw, offset=0, strides=(1,))


def factorize(buf: np.ndarray, s: np.ndarray, e: np.ndarray,
              words: np.ndarray | None = None) -> tuple[np.ndarray, list[str]] | None:
    """Codes (row -> distinct id) and the distinct ids (decoded), or None. Hashes 8 bytes at
    a time; `buf` must end with 8 spare bytes (split_fields adds them)."""
    length = e - s
    nonempty = length > 0
    # an empty last field of a file without a final newline starts at len(buf)
    if ((buf[np.minimum(s, len(buf) - 1)] == _SPACE) & nonempty).any() or \
            ((buf[np.maximum(e - 1, 0)] == _SPACE) & nonempty).any():
        return None
    words = _words(buf) if words is None else words
    h1 = length.astype(np.uint64)
    h2 = length.astype(np.uint64) * _P2
    with np.errstate(over="ignore"):
        for j in range(0, _max_len(s, e), 8):
            word = words[np.minimum(s + j, len(buf))]   # past its field: read, masked out
            rest = length - j
            bits = (np.clip(rest, 0, 8) * 8).astype(np.uint64)
            mask = np.where(rest >= 8, np.uint64(0xFFFFFFFFFFFFFFFF),
                            (np.uint64(1) << np.minimum(bits, np.uint64(63))) - np.uint64(1))
            w = word & mask
            h1 = h1 * _P1 + w
            h2 = (h2 ^ w) * _P2 + np.uint64(j + 1)
    codes, uniq = pd.factorize(h1)
    first = np.zeros(len(uniq), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # first row of each distinct value
    if not (h2[first[codes]] == h2).all():
        return None                                   # a hash collision: let pandas do it
    raw = _raw(buf)
    try:
        return codes.astype(np.int64), [raw[s[i]:e[i]].decode("utf-8") for i in first]
    except UnicodeDecodeError:
        return None                                   # pandas' path reports it


def _digits(buf: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unsigned integers of fields (value, ok); empty fields are not ok."""
    length = e - s
    value = np.zeros(len(s), dtype=np.int64)
    ok = length > 0
    last = len(buf) - 1
    for k in range(min(_max_len(s, e), 18)):
        inside = k < length
        d = buf[np.minimum(s + k, last)].astype(np.int64) - _ZERO
        ok &= ~inside | ((d >= 0) & (d <= 9))
        value = np.where(inside, value * 10 + d, value)
    ok &= length <= 18
    return value, ok


def integers(buf: np.ndarray, s: np.ndarray, e: np.ndarray, default: int,
             lo: int | None = None, hi: int | None = None) -> np.ndarray:
    """Integer fields; blank, malformed or outside [lo, hi] -> default."""
    value, ok = _digits(buf, s, e)
    if lo is not None:
        ok &= value >= lo
    if hi is not None:
        ok &= value <= hi
    return np.where(ok, value, default)


def times(buf: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray | None:
    """'H:MM:SS' / 'HH:MM:SS' / 'HHH:MM:SS' -> seconds, blank -> -1; None if any is malformed.
    Reads the last 9 bytes of each field (a line never starts within 9 bytes of the file's
    start: the header comes first)."""
    length = e - s
    blank = length == 0
    d = [None] + [buf[e - k].astype(np.int32) - _ZERO for k in range(1, 10)]  # d[k]: k-th last
    digit = [None] + [(x >= 0) & (x <= 9) for x in d[1:]]
    ok = (length >= 7) & (length <= 9) & (d[3] == _COLON - _ZERO) & (d[6] == _COLON - _ZERO)
    ok &= digit[1] & digit[2] & digit[4] & digit[5] & digit[7]
    ok &= ((length < 8) | digit[8]) & ((length < 9) | digit[9])
    sec, mins = d[2] * 10 + d[1], d[5] * 10 + d[4]
    hours = np.where(length >= 8, d[8] * 10, 0) + np.where(length >= 9, d[9] * 100, 0) + d[7]
    ok &= (sec < 61) & (mins < 60)
    if not (ok | blank).all():
        return None
    return np.where(blank, -1, hours.astype(np.int64) * 3600 + mins * 60 + sec)
