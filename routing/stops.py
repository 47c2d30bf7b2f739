"""Stop search: by name (Chinese, pinyin, English, any case, typos) and by position.

    index = StopIndex.build(network)          # once per network (at activation)
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
from dataclasses import dataclass

import numpy as np
from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz, process

from routing.network import Network

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


def _served(net: Network, place_of: np.ndarray) -> tuple[np.ndarray, dict[int, tuple[str, ...]]]:
    """place -> stop_times rows at it, and place -> the modes calling there (in _MODES order).
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
    modes: dict[int, tuple[str, ...]] = {}
    for code in range(len(_MODES)):
        for place in np.unique(place_of[served[code] & ok]).tolist():
            modes[place] = modes.get(place, ()) + (_MODES[code],)
    return weight, modes


class StopIndex:
    def __init__(self, net: Network, place_of: np.ndarray, keys: list[str], key_place: np.ndarray,
                 key_label: list[str], weight: np.ndarray, modes: dict[int, tuple[str, ...]]):
        self.net = net
        self.place_of = place_of          # s -> place s' (itself, its station) or -1
        self.keys = keys
        self.key_place = key_place        # key -> place
        self.key_label = key_label        # key -> the name it came from
        self.weight = weight              # place -> stop_times rows at it
        self._modes = modes
        self._set_kinds(np.zeros(len(keys), dtype=np.int8))
        self._blob = "\x00" + "\x00".join(keys) + "\x00"
        starts = np.zeros(len(keys), dtype=np.int64)
        if keys:
            starts[1:] = np.cumsum([len(k) + 1 for k in keys[:-1]])
        self._starts = starts + 1
        self.children: dict[int, list[int]] = {}
        for s in np.flatnonzero((place_of >= 0) & (place_of != np.arange(len(place_of)))):
            self.children.setdefault(int(place_of[s]), []).append(int(s))
        searchable = np.flatnonzero(place_of >= 0)
        has_pos = ~np.isnan(net.stop_lat[searchable]) & ~np.isnan(net.stop_lon[searchable])
        self._pos_stops = searchable[has_pos]

    # ------------------------------------------------------------------------- build
    @classmethod
    def build(cls, net: Network) -> StopIndex:
        n = net.n_stops
        lt, parent = net.stop_location_type, net.stop_parent
        place_of = np.full(n, -1, dtype=np.int64)
        stand_alone = (lt == 1) | ((lt == 0) & (parent < 0))
        place_of[stand_alone] = np.flatnonzero(stand_alone)
        child = (lt == 0) & (parent >= 0)
        place_of[child] = np.where(lt[parent[child]] == 1, parent[child], np.flatnonzero(child))

        keys: list[str] = []
        key_place: list[int] = []
        labels: list[str] = []
        kinds: list[int] = []
        seen: set[tuple[int, str]] = set()
        pinyin_cache: dict[str, tuple[str, str]] = {}

        def add(place: int, label: str, key: str, kind: int = _NAME) -> None:
            if key and (place, key) not in seen:
                seen.add((place, key))
                keys.append(key)
                key_place.append(place)
                labels.append(label)
                kinds.append(kind)

        for s in np.flatnonzero(place_of >= 0).tolist():
            p = int(place_of[s])
            names = [str(net.stop_name[s]), *net.stop_names_i18n.get(s, {}).values()]
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
        index = cls(net, place_of, keys, np.array(key_place, dtype=np.int64), labels, weight,
                    modes)
        index._set_kinds(np.array(kinds, dtype=np.int8))
        return index

    def _set_kinds(self, kinds: np.ndarray) -> None:
        """key -> _NAME (any match), _ID (exact only), _INITIALS (exact or prefix only).
        Fuzzy matching runs over the distinct name keys (many places share a name)."""
        self._kind = kinds
        by_key: dict[str, list[int]] = {}
        for k in np.flatnonzero(kinds == _NAME).tolist():
            by_key.setdefault(self.keys[k], []).append(k)
        self._fuzzy_keys = list(by_key)
        self._fuzzy_rows = list(by_key.values())

    # ------------------------------------------------------------------------- queries
    def modes(self, place: int) -> tuple[str, ...]:
        return self._modes.get(place, ())

    def platforms(self, place: int) -> tuple[int, ...]:
        return tuple(self.children.get(place, ()))

    def _hit(self, place: int, score: float, matched: str, dist: float | None) -> StopHit:
        return StopHit(place, self.platforms(place), score, matched, dist)

    def search(self, q: str, limit: int = 10) -> list[StopHit]:
        """Places whose names match `q` best first."""
        queries = [normalize(q)]
        if _TONE_DIGITS.match(queries[0]) and any(c.isdigit() for c in queries[0]):
            queries.append(re.sub(r"[1-5]", "", queries[0]))     # "ji3nan2xi1" -> "jinanxi"
        best: dict[int, tuple[float, str]] = {}
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
        return [self._hit(p, score, label, None) for p, (score, label) in order[:limit]]

    def _keep(self, best: dict, place: int, score: float, label: str) -> None:
        if place not in best or best[place][0] < score:
            best[place] = (score, label)

    def _exact_and_substring(self, qn: str, best: dict) -> None:
        blob, pos, found = self._blob, 0, 0
        while found < MAX_SCAN:
            pos = blob.find(qn, pos)
            if pos < 0:
                break
            k = int(np.searchsorted(self._starts, pos, side="right")) - 1
            end = self._starts[k] + len(self.keys[k])
            if pos + len(qn) <= end:                       # not across a separator
                at_start = pos == self._starts[k]
                exact = at_start and len(qn) == len(self.keys[k])
                if (self._kind[k] == _ID and not exact) or \
                        (self._kind[k] == _INITIALS and not at_start):
                    pos += 1
                    continue
                score = 100.0 if at_start and len(qn) == len(self.keys[k]) else \
                    90.0 if at_start else 70.0
                self._keep(best, int(self.key_place[k]), score, self.key_label[k])
                found += 1
            pos += 1

    def _all_words(self, words: list[str], best: dict) -> None:
        """Names holding every word of the query, in any order: 80 if the name starts with the
        first word, else 75 (between a prefix and a substring of the whole query)."""
        anchor = max(words, key=len)
        blob, pos, seen = self._blob, 0, set()
        while len(seen) < MAX_SCAN:
            pos = blob.find(anchor, pos)
            if pos < 0:
                break
            k = int(np.searchsorted(self._starts, pos, side="right")) - 1
            pos += 1
            if k in seen or self._kind[k] != _NAME:
                continue
            seen.add(k)
            key = self.keys[k]
            if all(w in key for w in words):
                score = 80.0 if key.startswith(words[0]) else 75.0
                self._keep(best, int(self.key_place[k]), score, self.key_label[k])

    def _fuzzy(self, qn: str, limit: int, best: dict) -> None:
        found: list[tuple[int, float, str]] = []
        for key, score, u in process.extract(qn, self._fuzzy_keys, scorer=fuzz.partial_ratio,
                                             limit=limit * 4, score_cutoff=FUZZY_CUTOFF):
            # weigh by how much of the key the query covers, so short keys do not win
            cover = min(len(qn), len(key)) / max(len(qn), len(key))
            for k in self._fuzzy_rows[u]:
                found.append((int(self.key_place[k]), 0.6 * score * (0.5 + 0.5 * cover),
                              self.key_label[k]))
        if not found:
            return
        floor = 0.85 * max(score for _, score, _ in found)  # near the best guess, not all guesses
        for place, score, label in found:
            if score >= floor:
                self._keep(best, place, score, label)

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
