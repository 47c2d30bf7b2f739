"""Stop search: by name (Chinese, pinyin, English, any case, typos) and by position.

    index = StopIndex.build(network)          # once per network (at activation)
    index = StopIndex.build(network, shared)  # its arrays built once, kept by routing.prebuilt.Shared
    index.search("jinanxi")                   # -> [StopHit(stop=<济南西站>, ...), ...]
    index.near(36.67, 116.89, radius_m=500)

Results are *places*: a station (location_type 1) with its platforms grouped under it, or a
stand-alone stop. Entrances, generic nodes and boarding areas are never results.

Every name of a place — the feed's stop_name of the station and of its platforms, the
translations (translations.txt / demo: English and pinyin), and the pinyin of Chinese
names computed here (full "jinanxizhan" and initials "jnxz") — becomes a *key*: Unicode
NFKD, tone marks dropped, case-folded, only letters and digits kept. So "Ji Nan Xi",
"jǐnán xī", "jinanxi" and "JINAN-XI" are one query. A query matches a key exactly (score
100), at its start (90) or inside it (70); popular places (more stop_times) rank first
among equal scores. When nothing matches exactly or at the start of a name, fuzzy matching
(rapidfuzz partial ratio, for typos) adds places scored below 60.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz, process

from routing.network import Network
from routing.prebuilt import Shared

__all__ = ["StopIndex", "StopHit", "normalize"]

EARTH_RADIUS_M = 6_371_008.8
MAX_SCAN = 20_000          # substring hits examined per query (a one-letter query hits all)
FUZZY_CUTOFF = 75.0
_MODES = ("bus", "coach", "rail", "metro", "tram", "ferry", "air", "other")
_CJK = re.compile(r"[\u3400-\u9fff]")
_TONE_DIGITS = re.compile(r"^[a-z1-5]+$")
_NAME, _ID, _INITIALS = 0, 1, 2      # kinds of keys


def normalize(text: str) -> str:
    """Search key of a text: no accents or tone marks, case-folded, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed.casefold()
                   if ch.isalnum() and not unicodedata.combining(ch))


@dataclass(frozen=True)
class StopHit:
    stop: int                     # s of the place: a station, or a stop without a station
    platforms: tuple[int, ...]    # its child stops (empty for a stand-alone stop)
    score: float                  # search: 100 exact, 90 prefix, 80/75 every word, 70 inside, < 60 fuzzy
    matched: str                  # search: the name that matched; near: ""
    distance_m: float | None      # near: metres to the nearest stop of the place


_CHUNK = 1 << 20    # stop_times rows at a time: a province has millions (bounded temporaries)


def _served(net: Network, place_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """place -> stop_times rows at it, and place -> the modes calling there (a bit per mode).
    Counted per stop in chunks of rows, then summed per place: temporaries of a few MB
    where whole-column arrays took ~200 MB at the top of a worker's start-up."""
    n = net.n_stops
    mode_code = np.array([_MODES.index(m) if m in _MODES else len(_MODES) - 1
                          for m in net.route_mode], dtype=np.int8)
    trip_mode = mode_code[net.trip_route] if net.n_trips else np.zeros(0, np.int8)
    row_mode = np.repeat(trip_mode, np.diff(net.trip_st_start))
    rows = np.zeros(n, dtype=np.int64)                  # s -> stop_times rows at s
    served = np.zeros((len(_MODES), n), dtype=bool)     # (mode, s) -> a trip of it calls at s
    for a in range(0, len(net.st_stop), _CHUNK):
        stops, mode = net.st_stop[a:a + _CHUNK], row_mode[a:a + _CHUNK]
        rows += np.bincount(stops, minlength=n)
        for code in np.unique(mode).tolist():
            served[code, stops[mode == code]] = True
    ok = place_of >= 0
    weight = np.bincount(place_of[ok], weights=rows[ok], minlength=n).astype(np.int64)
    modes = np.zeros(n, dtype=np.uint8)                 # place -> bit i: _MODES[i] calls
    for code in range(len(_MODES)):
        modes[np.unique(place_of[served[code] & ok])] |= np.uint8(1 << code)
    return weight, modes


def _index_arrays(net: Network) -> dict[str, np.ndarray]:
    """Every structure of a StopIndex of `net`, as numpy arrays (see StopIndex)."""
    n = net.n_stops
    lt, parent = net.stop_location_type, net.stop_parent
    place_of = np.full(n, -1, dtype=np.int64)
    stand_alone = (lt == 1) | ((lt == 0) & (parent < 0))
    place_of[stand_alone] = np.flatnonzero(stand_alone)
    child = (lt == 0) & (parent >= 0)
    place_of[child] = np.where(lt[parent[child]] == 1, parent[child], np.flatnonzero(child))

    keys: list[str] = []
    key_place: list[int] = []
    key_label: list[int] = []
    kinds: list[int] = []
    label_no: dict[str, int] = {}
    seen: set[tuple[int, str]] = set()
    pinyin_cache: dict[str, tuple[str, str]] = {}

    def add(place: int, label: str, key: str, kind: int = _NAME) -> None:
        if key and (place, key) not in seen:
            seen.add((place, key))
            keys.append(key)
            key_place.append(place)
            key_label.append(label_no.setdefault(label, len(label_no)))
            kinds.append(kind)

    for s in np.flatnonzero(place_of >= 0).tolist():
        p = int(place_of[s])
        names = [str(net.stop_name[s]), *(net.stop_names_i18n.get(s) or {}).values()]
        if s == p:   # the place's own GTFS id: "TAO", stop codes
            gtfs_id = str(net.stop_id[s]).split(":", 1)[1]
            add(p, gtfs_id, normalize(gtfs_id), _ID)
        for name in names:
            add(p, name, normalize(name))
            if _CJK.search(name):
                if name not in pinyin_cache:
                    syll = lazy_pinyin(name, errors="ignore")
                    initials = lazy_pinyin(name, style=Style.FIRST_LETTER, errors="ignore")
                    pinyin_cache[name] = (normalize("".join(syll)), normalize("".join(initials)))
                full, short = pinyin_cache[name]
                add(p, name, full)
                add(p, name, short, _INITIALS)

    weight, modes = _served(net, place_of)
    encoded = [k.encode() for k in keys]
    key_len = np.array([len(k) for k in encoded], dtype=np.int64)
    key_start = np.zeros(len(keys), dtype=np.int64)
    if keys:
        key_start[1:] = np.cumsum(key_len[:-1] + 1)
    key_start += 1
    kind = np.array(kinds, dtype=np.int8)
    # fuzzy matching runs over the distinct name keys (many places share a name)
    by_key: dict[str, list[int]] = {}
    for k in np.flatnonzero(kind == _NAME).tolist():
        by_key.setdefault(keys[k], []).append(k)
    labels = [lab.encode() for lab in label_no]
    children = np.flatnonzero((place_of >= 0) & (place_of != np.arange(n)))
    children = children[np.argsort(place_of[children], kind="stable")]
    searchable = np.flatnonzero(place_of >= 0)
    has_pos = ~np.isnan(net.stop_lat[searchable]) & ~np.isnan(net.stop_lon[searchable])
    return {
        "place_of": place_of, "weight": weight, "modes": modes,
        "key_blob": _blob(encoded), "key_start": key_start, "key_len": key_len,
        "key_place": np.array(key_place, dtype=np.int64), "key_kind": kind,
        "key_label": np.array(key_label, dtype=np.int64),
        "label_blob": np.frombuffer(b"".join(labels), dtype=np.uint8),
        "label_start": _offsets([len(lab) for lab in labels]),
        "child_start": np.searchsorted(place_of[children], np.arange(n + 1)).astype(np.int64),
        "children": children.astype(np.int64),
        "pos_stops": searchable[has_pos],
        "fuzzy_blob": np.frombuffer("\x00".join(by_key).encode(), dtype=np.uint8),
        "fuzzy_start": _offsets([len(rows) for rows in by_key.values()]),
        "fuzzy_rows": np.array([k for rows in by_key.values() for k in rows], dtype=np.int64),
    }


def _blob(encoded: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"\x00" + b"\x00".join(encoded) + b"\x00", dtype=np.uint8)


def _offsets(sizes: list[int]) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    out[1:] = np.cumsum(sizes, dtype=np.int64)
    return out


class StopIndex:
    """Every structure of the index is a numpy array (`_index_arrays`): built once per network
    generation and mapped read-only by every worker when a `routing.prebuilt.Shared` is given,
    so a worker holds no per-key Python strings. Keys are searched as UTF-8 bytes in one blob
    (a byte match of UTF-8 text starts and ends on character boundaries, so it is the same
    match as on the text)."""

    def __init__(self, net: Network, arrays: Mapping[str, np.ndarray]):
        self.net = net
        self.place_of = arrays["place_of"]        # s -> place s' (itself, its station) or -1
        self.weight = arrays["weight"]            # place -> stop_times rows at it
        self._modes = arrays["modes"]             # place -> bit i: a trip of _MODES[i] calls
        self._blob = memoryview(arrays["key_blob"])   # b"\0" key b"\0" key ... b"\0" (UTF-8)
        self._starts = arrays["key_start"]        # key -> its first byte in the blob
        self._lens = arrays["key_len"]            # key -> its length in bytes
        self.key_place = arrays["key_place"]      # key -> place
        self._kind = arrays["key_kind"]           # key -> _NAME, _ID, _INITIALS
        self._key_label = arrays["key_label"]     # key -> the name it came from (label number)
        self._labels = memoryview(arrays["label_blob"])
        self._label_start = arrays["label_start"]
        self._child_start = arrays["child_start"]    # place -> its child stops (CSR)
        self._children = arrays["children"]
        self._pos_stops = arrays["pos_stops"]     # searchable stops with a position
        self._fuzzy_blob = memoryview(arrays["fuzzy_blob"])  # distinct name keys, NUL-separated
        self._fuzzy_start = arrays["fuzzy_start"]    # distinct name key -> its keys (CSR)
        self._fuzzy_rows = arrays["fuzzy_rows"]

    # ------------------------------------------------------------------------- build
    @classmethod
    def build(cls, net: Network, shared: Shared | None = None) -> StopIndex:
        """The index of `net`; with `shared`, its arrays are built once and kept there."""
        if shared is None:
            return cls(net, _index_arrays(net))
        return cls(net, shared.arrays("stop-index", lambda: _index_arrays(net)))

    # ------------------------------------------------------------------------- keys
    def key(self, k: int) -> str:
        a = int(self._starts[k])
        return bytes(self._blob[a:a + int(self._lens[k])]).decode()

    def label(self, k: int) -> str:
        i = int(self._key_label[k])
        return bytes(self._labels[int(self._label_start[i]):int(self._label_start[i + 1])]).decode()

    # ------------------------------------------------------------------------- queries
    def modes(self, place: int) -> tuple[str, ...]:
        bits = int(self._modes[place])
        return tuple(m for i, m in enumerate(_MODES) if bits >> i & 1)

    def platforms(self, place: int) -> tuple[int, ...]:
        return tuple(self._children[self._child_start[place]:self._child_start[place + 1]].tolist())

    def _hit(self, place: int, score: float, matched: str, dist: float | None) -> StopHit:
        return StopHit(place, self.platforms(place), score, matched, dist)

    def search(self, q: str, limit: int = 10) -> list[StopHit]:
        """Places whose names match `q` best first."""
        queries = [normalize(q)]
        if _TONE_DIGITS.match(queries[0]) and any(c.isdigit() for c in queries[0]):
            queries.append(re.sub(r"[1-5]", "", queries[0]))     # "ji3nan2xi1" -> "jinanxi"
        best: dict[int, tuple[float, int]] = {}     # place -> (score, key that gave it)
        for qn in filter(None, queries):
            self._exact_and_substring(qn, best)
        words = [w for w in (normalize(t) for t in q.split()) if w]
        if len(words) >= 2:   # "qingdao airport" -> Qingdao Jiaodong Airport
            self._all_words(words, best)
        # typos only when nothing matched as written: a real match never drowns in look-alikes
        if len(queries[0]) >= 3 and not best:
            self._fuzzy(queries[-1], limit, best)
        order = sorted(best.items(), key=lambda kv: (-kv[1][0], -self.weight[kv[0]],
                                                     str(self.net.stop_name[kv[0]])))
        return [self._hit(p, score, self.label(k), None) for p, (score, k) in order[:limit]]

    def _keep(self, best: dict, place: int, score: float, k: int) -> None:
        if place not in best or best[place][0] < score:
            best[place] = (score, k)

    def _exact_and_substring(self, qn: str, best: dict) -> None:
        needle = qn.encode()
        find = re.compile(re.escape(needle)).search
        blob, starts, lens, kinds = self._blob, self._starts, self._lens, self._kind
        size, pos, found = len(needle), 0, 0
        while found < MAX_SCAN:
            m = find(blob, pos)
            if m is None:
                break
            pos = m.start()
            k = int(starts.searchsorted(pos, side="right")) - 1
            start = int(starts[k])
            if pos + size <= start + int(lens[k]):            # not across a separator
                at_start = pos == start
                exact = at_start and size == int(lens[k])
                kind = kinds[k]
                if (kind == _ID and not exact) or (kind == _INITIALS and not at_start):
                    pos += 1
                    continue
                score = 100.0 if exact else 90.0 if at_start else 70.0
                self._keep(best, int(self.key_place[k]), score, k)
                found += 1
            pos += 1

    def _all_words(self, words: list[str], best: dict) -> None:
        """Names holding every word of the query, in any order: 80 if the name starts with the
        first word, else 75 (between a prefix and a substring of the whole query)."""
        find = re.compile(re.escape(max(words, key=len).encode())).search
        pos, seen = 0, set()
        while len(seen) < MAX_SCAN:
            m = find(self._blob, pos)
            if m is None:
                break
            k = int(self._starts.searchsorted(m.start(), side="right")) - 1
            pos = m.start() + 1
            if k in seen or self._kind[k] != _NAME:
                continue
            seen.add(k)
            key = self.key(k)
            if all(w in key for w in words):
                score = 80.0 if key.startswith(words[0]) else 75.0
                self._keep(best, int(self.key_place[k]), score, k)

    def _fuzzy(self, qn: str, limit: int, best: dict) -> None:
        # the distinct name keys as strings only for this query: no worker keeps them
        choices = bytes(self._fuzzy_blob).decode().split("\x00") if len(self._fuzzy_start) > 1 \
            else []
        found: list[tuple[int, float, int]] = []
        for key, score, u in process.extract(qn, choices, scorer=fuzz.partial_ratio,
                                             limit=limit * 4, score_cutoff=FUZZY_CUTOFF):
            # weigh by how much of the key the query covers, so short keys do not win
            cover = min(len(qn), len(key)) / max(len(qn), len(key))
            for k in self._fuzzy_rows[self._fuzzy_start[u]:self._fuzzy_start[u + 1]].tolist():
                found.append((int(self.key_place[k]), 0.6 * score * (0.5 + 0.5 * cover), k))
        if not found:
            return
        floor = 0.85 * max(score for _, score, _ in found)  # near the best guess, not all guesses
        for place, score, k in found:
            if score >= floor:
                self._keep(best, place, score, k)

    def near(self, lat: float, lon: float, radius_m: float, limit: int = 10) -> list[StopHit]:
        """Places with a stop within `radius_m` of (lat, lon), nearest first."""
        cand = self._pos_stops
        if not len(cand):
            return []
        p1, p2 = np.radians(lat), np.radians(self.net.stop_lat[cand])
        dl = np.radians(self.net.stop_lon[cand] - lon)
        a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
        d = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
        inside = d <= radius_m
        stops, dist = cand[inside], d[inside]
        order = np.argsort(dist, kind="stable")
        places = self.place_of[stops[order]]
        _, first = np.unique(places, return_index=True)
        first.sort()
        return [self._hit(int(places[i]), 0.0, "", float(dist[order][i]))
                for i in first[:limit]]
