"""One compiled copy of the active network per machine: numpy arrays over memory-mapped files.

Every worker process of every `maas serve` on one data folder needs the same merged network
(feeds.store.load_active -> routing.network.from_bytes -> merge). Instead of each building
and holding its own copy, the first worker to need a generation builds it once under a file
lock and writes it to `<data_dir>/networks/<key>/` (one `.npy` per numeric array, `meta.json`
for the scalars and the string arrays); every worker, the builder included, then maps the
arrays read-only (`np.load(mmap_mode="r")`), so the kernel keeps one copy in its page cache
that all of them share. `key` is a digest of the active (feed, version) set: a new activation
is a new directory; the old ones are removed once `KEEP` newer ones exist (a process still
mapping one keeps its pages: unlinking a mapped file does not unmap it).

The mapped arrays are read-only: a write raises ValueError (the realtime overlay builds its
own arrays beside them and never writes into the static ones).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from routing.network import Network, _array_fields, from_bytes, merge

__all__ = ["shared_network", "network_key", "KEEP"]

KEEP = 3   # generations kept on disk (the newest ones)
_FORMAT = "maas-netcache/1"


def network_key(versions: list[tuple[str, str]]) -> str:
    """Digest of the active (feed, version) set: the directory name of its generation."""
    text = json.dumps(sorted(versions), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def shared_network(rows: list[tuple[str, str, bytes]], cache_dir: Path) -> Network:
    """The merged network of `rows` (feed, version, compiled bytes), built once per machine
    under a file lock and mapped read-only from `cache_dir`."""
    key = network_key([(f, v) for f, v, _ in rows])
    final = cache_dir / key
    if (final / "meta.json").exists():
        return _map(final)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # another worker building it: wait, then map
        try:
            if not (final / "meta.json").exists():
                _write(merge([from_bytes(blob) for _, _, blob in rows]), cache_dir, key)
                _prune(cache_dir, key)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return _map(final)


def _write(net: Network, cache_dir: Path, key: str) -> None:
    tmp = cache_dir / f"{key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    meta: dict = {"format": _FORMAT, "timezones": list(net.timezones), "feeds": list(net.feeds),
                  "feed_versions": list(net.feed_versions),
                  "service_base_date": int(net.service_base_date),
                  "stop_names_i18n": [[int(s), d] for s, d in net.stop_names_i18n.items()],
                  "objects": {}, "arrays": []}
    for name in _array_fields():
        a = getattr(net, name)
        if a.dtype == object:
            meta["objects"][name] = [str(x) for x in a]
        else:
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(a), allow_pickle=False)
            meta["arrays"].append(name)
    # meta.json last: its presence says the directory is complete
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
    os.rename(tmp, cache_dir / key)


def _map(path: Path) -> Network:
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a {_FORMAT} directory")
    arrays: dict[str, np.ndarray] = {}
    for name in meta["arrays"]:
        a = np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        if a.size == 0:           # nothing to share; a plain read-only empty array
            a = np.array(a)
            a.flags.writeable = False
        arrays[name] = a
    for name, values in meta["objects"].items():
        a = np.empty(len(values), dtype=object)
        a[:] = values
        arrays[name] = a
    os.utime(path)   # recently used: pruned last
    return Network(
        timezones=tuple(meta["timezones"]), feeds=tuple(meta["feeds"]),
        feed_versions=tuple(meta["feed_versions"]),
        service_base_date=meta["service_base_date"],
        stop_names_i18n={int(s): d for s, d in meta["stop_names_i18n"]}, **arrays)


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
