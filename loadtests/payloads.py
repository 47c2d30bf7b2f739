"""Request bodies the load users send, kept free of Locust (so tests can import them)."""

from __future__ import annotations

import io
import random
import uuid
import zipfile

__all__ = ["prc_id", "passengers", "republished", "forge"]

_NAMES = ("王伟", "李娜", "张敏", "刘洋", "陈静", "杨磊", "赵丽", "黄强", "Li Wei", "Zhang Min")
_BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def prc_id(rng: random.Random, born: tuple[int, int] = (1950, 2010)) -> str:
    """A valid PRC resident ID number (Jinan region code, GB 11643 MOD 11-2 check digit),
    born in a year of the range `born`."""
    body = (f"3701{rng.randint(0, 99):02d}{rng.randint(*born)}{rng.randint(1, 12):02d}"
            f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}")
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(body))
    return body + "10X98765432"[total % 11]


def passengers(rng: random.Random) -> list[dict[str, str]]:
    """One passenger mostly, sometimes two; mostly adults."""
    n = 1 if rng.random() < 0.8 else 2
    cats = ("adult", "adult", "adult", "child", "senior")
    # the birth year the category needs (a child is under 14, a senior 60 or older)
    years = {"adult": (1970, 2005), "child": (2016, 2020), "senior": (1930, 1960)}
    out = []
    for _ in range(n):
        cat = rng.choice(cats)
        out.append({"name": rng.choice(_NAMES), "id_number": prc_id(rng, years[cat]),
                    "category": cat})
    return out


def republished(zip_bytes: bytes, n: int) -> bytes:
    """The same feed with a new archive comment: identical timetable, new bytes (a new version)."""
    src = zipfile.ZipFile(io.BytesIO(zip_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.comment = f"maas load test republish {n} {uuid.uuid4()}".encode()
    return out.getvalue()


def forge(qr: str, rng: random.Random) -> str:
    """The QR payload with one character of its signed part changed (still base45 text).

    The payload is base45(static | signature | rotating codes); the codes are a few bytes per
    leg at the end, the static part and its 64-byte signature far more than half of it, so a
    change in the first half always hits what is signed."""
    i = rng.randrange(0, max(1, len(qr) // 2))
    return qr[:i] + rng.choice([c for c in _BASE45 if c != qr[i]]) + qr[i + 1:]
