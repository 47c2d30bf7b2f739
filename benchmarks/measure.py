"""Small measuring helpers shared by the benchmark scripts."""

from __future__ import annotations

import psutil

__all__ = ["rss_mb"]


def rss_mb() -> float:
    """Resident memory of this process, MiB."""
    return psutil.Process().memory_info().rss / 2**20
