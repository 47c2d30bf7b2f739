"""One compiled copy of the active network per machine: numpy arrays over memory-mapped files.

Every worker process of every `maas serve` on one data folder needs the same merged network
(feeds.store.load_active -> routing.network.from_bytes -> merge) and the same planner
structures derived from it. Instead of each building and holding its own copy, the first
worker to need a generation builds it once under a file lock and writes it to
`<data_dir>/networks/<key>/` (one `.npy` per array, `meta.json` for the scalars); every
worker, the builder included, then maps the arrays read-only (`np.load(mmap_mode="r")`), so
the kernel keeps one copy in its page cache that all of them share. `key` is a digest of the
active (feed, version) set and of this layout: a new activation is a new directory; the old
ones are removed once `KEEP` newer ones exist (a process still mapping one keeps its pages:
unlinking a mapped file does not unmap it).

String columns (ids, names, headsigns) are stored as fixed-width unicode arrays (`<U{n}`),
mapped like the numbers: an element is a `numpy.str_`, a `str`. A column whose fixed width
would waste too much (one very long value among short ones), or that holds a value ending
in NUL (which the fixed width cannot keep), stays a Python list in `meta.json`. The stops'
translations (`stop_names_i18n`) are arrays too (a UTF-8 blob, `StopNames` looks them up).

Planner structures (`Generation.shared(config)`, routing.prebuilt): patterns, footpaths,
their reversed forms, the sorted trip and stop ids, the stop search index
(routing.stops.StopIndex) and every expanded day are kept under
`<key>/planner-<config digest>/<name>/`, each built once per machine under its own lock by
the first worker that asks for it (an expanded day: the first to plan on that date) and
mapped by all. At most `DAYS_KEPT` expanded days are kept per generation (least recently
mapped removed first).

The mapped arrays are read-only: a write raises ValueError (the realtime overlay builds its
own arrays beside them and never writes into the static ones).
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from routing.network import Network, _array_fields, from_bytes, merge

__all__ = [
    "DAYS_KEPT",
    "KEEP",
    "Generation",
    "SharedArrays",
    "StopNames",
    "config_key",
    "network_key",
    "shared_generation",
    "shared_network",
    "trim",
]

KEEP = 3        # generations kept on disk (the newest ones)
DAYS_KEPT = 8   # expanded days kept per generation and planner configuration
_FORMAT = "maas-netcache/3"
_ARRAYS = "maas-netcache-arrays/1"
_PLANNER = "maas-planner/3"   # bump when routing changes what it derives from a network
#                               (the planner's structures and routing.stops.StopIndex's arrays)
_MAX_WIDTH_WASTE = 4          # fixed-width strings: at most 4x the characters (+ a margin)

Arrays = dict[str, np.ndarray]


def network_key(versions: list[tuple[str, str]]) -> str:
    """Digest of the active (feed, version) set: the directory name of its generation."""
    text = json.dumps([_FORMAT, sorted(versions)], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def config_key(config: Any) -> str:
    """Digest of a RoutingConfig without its id secret (which derives nothing stored)."""
    values = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "id_secret"}
    text = repr([_PLANNER, sorted((k, repr(v)) for k, v in values.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Generation:
    """A network generation on disk: the mapped network and its planner structures."""

    path: Path
    network: Network

    def shared(self, config: Any) -> SharedArrays:
        """Where planners of `config` keep what they derive from this network."""
        return SharedArrays(self.path / f"planner-{config_key(config)}")


def shared_network(rows: list[tuple[str, str, bytes]], cache_dir: Path) -> Network:
    """The merged network of `rows` (feed, version, compiled bytes), built once per machine
    under a file lock and mapped read-only from `cache_dir`."""
    return shared_generation(rows, cache_dir).network


def shared_generation(rows: list[tuple[str, str, bytes]], cache_dir: Path) -> Generation:
    key = network_key([(f, v) for f, v, _ in rows])
    final = cache_dir / key
    if not (final / "meta.json").exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(cache_dir / f"{key}.lock"):   # another worker building it: wait, then map
            if not (final / "meta.json").exists():
                _write(merge([from_bytes(blob) for _, _, blob in rows]), cache_dir, key)
                _prune(cache_dir, key)
    return Generation(final, _map(final))


def trim() -> None:
    """Collect garbage, then give the heap's free pages back to the system (glibc
    `malloc_trim`; elsewhere nothing). Building a snapshot frees its temporaries in the
    middle of the heap, where glibc keeps them: ~10 MB per worker at --scale 10."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fixed_width(values: list[str]) -> np.ndarray | None:
    """`values` as a `<U{n}` array, or None when that would not keep them or waste too much."""
    if not values:
        return np.zeros(0, dtype="<U1")
    if any(v.endswith("\x00") for v in values):
        return None
    a = np.array(values, dtype=str)
    chars = sum(len(v) for v in values) + len(values)
    return a if a.itemsize // 4 * len(a) <= _MAX_WIDTH_WASTE * chars + 65536 else None


def _save(arrays: Arrays, tmp: Path, meta: dict) -> None:
    """Each array to `<name>.npy` in `tmp`, then `meta.json` (its presence: complete)."""
    for name, a in arrays.items():
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(a), allow_pickle=False)
    meta["arrays"] = list(arrays)
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))


def _load(path: Path, names: list[str]) -> Arrays:
    out: Arrays = {}
    for name in names:
        a = np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        if a.size == 0:           # nothing to share; a plain read-only empty array
            a = np.array(a)
            a.flags.writeable = False
        # a plain ndarray view of the mapping (slicing a np.memmap costs a Python call)
        out[name] = np.asarray(a)
    return out


def _write(net: Network, cache_dir: Path, key: str) -> None:
    tmp = cache_dir / f"{key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    meta: dict = {"format": _FORMAT, "timezones": list(net.timezones), "feeds": list(net.feeds),
                  "feed_versions": list(net.feed_versions),
                  "service_base_date": int(net.service_base_date), "objects": {}}
    arrays: Arrays = _names_arrays(net.stop_names_i18n, meta)
    for name in _array_fields():
        a = getattr(net, name)
        if a.dtype == object:
            values = [str(x) for x in a]
            fixed = _fixed_width(values)
            if fixed is None:
                meta["objects"][name] = values
                continue
            a = fixed
        arrays[name] = a
    _save(arrays, tmp, meta)
    os.rename(tmp, cache_dir / key)


def _map(path: Path) -> Network:
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a {_FORMAT} directory")
    arrays = _load(path, meta["arrays"])
    names = StopNames(meta["i18n_langs"], {k: arrays.pop(k) for k in _NAMES_ARRAYS})
    for name, values in meta["objects"].items():
        a = np.empty(len(values), dtype=object)
        same: dict[str, str] = {}
        a[:] = [same.setdefault(v, v) for v in values]   # one str per distinct value
        arrays[name] = a
    os.utime(path)   # recently used: pruned last
    return Network(
        timezones=tuple(meta["timezones"]), feeds=tuple(meta["feeds"]),
        feed_versions=tuple(meta["feed_versions"]),
        service_base_date=meta["service_base_date"],
        stop_names_i18n=names, **arrays)


_NAMES_ARRAYS = ("i18n_stop", "i18n_start", "i18n_lang", "i18n_blob", "i18n_name_start")


def _names_arrays(names: Mapping[int, Mapping[str, str]], meta: dict) -> Arrays:
    """A network's stop_names_i18n as StopNames' arrays (its languages into `meta`)."""
    stops = sorted(int(s) for s in names)
    langs: dict[str, int] = {}
    lang, encoded = [], []
    for s in stops:
        for code, text in names[s].items():
            lang.append(langs.setdefault(code, len(langs)))
            encoded.append(text.encode())
    meta["i18n_langs"] = list(langs)
    return {"i18n_stop": np.array(stops, dtype=np.int64),
            "i18n_start": _offsets([len(names[s]) for s in stops]),
            "i18n_lang": np.array(lang, dtype=np.int32),
            "i18n_blob": np.frombuffer(b"".join(encoded), dtype=np.uint8),
            "i18n_name_start": _offsets([len(b) for b in encoded])}


def _offsets(sizes: list[int]) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    out[1:] = np.cumsum(sizes, dtype=np.int64)
    return out


class StopNames(Mapping[int, dict[str, str]]):
    """s -> {lang: name} (a network's stop_names_i18n) over mapped arrays: the stops that have
    names sorted, a CSR of their (language, name) entries, the names as one UTF-8 blob. A
    lookup is a binary search and builds the small dict asked for; no worker holds a dict
    per stop."""

    def __init__(self, langs: list[str], arrays: Arrays) -> None:
        self._langs = tuple(langs)
        self._stop, self._start = arrays["i18n_stop"], arrays["i18n_start"]
        self._lang, self._name_start = arrays["i18n_lang"], arrays["i18n_name_start"]
        self._blob = memoryview(arrays["i18n_blob"])

    def get(self, s: Any, default: Any = None) -> Any:
        try:
            s = int(s)
        except (TypeError, ValueError):
            return default
        i = int(self._stop.searchsorted(s))
        if i >= len(self._stop) or int(self._stop[i]) != s:
            return default
        at = self._name_start
        return {self._langs[int(self._lang[e])]:
                bytes(self._blob[int(at[e]):int(at[e + 1])]).decode()
                for e in range(int(self._start[i]), int(self._start[i + 1]))}

    def __getitem__(self, s: int) -> dict[str, str]:
        got = self.get(s)
        if got is None:
            raise KeyError(s)
        return got

    def __contains__(self, s: object) -> bool:
        return self.get(s) is not None

    def __iter__(self) -> Iterator[int]:
        return iter(self._stop.tolist())

    def __len__(self) -> int:
        return len(self._stop)


def _prune(cache_dir: Path, keep_key: str) -> None:
    """Remove all but the KEEP most recently used generations (and stale temporaries)."""
    now = time.time()
    dirs = [p for p in cache_dir.iterdir() if p.is_dir()]
    for p in dirs:
        if ".tmp-" in p.name and now - p.stat().st_mtime > 3600:
            shutil.rmtree(p, ignore_errors=True)
    done = sorted((p for p in dirs if ".tmp-" not in p.name and p.name != keep_key),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for p in done[KEEP - 1:]:
        shutil.rmtree(p, ignore_errors=True)
        (cache_dir / f"{p.name}.lock").unlink(missing_ok=True)


class SharedArrays:
    """routing.prebuilt.Shared over a directory: each name a subdirectory of `.npy` files,
    built once per machine under a file lock and mapped read-only by every process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def arrays(self, name: str, build: Callable[[], Arrays]) -> Arrays:
        final = self.path / name
        for _ in range(3):   # a day pruned by another process between the check and the map
            try:
                if (final / "meta.json").exists():
                    return self._map(final)
                self.path.mkdir(parents=True, exist_ok=True)
                with _locked(self.path / f"{name}.lock"):
                    if not (final / "meta.json").exists():
                        self._write(name, build())
                return self._map(final)
            except FileNotFoundError:
                continue
        raise RuntimeError(f"{final}: removed while mapping it, three times")

    def _map(self, path: Path) -> Arrays:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format") != _ARRAYS:
            raise ValueError(f"{path}: not a {_ARRAYS} directory")
        got = _load(path, meta["arrays"])
        os.utime(path)   # recently used: pruned last
        return got

    def _write(self, name: str, arrays: Arrays) -> None:
        for stale in self.path.glob(f"{name}.tmp-*"):   # a crashed builder's (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = self.path / f"{name}.tmp-{os.getpid()}"
        tmp.mkdir()
        _save(arrays, tmp, {"format": _ARRAYS})
        try:
            os.rename(tmp, self.path / name)
        except OSError:          # built meanwhile by a process that did not see our lock
            shutil.rmtree(tmp, ignore_errors=True)
            if not (self.path / name / "meta.json").exists():
                raise
        if name.startswith("day-"):
            self._prune_days(name)

    def _prune_days(self, keep: str) -> None:
        days = sorted((p for p in self.path.iterdir()
                       if p.is_dir() and p.name.startswith("day-") and ".tmp-" not in p.name
                       and p.name != keep),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        for p in days[DAYS_KEPT - 1:]:     # (its lock file stays: someone may hold it)
            shutil.rmtree(p, ignore_errors=True)
