"""Planner structures built once and shared: the hook a planner asks instead of building.

`Planner.build(network, config, shared=S)` asks `S.arrays(name, build)` for each structure
it derives from the network (patterns, footpaths, the sorted trip ids, every expanded day):
`S` returns the arrays it holds under `name`, or calls `build()` (a dict of numpy arrays),
keeps the result and returns it. The service's `S` (maas.netcache) keeps them as files in
the network's generation directory and returns them memory-mapped read-only, so every
worker of a machine reads one copy; without `S` the planner builds its own in memory.

Whatever `arrays` returns may be read-only: nothing in `routing/` writes into a static
structure (the realtime overlay copies what it changes).

`TripIndex` is the trip id -> t lookup over two arrays (ids sorted, their t) instead of a
dict of 200k+ Python strings per process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any, Protocol

import numpy as np

__all__ = ["Shared", "TripIndex", "pack", "unpack", "trip_arrays"]

Arrays = dict[str, np.ndarray]


class Shared(Protocol):
    def arrays(self, name: str, build: Callable[[], Arrays]) -> Arrays:
        """The arrays kept under `name`; `build()` them (once) if none are kept yet."""
        ...


def pack(obj: Any) -> Arrays:
    """The numpy array fields of a dataclass (scalars and None are left out)."""
    return {f.name: v for f in fields(obj) if isinstance(v := getattr(obj, f.name), np.ndarray)}


def unpack(cls: type, arrays: Mapping[str, np.ndarray], **scalars: Any) -> Any:
    """A dataclass `cls` from its array fields and the given scalars."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in arrays.items() if k in names}, **scalars)


def trip_arrays(trip_id: np.ndarray) -> Arrays:
    """What a TripIndex needs: the ids sorted (a fixed-width string array) and their t."""
    order = np.argsort(trip_id, kind="stable").astype(np.int32)
    ids = trip_id[order]
    if ids.dtype == object:
        ids = ids.astype(str) if len(ids) else np.zeros(0, dtype="<U1")
    return {"trip_sorted": ids, "trip_order": order}


class TripIndex(Mapping[str, int]):
    """"feed:trip_id" -> t by binary search over the sorted ids (`trip_arrays`)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._ids, self._t = arrays["trip_sorted"], arrays["trip_order"]

    def get(self, key: Any, default: Any = None) -> Any:
        if not isinstance(key, str) or not len(self._ids):
            return default
        k = int(np.searchsorted(self._ids, key))
        # str(): a fixed-width array drops trailing NULs, so compare as the caller wrote it
        if k < len(self._ids) and str(self._ids[k]) == key:
            return int(self._t[k])
        return default

    def __getitem__(self, key: str) -> int:
        t = self.get(key)
        if t is None:
            raise KeyError(key)
        return t

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        return (str(x) for x in self._ids)

    def __len__(self) -> int:
        return len(self._ids)
