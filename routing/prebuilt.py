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

import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any, Protocol

import numpy as np

__all__ = [
    "Shared",
    "TripIndex",
    "pack",
    "register_trips",
    "registered_trips",
    "trip_arrays",
    "unpack",
]

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
        fixed = self._ids.dtype.kind == "U"
        self._dtype = self._ids.dtype if fixed else None
        self._width = self._ids.dtype.itemsize // 4 if fixed else None
        self._search = self._ids.searchsorted
        self._n = len(self._ids)
        self._memo: dict[str, int] = {}   # trips looked up lately (a search costs ~5 us)

    _MEMO = 4096

    def get(self, key: Any, default: Any = None) -> Any:
        t = self._memo.get(key) if isinstance(key, str) else None
        if t is not None:
            return t
        t = self._find(key)
        if t is None:
            return default
        if len(self._memo) >= self._MEMO:
            self._memo.clear()
        self._memo[key] = t
        return t

    def _find(self, key: Any) -> int | None:
        if not isinstance(key, str) or not self._n:
            return None
        if self._dtype is not None:
            if len(key) > self._width:       # longer than every id: not one of them
                return None
            # the key in the ids' own dtype: any other makes numpy cast (copy) all the ids
            k = int(self._search(np.array(key, dtype=self._dtype)))
        else:
            k = int(self._search(key))
        # str(): a fixed-width array drops trailing NULs, so compare as the caller wrote it
        if k < self._n and str(self._ids[k]) == key:
            return int(self._t[k])
        return None

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
        return self._n


# network -> its shared TripIndex, so other lookups of trips by id on the same network (the
# booking offers) use it instead of building a dict of every trip id per process
_REGISTERED: weakref.WeakKeyDictionary[Any, TripIndex] = weakref.WeakKeyDictionary()


def register_trips(network: Any, index: TripIndex) -> None:
    _REGISTERED[network] = index


def registered_trips(network: Any) -> TripIndex | None:
    """The shared TripIndex a planner registered for `network`, if any."""
    return _REGISTERED.get(network)
