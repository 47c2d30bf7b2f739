"""Face templates and 1:N matching within a small gallery.

A template is a fixed-length float vector computed on the phone or the gate by the app's
face model; we never see an image. Templates are L2-normalised and compared by cosine
similarity. A probe is matched only against the gallery of passengers holding a ticket valid
at that gate now (built by the caller), so N stays small: one flight, one departure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ticketing.checkin_errors import FaceAmbiguous, InvalidTemplate, NoFaceMatch

__all__ = ["normalise", "to_bytes", "from_bytes", "Gallery", "match"]

_DTYPE = np.dtype("<f4")


def normalise(template: Sequence[float] | np.ndarray, dimension: int) -> np.ndarray:
    """A unit float32 vector, or InvalidTemplate (wrong length, not finite, all zero)."""
    try:
        v = np.asarray(template, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidTemplate("template must be a list of numbers") from None
    if v.ndim != 1 or v.shape[0] != dimension:
        raise InvalidTemplate(f"template must have {dimension} numbers", dimension=dimension)
    if not np.all(np.isfinite(v)):
        raise InvalidTemplate("template has non-finite numbers")
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        raise InvalidTemplate("template is all zeros")
    return (v / norm).astype(_DTYPE)


def to_bytes(unit: np.ndarray) -> bytes:
    return unit.astype(_DTYPE).tobytes()


def from_bytes(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=_DTYPE)


@dataclass(frozen=True)
class Gallery:
    """Enrolled templates of the passengers allowed through one gate now."""

    ids: tuple[str, ...]          # row -> account id
    matrix: np.ndarray            # (n, dimension) float32, unit rows

    @classmethod
    def of(cls, items: Sequence[tuple[str, np.ndarray]], dimension: int) -> "Gallery":
        if not items:
            return cls((), np.zeros((0, dimension), dtype=_DTYPE))
        return cls(tuple(i for i, _ in items), np.vstack([t for _, t in items]).astype(_DTYPE))

    def __repr__(self) -> str:   # never print templates
        return f"Gallery(n={len(self.ids)})"


def match(gallery: Gallery, probe: np.ndarray, threshold: float) -> tuple[str, float]:
    """The one gallery entry whose similarity to `probe` reaches `threshold`.

    NoFaceMatch when none does; FaceAmbiguous when entries of two different accounts do (the
    gate falls back to the QR code rather than guess)."""
    if not gallery.ids:
        raise NoFaceMatch("nobody with a valid ticket here has enrolled a face")
    scores = gallery.matrix @ probe
    hits = np.flatnonzero(scores >= threshold)
    accounts = {gallery.ids[i] for i in hits}
    if not accounts:
        raise NoFaceMatch("no enrolled face matches")
    if len(accounts) > 1:
        raise FaceAmbiguous("more than one enrolled face matches", candidates=len(accounts))
    best = int(hits[np.argmax(scores[hits])])
    return gallery.ids[best], float(scores[best])
